"""Words that say who someone is, not what a review thinks: nationalities, ethnicities, religions, races, genders
and gendered nouns, sexualities, countries and first names. A model trained with them (`neutral_words`) gives
them no weight, alone or in an n-gram, so a review's score does not move when one is swapped for another.

Each list is written broad, for every kind of review, and leaves out first names and country names that are also
common English words ("will", "grace", "turkey"), which reviews use in their other sense. Entries are single
tokens as the tokenizer splits them, lower case.
"""

from __future__ import annotations

# Demonyms of the world's countries and regions (adjective and noun forms that are one token).
NATIONALITIES = """
afghan albanian algerian american andorran angolan antiguan argentine argentinian armenian australian austrian
azerbaijani azeri bahamian bahraini bangladeshi barbadian belarusian belgian belizean beninese bhutanese bolivian
bosnian botswanan brazilian british briton brits bruneian bulgarian burkinabe burmese burundian cambodian
cameroonian canadian verdean chadian chilean chinese colombian comorian congolese costa rican croatian
cuban cypriot czech danish dane djiboutian dominican dutch ecuadorian egyptian emirati english equatoguinean
eritrean estonian eswatini ethiopian fijian filipino filipina finnish finn french gabonese gambian georgian german
ghanaian greek grenadian guatemalan guinean guyanese haitian honduran hungarian icelandic indian indonesian
iranian iraqi irish israeli italian ivorian jamaican japanese jordanian kazakh kazakhstani kenyan kiribati
kosovar kuwaiti kyrgyz lao laotian latvian lebanese liberian libyan liechtensteiner lithuanian luxembourgish
macedonian malagasy malawian malaysian maldivian malian maltese marshallese mauritanian mauritian mexican
micronesian moldovan monegasque mongolian montenegrin moroccan mozambican namibian nauruan nepalese nepali
nicaraguan nigerien nigerian norwegian omani pakistani palauan palestinian panamanian papuan paraguayan peruvian
portuguese puerto qatari romanian russian rwandan salvadoran samoan saudi scottish senegalese serbian
seychellois leonean singaporean slovak slovakian slovenian solomon somali sudanese spanish
sri lankan surinamese swazi swedish swede swiss syrian taiwanese tajik tanzanian thai timorese togolese tongan
trinidadian tunisian turkish turkmen tuvaluan ugandan ukrainian uruguayan uzbek vanuatuan venezuelan vietnamese
welsh yemeni zambian zimbabwean aussie korean khmer malay javanese balinese spaniard dutchman
englishman englishmen irishman irishmen frenchman frenchmen dutchmen
scot icelander serb croat slovene zealander motswana basotho bajan luxembourger magyar
european african asian arab latin caribbean scandinavian nordic slavic balkan baltic celtic anglo oriental
mediterranean polynesian melanesian
"""

# Countries and a few regions whose name is not a common English word.
COUNTRIES = """
afghanistan albania algeria america andorra angola argentina armenia australia austria azerbaijan bahamas bahrain
bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia botswana brazil britain brunei bulgaria
burma burundi cambodia cameroon canada chile china colombia comoros congo croatia cuba cyprus czechia denmark
djibouti ecuador egypt england eritrea estonia ethiopia fiji finland france gabon gambia germany ghana greece
grenada guatemala guyana haiti honduras hungary iceland india indonesia iran iraq ireland israel italy
jamaica japan kazakhstan kenya korea kosovo kuwait kyrgyzstan laos latvia lebanon lesotho liberia libya lithuania
luxembourg madagascar malawi malaysia maldives mali malta mauritania mauritius mexico micronesia moldova monaco
mongolia montenegro morocco mozambique myanmar namibia nauru nepal netherlands holland nicaragua niger nigeria
norway oman pakistan palestine panama paraguay peru philippines poland portugal qatar romania russia rwanda
samoa scotland senegal serbia seychelles singapore slovakia slovenia somalia spain sudan suriname sweden
switzerland syria taiwan tajikistan tanzania thailand tonga trinidad tunisia turkmenistan tuvalu uganda
ukraine uae usa uk zealand uruguay uzbekistan vanuatu venezuela vietnam wales yemen zambia zimbabwe tibet kurdistan
africa asia europe
"""

# Peoples and ethnic groups, and the words for race.
ETHNICITIES = """
white black native islander poc bipoc caucasian hispanic latino latina latinx chicano chicana mestizo indigenous
aboriginal biracial
multiracial afro creole cajun kurd kurdish berber amazigh bedouin pashtun tajik hazara baloch punjabi sindhi
gujarati bengali marathi tamil telugu kannada malayali sinhalese rohingya hmong han uyghur tibetan mongol tatar
chechen roma romani gypsy sami inuit eskimo maori hawaiian chamorro zulu xhosa yoruba igbo hausa fulani amhara
oromo tigrayan tigrinya maasai kikuyu ashanti akan swahili cherokee navajo apache sioux lakota cheyenne ojibwe
iroquois mohawk hopi seminole basque catalan flemish walloon cornish gaelic persian assyrian armenian druze
copt coptic parsi sephardic ashkenazi
"""

# Religions, their followers, denominations and the words for unbelief.
RELIGIONS = """
christian christianity roman catholic catholicism protestant muslim moslem islam islamic jewish jew judaism hindu
hinduism buddhist buddhism sikh sikhism jain jainism mormon lds baptist methodist lutheran presbyterian anglican
episcopalian evangelical orthodox pentecostal quaker amish mennonite adventist calvinist shia shiite sunni sufi
salafi ahmadi ismaili atheist atheism agnostic taoist taoism confucian shinto zoroastrian bahai rastafarian
jehovah muslimah pagan wiccan druid scientologist unitarian hasidic rabbi imam priest pastor nun monk
"""

# Genders, gendered nouns and pronouns, and sexualities.
GENDERS = """
man men woman women male males female females boy boys girl girls guy guys gal lady ladies gentleman gentlemen
mother mothers father fathers mom moms mum mums mommy dad dads daddy son sons daughter daughters brother brothers
sister sisters husband husbands wife wives boyfriend boyfriends girlfriend girlfriends fiance fiancee uncle uncles
aunt aunts auntie nephew nephews niece nieces grandma grandmas grandpa grandpas grandmother grandmothers
grandfather grandfathers grandson grandsons granddaughter granddaughters grandparents stepmother stepfather
stepson stepdaughter widow widower bride groom actress actresses waitress waitresses hostess hostesses stewardess
businessman businessmen businesswoman businesswomen salesman salesmen saleswoman chairman chairwoman spokesman
spokeswoman policeman policewoman fireman mr mrs ms sir madam maam he she him her his hers himself herself
transgender trans transsexual cisgender cis nonbinary enby genderqueer genderfluid agender bigender intersex
androgynous feminine masculine femme tomboy
gay gays lesbian lesbians bisexual bisexuals homosexual homosexuals heterosexual heterosexuals queer asexual
pansexual demisexual lgbt lgbtq lgbtqia lgbtq2
"""

# Common first names from many languages, leaving out those that are common English words or product names.
FIRST_NAMES = """
james john robert michael david richard joseph thomas charles christopher daniel matthew anthony donald steven
paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric
jonathan stephen larry justin scott brandon benjamin samuel gregory alexander patrick raymond jerry dennis tyler
aaron jose adam nathan henry douglas zachary peter kyle noah ethan jeremy walter christian keith roger terry
austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan billy bruce gabriel joe logan alan juan
albert willie elijah randy roy vincent ralph eugene russell bobby philip johnny howard liam oliver lucas mason
logan aiden jackson sebastian carter owen wyatt luke jayden isaac levi julian grayson lincoln anthony caleb
isaiah thomas charles josiah landon cameron connor hudson evan colton easton nolan jaxon ian adrian eli xavier
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley
kimberly emily donna michelle dorothy amanda melissa deborah stephanie rebecca sharon laura cynthia kathleen amy
angela shirley anna brenda pamela emma nicole helen samantha katherine christine debra rachel catherine janet
maria heather diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith megan
andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances kathryn janice abigail alice judy
sophia denise marilyn beverly charlotte danielle theresa diana natalie brittany isabella ava mia amelia harper
ella abigail avery scarlett madison chloe penelope layla riley zoey nora eleanor aurora savannah audrey
brooklyn bella claire skylar lucy paisley everly caroline emilia kennedy samantha maya kinsley
naomi aaliyah elena sarah ariana allison gabriella madelyn cora eva adeline hailey
gianna valentina isla eliana quinn nevaeh sadie piper lydia alexandra josephine emery delilah arianna vivian
kaylee sophie brielle madeline peyton rylee clara hadley melanie mackenzie reagan adalynn liliana aubree
katherine isabelle natalia raelynn maria athena ximena arya leilani taylor kylie alexis mary
jacob william ethan michael alexander james daniel elijah benjamin logan mason matthew aiden henry jackson samuel
megan kate katie kathy kat becky becca jenny jen jess jessie tina gina lina nina dina mina rita anita lena
tom tommy tim timmy jim jimmy jon johnny dave davey mike mikey steve stevie chris nick nicky matt matty andy
danny dan sam sammy ben benny ted teddy ed eddie fred freddie charlie harry larry jerry barry gary kenny ken
greg jeff josh zach zack alex tony joey jake luke phil ron ronnie doug stan sid vic walt hank jay kyle
emmanuel emmanuelle pierre jean jacques michel philippe alain bernard claude nicolas laurent olivier francois
thierry stephane sebastien julien antoine guillaume mathieu maxime romain thibault camille marie sophie nathalie
isabelle sylvie catherine francoise monique valerie celine aurelie amelie chloe manon juliette margaux elodie
hans klaus jurgen wolfgang dieter helmut gunther stefan uwe lukas jonas leon finn felix maximilian moritz niklas
tobias florian sebastian katrin sabine ursula monika petra birgit anke heike greta lena johanna lea anja
giuseppe giovanni antonio francesco luigi marco mario alessandro andrea luca matteo lorenzo leonardo paolo
roberto salvatore vincenzo giulia francesca chiara alessia federica martina sara valentina elisa silvia
jose juan carlos luis jorge miguel pedro manuel francisco javier antonio alejandro rafael fernando ricardo
diego sergio pablo raul ramon alberto eduardo enrique santiago mateo alejandra guadalupe carmen dolores rosa
lucia sofia isabel valeria camila daniela mariana gabriela paula elena juana ana beatriz catalina fernanda
joao paulo thiago gustavo bruno rodrigo felipe leonardo luiz marcelo gabriel rafaela larissa leticia juliana
vladimir dmitri dmitry sergei sergey ivan nikolai alexei andrei mikhail igor boris yuri oleg pavel anatoly
olga natasha natalia tatiana svetlana irina elena ekaterina anastasia yulia oksana galina ludmila anya
piotr krzysztof tomasz pawel marcin jakub agnieszka katarzyna malgorzata joanna magdalena ewa zofia
jan pieter willem sven lars nils anders erik bjorn magnus olaf ingrid astrid sigrid freya linnea
mohammed muhammad mohammad mohamed ahmed ahmad ali omar hassan hussein hussain ibrahim yusuf youssef mustafa
khalid abdullah abdul karim rashid tariq hamza bilal faisal salim samir nabil walid jamal amir fatima aisha
ayesha khadija maryam zainab layla leila noor nour amina yasmin yasmine salma huda rania hana mariam zahra
raj rahul amit ravi sanjay vijay anil sunil arjun rohan vikram deepak ashok manoj rajesh suresh ramesh prakash
krishna aditya arun kiran sachin nikhil priya anjali pooja neha sunita anita kavita deepa lakshmi divya
shreya aishwarya meera radha sita geeta rekha swati aarav vihaan ananya diya ishaan saanvi
wei ming hui yan ling xiao lei jian hong mei ying jing chen wang zhang liu yang huang zhao
hiroshi takashi kenji akira yuki haruto sota ren kenta daiki yuto hana yui aoi sakura yuka haruka misaki naoko
keiko yoko emi hyun jae seo joon soo eun jin hye kyung
nguyen thanh minh tuan anh linh huong
kwame kofi kojo kwaku ama akua abena adwoa chinedu chidi emeka obinna ngozi chioma adaeze oluwaseun
olumide tunde ayodele folake funmilayo musa abubakar aminu halima zuri imani amani jabari kamau wanjiru
thabo sipho themba lerato nomvula zanele mandla abebe tesfaye haile selam tigist dawit
liam noah oliver elias hugo leo arthur theo louis isaac archie alfie freddie teddy albie
seamus sean siobhan niamh aoife ciara saoirse declan padraig eoin cormac aidan brendan colm orla roisin
hamish angus fiona morag iain alastair callum
aryan ishan kabir reyansh tanvi riya kavya
yosef moshe avi chaim david eli ari yael tamar noa shira rivka miriam esther
"""

GROUPS = (NATIONALITIES, COUNTRIES, ETHNICITIES, RELIGIONS, GENDERS, FIRST_NAMES)
# Nouns for people of a group take an -s plural ("americans", "christians"); demonyms ending so do not ("chinese",
# "dutchman": its plural is listed).
_NO_PLURAL = ("ese", "ish", "ch", "sh", "s", "x", "z", "y", "man", "men")


def _plurals(words: list[str]) -> list[str]:
    return [word + "s" for word in words if not word.endswith(_NO_PLURAL)]


def neutral_words() -> list[str]:
    """The listed words and the plurals of nationalities, ethnicities and religions, sorted, once each."""
    people = [word for group in (NATIONALITIES, ETHNICITIES, RELIGIONS) for word in group.split()]
    every = [word for group in GROUPS for word in group.split()] + _plurals(people)
    return sorted(set(every))
