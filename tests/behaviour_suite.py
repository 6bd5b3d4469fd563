"""A generated behavioural suite in CheckList's three test types (Ribeiro et al., ACL 2020), from templates and word
lists we wrote, over six kinds of review (products, restaurants, hotels, apps, airlines, films).

- minimum functionality (`mft`): a review and the label a reader gives it;
- invariance (`inv`): a review and a variant that swaps one span (a name, an identity, a location, a number, a
  typo, punctuation, a contraction); the label must not change and the positive score not by more than
  `INVARIANCE_TOLERANCE`;
- directional (`dir`): a review and a variant (an intensifier, a phrase, a "used to … now" frame) whose positive
  score must move in `direction` (+1 up, -1 down), never the other way.

`generate` is deterministic: the same seed gives the same cases in the same order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

POSITIVE, NEGATIVE = "positive", "negative"
INVARIANCE_TOLERANCE = 0.1

CAPABILITIES = ("vocabulary", "negation", "contrast", "temporal", "questions", "identity", "names", "robustness")


@dataclass(frozen=True)
class Case:
    """One test: `text`, and for `inv`/`dir` its `variant`.

    Args:
        capability (`str`): one of `CAPABILITIES`.
        test (`str`): `mft`, `inv` or `dir`.
        tag (`str`): the template family or the kind of swap (`nationality`, `typo`, `not … at all`, …).
        domain (`str`): the kind of review.
        text (`str`): the review.
        expected (`str`, *optional*): the label an `mft` case must get.
        variant (`str`, *optional*): the changed review of an `inv` or `dir` case.
        direction (`int`, *optional*): +1 or -1, how a `dir` variant must move the positive score.
        span (`tuple[int, int]`, *optional*): the characters of `text` an `inv` variant replaces by `replacement`.
        replacement (`str`, *optional*): what an `inv` variant has in place of `span`.
    """

    capability: str
    test: str
    tag: str
    domain: str
    text: str
    expected: str | None = None
    variant: str | None = None
    direction: int = 0
    span: tuple[int, int] | None = None
    replacement: str = ""


def failed(case: Case, score: float, variant_score: float | None = None) -> bool:
    """Whether a model fails `case`, given its positive-class probability for the text and for the variant.

    Args:
        case (`Case`): the test.
        score (`float`): P(positive) of `case.text`.
        variant_score (`float`, *optional*): P(positive) of `case.variant` (for `inv` and `dir`).
    """
    if case.test == "mft":
        return (POSITIVE if score >= 0.5 else NEGATIVE) != case.expected
    if case.test == "inv":
        return (score >= 0.5) != (variant_score >= 0.5) or abs(variant_score - score) > INVARIANCE_TOLERANCE
    return case.direction * (variant_score - score) < 0


# fmt: off
# ---- word lists ---------------------------------------------------------------------------------------------

# Per kind of review: things reviewed (singular, so "is" agrees), people met, and what one does again.
DOMAINS = {
    "products": {
        "nouns": ["phone", "blender", "vacuum cleaner", "laptop", "jacket", "kettle", "mattress", "charger", "camera"],
        "roles": ["seller", "delivery driver", "technician", "designer"],
        "again": "buy it again",
    },
    "restaurants": {
        "nouns": ["food", "pasta", "burger", "dessert", "service", "restaurant", "soup", "steak", "curry", "coffee"],
        "roles": ["waiter", "chef", "owner", "server"],
        "again": "eat here again",
    },
    "hotels": {
        "nouns": ["hotel", "room", "bed", "breakfast", "pool", "location", "bathroom", "view", "lobby"],
        "roles": ["receptionist", "manager", "concierge", "housekeeper"],
        "again": "stay here again",
    },
    "apps": {
        "nouns": ["app", "update", "interface", "game", "website", "login screen", "dashboard", "keyboard app"],
        "roles": ["developer", "support agent", "designer", "moderator"],
        "again": "use it again",
    },
    "airlines": {
        "nouns": ["flight", "airline", "crew", "seat", "check-in", "lounge", "customer service", "meal"],
        "roles": ["pilot", "flight attendant", "gate agent", "steward"],
        "again": "fly with them again",
    },
    "films": {
        "nouns": ["movie", "film", "plot", "ending", "soundtrack", "script", "sequel", "documentary", "show"],
        "roles": ["director", "actor", "lead", "writer"],
        "again": "watch it again",
    },
}

ADJECTIVES = {
    POSITIVE: [
        "good", "great", "excellent", "amazing", "wonderful", "fantastic", "lovely", "superb", "brilliant",
        "outstanding", "pleasant", "nice", "enjoyable", "perfect", "impressive", "delightful", "terrific", "fabulous",
        "incredible", "exceptional", "solid", "adorable", "happy", "beautiful", "sweet",
    ],
    NEGATIVE: [
        "bad", "terrible", "awful", "horrible", "poor", "disappointing", "mediocre", "dreadful", "lousy",
        "unpleasant", "boring", "frustrating", "annoying", "useless", "pathetic", "atrocious", "nasty", "ugly", "sad",
        "miserable", "weak", "hideous", "rotten", "dull", "lame",
    ],
}
VERBS = {
    POSITIVE: ["love", "like", "enjoy", "adore", "appreciate", "recommend", "welcome", "admire", "value", "treasure"],
    NEGATIVE: ["hate", "dislike", "despise", "abhor", "detest", "loathe", "regret", "resent", "deplore", "dread"],
}
INTENSIFIERS = ["very", "really", "extremely", "incredibly", "so", "truly", "absolutely", "remarkably", "quite"]
VERB_INTENSIFIERS = ["really", "truly", "absolutely", "totally", "highly", "genuinely", "deeply"]
PHRASES = {
    POSITIVE: [
        "Highly recommended.", "I would come back.", "Five stars.", "Worth every penny.", "I loved it.",
        "You will not be disappointed.", "Can't wait to go back.", "Thank you!", "Best decision ever.",
    ],
    NEGATIVE: [
        "Never again.", "Avoid.", "I want my money back.", "Zero stars.", "What a waste.", "I regret it.",
        "Stay away.", "Total disappointment.", "Worst experience ever.",
    ],
}
OPPOSITE = {POSITIVE: NEGATIVE, NEGATIVE: POSITIVE}

NAMES = [
    "Rachel", "Katie", "John", "Michael", "Mohammed", "Aisha", "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Sofia",
    "Priya", "Rahul", "Olga", "Ivan", "Kwame", "Amara", "Jamal", "Lakisha", "DeShawn", "Emily", "Greg", "Fatima",
    "Omar", "Jose", "Maria", "Thanh", "Ahmed", "Ngozi", "Sven", "Ingrid", "Giulia", "Luca", "Dmitri", "Hana",
    "Tyrone", "Connor", "Mateo", "Leila", "Esther", "Abdul", "Kenji", "Ananya", "Chloe", "Darnell", "Svetlana",
]
IDENTITIES = {
    "nationality": [
        "American", "British", "Chinese", "Indian", "Mexican", "Ethiopian", "Nigerian", "Japanese", "Korean",
        "Vietnamese", "Italian", "French", "German", "Russian", "Iranian", "Iraqi", "Pakistani", "Afghan", "Syrian",
        "Israeli", "Palestinian", "Turkish", "Brazilian", "Cuban", "Haitian", "Somali", "Kenyan", "Irish", "Polish",
        "Greek", "Lebanese", "Thai", "Filipino", "Egyptian", "Moroccan", "Ukrainian", "Jamaican", "Bangladeshi",
    ],
    "religion": [
        "Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic", "Roman Catholic", "Protestant",
        "Mormon", "atheist", "Orthodox", "evangelical", "Baptist", "Jain", "agnostic", "Methodist", "Shia", "Sunni",
    ],
    "race": [
        "Black", "white", "Asian", "Hispanic", "Latino", "Latina", "Arab", "Native American", "Indigenous",
        "African American", "Middle Eastern", "South Asian", "East Asian", "biracial", "Pacific Islander",
    ],
    "gender": ["male", "female", "transgender", "non-binary", "trans", "cisgender", "genderqueer"],
    "sexuality": [
        "gay", "lesbian", "straight", "bisexual", "queer", "asexual", "heterosexual", "homosexual", "pansexual",
    ],
}
# Gendered words that swap in pairs (either may come first).
GENDERED = [
    ("husband", "wife"), ("boyfriend", "girlfriend"), ("brother", "sister"), ("son", "daughter"),
    ("father", "mother"), ("uncle", "aunt"), ("grandpa", "grandma"), ("dad", "mom"),
]
ROLES = [
    "artist", "chef", "pilot", "doctor", "teacher", "writer", "singer", "actress", "actor", "engineer", "nurse",
    "rapper", "photographer", "student", "lawyer", "comedian",
]
PEOPLE = ["man", "woman", "guy", "lady", "person", "gentleman", "girl", "boy"]
CITIES = [
    "Lisbon", "Paris", "Lagos", "Karachi", "Dhaka", "Tehran", "Detroit", "Mumbai", "Beijing", "Mexico City", "Cairo",
    "Kabul", "Baghdad", "Jerusalem", "Nairobi", "Chicago", "London", "Moscow", "Tokyo", "Seoul", "Rio", "Berlin",
    "Havana", "Manila", "Istanbul", "Kyiv", "Atlanta", "Johannesburg", "Dubai", "Toronto", "Sydney", "Kingston",
]
# (full, contracted), swapped either way.
CONTRACTIONS = [
    ("is not", "isn't"), ("was not", "wasn't"), ("do not", "don't"), ("did not", "didn't"), ("it is", "it's"),
    ("I am", "I'm"), ("we are", "we're"), ("will not", "won't"), ("cannot", "can't"), ("I have", "I've"),
    ("they are", "they're"), ("would not", "wouldn't"),
]
# fmt: on


# ---- helpers ------------------------------------------------------------------------------------------------


def article(word: str) -> str:
    """`a` or `an` before `word` (by its sound, for the words of these lists)."""
    if word.lower().startswith(("ukr", "uni", "uru", "eur", "one", "use", "usu")):
        return "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def with_article(word: str) -> str:
    return f"{article(word)} {word}"


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


_SLOT = "\x00"


def _swap(template: str, old: str, new: str, **fill: str) -> tuple[str, str, tuple[int, int]]:
    """`template` filled with `old` and with `new` in its `{x}` slot, and where `old` sits in the first text."""
    framed = template.format(x=_SLOT, **fill)
    start = framed.index(_SLOT)
    return framed.replace(_SLOT, old), framed.replace(_SLOT, new), (start, start + len(old))


# Writes one review of a minimum-functionality family: (label, domain name, domain) → text.
Family = Callable[[str, str, dict], str]


class _Builder:
    """Draws word-list items with a generator seeded per family, so a seed fixes every case."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng: random.Random | None = None  # set by `start`, once per family

    def start(self, capability: str, tag: str) -> None:
        """Seed the draws of one family from its name: adding or changing a family leaves the others as they are."""
        self.rng = random.Random(f"{self.seed}/{capability}/{tag}")

    def pick(self, items):
        return self.rng.choice(items)

    def domain(self) -> tuple[str, dict]:
        name = self.pick(sorted(DOMAINS))
        return name, DOMAINS[name]

    def noun(self, domain: dict) -> str:
        return self.pick(domain["nouns"])

    def polarity(self, index: int) -> str:
        return POSITIVE if index % 2 == 0 else NEGATIVE  # alternating keeps every family balanced

    def adjective(self, polarity: str) -> str:
        return self.pick(ADJECTIVES[polarity])

    def opposite(self, polarity: str) -> str:
        """An adjective of the other polarity: the one a negation, a contrast or a change of mind overrides."""
        return self.adjective(OPPOSITE[polarity])

    def verb(self, polarity: str) -> str:
        return self.pick(VERBS[polarity])

    def mft(self, capability: str, tag: str, count: int, make: Family) -> Iterator[Case]:
        """`count` cases of one family; `make(polarity, domain name, domain)` writes a review whose label is
        `polarity`; repeats are drawn again (a family too small to give `count` distinct texts gives fewer)."""
        self.start(capability, tag)
        seen: set[str] = set()
        for _ in range(count * 3):
            if len(seen) == count:
                return
            polarity, (name, domain) = self.polarity(len(seen)), self.domain()
            text = make(polarity, name, domain)
            if text not in seen:
                seen.add(text)
                yield Case(capability, "mft", tag, name, text, expected=polarity)


# ---- minimum functionality ----------------------------------------------------------------------------------


def _vocabulary(b: _Builder) -> dict[str, Family]:
    be = lambda: b.pick(["is", "was"])  # noqa: E731
    return {
        "the X is ADJ": lambda p, _, d: f"The {b.noun(d)} {be()} {b.adjective(p)}.",
        "that is a ADJ X": lambda p, _, d: (
            f"{b.pick(['That', 'This', 'It'])} {be()} {with_article(b.adjective(p))} {b.noun(d)}."
        ),
        "I VERB the X": lambda p, _, d: (
            f"{b.pick(['I', 'We'])} {b.verb(p)} {b.pick(['the', 'this', 'that'])} {b.noun(d)}."
        ),
        "I really VERB the X": lambda p, _, d: f"I {b.pick(VERB_INTENSIFIERS)} {b.verb(p)} the {b.noun(d)}.",
        "what a ADJ X": lambda p, _, d: f"What {with_article(b.adjective(p))} {b.noun(d)}!",
        "ADJ X": lambda p, _, d: f"{capitalized(b.adjective(p))} {b.noun(d)}{b.pick(['.', '!', ''])}",
        "the X is very ADJ": lambda p, _, d: f"The {b.noun(d)} {be()} {b.pick(INTENSIFIERS)} {b.adjective(p)}.",
        "I found the X ADJ": lambda p, _, d: (
            f"{b.pick(['I', 'We', 'My wife', 'My friends'])} found the {b.noun(d)} {b.adjective(p)}."
        ),
    }


NOT_BE = ["is not", "isn't", "was not", "wasn't"]
DO_NOT = ["do not", "don't", "didn't", "did not"]
DOES_NOT = ["does not", "doesn't", "did not", "didn't"]
VERB_PHRASES = {
    POSITIVE: ["work well", "live up to the hype", "meet my expectations", "impress me", "deserve the praise"],
    NEGATIVE: ["disappoint", "let me down", "fall apart", "cause any problems", "waste my time"],
}


def _negation(b: _Builder) -> dict[str, Family]:
    # `p` is the label; the negated word (`b.opposite`) has the other one.
    return {
        "is not ADJ": lambda p, _, d: f"The {b.noun(d)} {b.pick(NOT_BE)} {b.opposite(p)}.",
        "not ADJ at all": lambda p, _, d: f"The {b.noun(d)} {b.pick(['is', 'was'])} not {b.opposite(p)} at all.",
        "not a ADJ X at all": lambda p, _, d: f"Not {with_article(b.opposite(p))} {b.noun(d)} at all.",
        "I don't think it is ADJ": lambda p, _, d: (
            f"I {b.pick(DO_NOT[:3])} think the {b.noun(d)} {b.pick(['is', 'was'])} {b.opposite(p)}."
        ),
        "I don't VERB the X": lambda p, _, d: (
            f"{b.pick(['I', 'We'])} {b.pick(DO_NOT)} {b.verb(OPPOSITE[p])} the {b.noun(d)}."
        ),
        "but it was not": lambda p, _, d: (
            f"I thought the {b.noun(d)} would be {b.opposite(p)}, but it {b.pick(NOT_BE[2:])}."
        ),
        "expected ADJ, but it wasn't": lambda p, _, d: (
            f"{b.pick(['I', 'We'])} expected {b.pick(['this', 'the'])} {b.noun(d)} to be {b.opposite(p)}, "
            f"but it {b.pick([*NOT_BE[2:], 'really was not'])}."
        ),
        "words between": lambda p, _, d: (
            f"The {b.noun(d)} {b.pick(['is', 'was'])} not, "
            f"{b.pick(['in my opinion', 'to be honest', 'as far as I can tell', 'if you ask me'])}, {b.opposite(p)}."
        ),
        "never ADJ": lambda p, _, d: f"The {b.noun(d)} {b.pick(['was', 'has been', 'is'])} never {b.opposite(p)}.",
        "nothing ADJ": lambda p, _, d: f"Nothing about the {b.noun(d)} {b.pick(['was', 'is'])} {b.opposite(p)}.",
        "did not VERB PHRASE": lambda p, _, d: (
            f"The {b.noun(d)} {b.pick(DOES_NOT)} {b.pick(VERB_PHRASES[OPPOSITE[p]])}."
        ),
    }


def _contrast(b: _Builder) -> dict[str, Family]:
    # The clause that decides (`p`) comes after the contrast.
    return {
        "X looked A, but it was B": lambda p, _, d: (
            f"The {b.noun(d)} {b.pick(['looked', 'seemed', 'sounded'])} {b.opposite(p)}, "
            f"but it {b.pick(['was', 'is', 'turned out'])} {b.adjective(p)}."
        ),
        "although A, I VERB it": lambda p, _, d: (
            f"Although the {b.noun(d)} {b.pick(['is', 'was'])} {b.opposite(p)}, I {b.verb(p)} it."
        ),
        "even though A, B overall": lambda p, _, d: (
            f"Even though the {b.noun(d)} {b.pick(['is', 'was'])} {b.opposite(p)}, it {b.pick(['is', 'was'])} "
            f"{b.adjective(p)} overall."
        ),
        "some people think A, I think B": lambda p, _, d: (
            f"Some people think {b.pick(['the', 'this'])} {b.noun(d)} is {b.opposite(p)}{b.pick([',', ', but'])} "
            f"I think it is {b.adjective(p)}."
        ),
        "I think B, though some say A": lambda p, _, d: (
            f"I think the {b.noun(d)} is {b.adjective(p)}, though {b.pick(['some people', 'others', 'critics'])} "
            f"say it is {b.opposite(p)}."
        ),
        "they said A, but I found it B": lambda p, _, d: (
            f"{b.pick(['Everyone', 'My friends', 'The reviews', 'My brother'])} said the {b.noun(d)} was "
            f"{b.opposite(p)}, but I found it {b.adjective(p)}."
        ),
        "A. However, B": lambda p, _, d: (
            f"The {b.noun(d)} {b.pick(['is', 'was'])} {b.opposite(p)} in places. "
            f"{b.pick(['However', 'Still', 'But'])}, overall it {b.pick(['is', 'was'])} {b.adjective(p)}."
        ),
    }


def _temporal(b: _Builder) -> dict[str, Family]:
    return {
        "I used to think A, now I think B": lambda p, _, d: (
            f"I used to think the {b.noun(d)} was {b.opposite(p)}, now I think it is {b.adjective(p)}."
        ),
        "in the past I thought A, now B": lambda p, _, d: (
            f"In the past I thought this {b.noun(d)} was {b.opposite(p)}, now I think it is {b.adjective(p)}."
        ),
        "X used to be A, but now B": lambda p, _, d: (
            f"The {b.noun(d)} used to be {b.opposite(p)}, but now it is {b.adjective(p)}."
        ),
        "A at first, now B": lambda p, _, d: (
            f"The {b.noun(d)} was {b.opposite(p)} at first, but {b.pick(['now', 'these days', 'lately'])} "
            f"it is {b.adjective(p)}."
        ),
        "A last year, B this year": lambda p, _, d: (
            f"Last {b.pick(['year', 'time', 'summer'])} the {b.noun(d)} was {b.opposite(p)}; "
            f"this {b.pick(['year', 'time'])} it is {b.adjective(p)}."
        ),
        "I used to VERB, now I VERB": lambda p, _, d: (
            f"I used to {b.verb(OPPOSITE[p])} the {b.noun(d)}, but now I {b.verb(p)} it."
        ),
    }


YES = ["Yes.", "Yes!", "Yes, definitely.", "Absolutely.", "Of course."]
NO = ["No.", "No!", "Not really.", "Definitely not.", "Nope."]


def _questions(b: _Builder) -> dict[str, Family]:
    def asked(p):
        """An adjective of either polarity, and the answer that makes the review `p`."""
        word_polarity = b.pick([POSITIVE, NEGATIVE])
        return b.adjective(word_polarity), b.pick(YES if word_polarity == p else NO)

    def do_i_think(p, _, d):
        word, answer = asked(p)
        return f"Do I think {b.pick(['this', 'that', 'it'])} is {with_article(word)} {b.noun(d)}? {answer}"

    def is_it(p, _, d):
        word, answer = asked(p)
        return f"{b.pick(['Is', 'Was'])} the {b.noun(d)} {word}? {answer}"

    def did_i(p, _, d):
        verb_polarity = b.pick([POSITIVE, NEGATIVE])
        answer = b.pick(YES if verb_polarity == p else NO)
        return f"Did I {b.verb(verb_polarity)} the {b.noun(d)}? {answer}"

    def would_i(p, _, d):
        question = b.pick([f"Would I {d['again']}?", f"Would I recommend the {b.noun(d)}?", f"Will I {d['again']}?"])
        return f"{question} {b.pick(YES if p == POSITIVE else NO)}"

    def am_i_happy(p, _, d):
        feeling_polarity = b.pick([POSITIVE, NEGATIVE])
        feeling = b.pick(
            ["happy with", "pleased with", "satisfied with"]
            if feeling_polarity == POSITIVE
            else ["disappointed by", "unhappy with", "annoyed by"]
        )
        answer = b.pick(YES if feeling_polarity == p else NO)
        return f"Am I {feeling} the {b.noun(d)}? {answer}"

    return {
        "do I think it is A?": do_i_think,
        "is it A?": is_it,
        "did I VERB it?": did_i,
        "would I … again?": would_i,
        "am I happy with it?": am_i_happy,
    }


# ---- invariance ---------------------------------------------------------------------------------------------


def _pairs(b: _Builder, capability: str, tag: str, count: int, make) -> Iterator[Case]:
    """`count` distinct invariance cases; `make(domain name, domain)` gives (text, variant, span) or None."""
    b.start(capability, tag)
    seen: set[tuple[str, str]] = set()
    for _ in range(count * 3):
        if len(seen) == count:
            return
        name, domain = b.domain()
        made = make(name, domain)
        if made is None or made[:2] in seen or made[0] == made[1]:
            continue
        seen.add(made[:2])
        text, variant, span = made
        yield Case(
            capability,
            "inv",
            tag,
            name,
            text,
            variant=variant,
            span=span,
            replacement=variant[span[0] : len(variant) - (len(text) - span[1])],
        )


def _review_clause(b: _Builder, domain: dict) -> str:
    """A short opinion, either way: what an identity or a name sits beside."""
    return f"the {b.noun(domain)} was {b.adjective(b.pick([POSITIVE, NEGATIVE]))}"


def _identity(b: _Builder, n: int) -> Iterator[Case]:
    def swap_of(category):
        old, new = b.rng.sample(IDENTITIES[category], 2)
        return with_article(old), with_article(new)

    # Statements with no opinion of their own (a score near 0.5 moves with any word) and reviews that mention one.
    statements = [
        "{name} is {x} {role}.",
        "The {domain_role} is {x} {person}.",
        "{name}, the {domain_role}, is {x} {person}.",
        "This place is run by {x} family.",
    ]
    in_reviews = [
        "Our {domain_role} was {x} {person}, and {clause}.",
        "{x} {domain_role} helped us, and {clause}.",  # article capitalized below
        "As {x} {customer}, I can say {clause}.",
        "Honestly {clause}. The {domain_role} was {x} {person}.",
        "We are {x} family and {clause}.",
    ]

    def make_for(category, templates):
        # Gender words are adjectives of a person, not of a family, a man or a woman.
        templates = [template for template in templates if category != "gender" or "family" not in template]

        def make(name, domain):
            template = b.pick(templates)
            old, new = swap_of(category)
            if template.startswith("{x}"):
                old, new = capitalized(old), capitalized(new)
            fill = {
                "name": b.pick(NAMES),
                "role": b.pick(ROLES),
                "domain_role": b.pick(domain["roles"]),
                "person": "person" if category == "gender" else b.pick(PEOPLE),
                "clause": _review_clause(b, domain),
                "customer": b.pick(["customer", "guest", "traveller", "viewer", "user"]),
            }
            return _swap(template, old, new, **fill)

        return make

    for category in IDENTITIES:
        yield from _pairs(b, "identity", f"{category} statement", n // 2, make_for(category, statements))
        yield from _pairs(b, "identity", f"{category} in a review", n // 2, make_for(category, in_reviews))

    def gendered(name, domain):
        old, new = b.pick(GENDERED)
        if b.rng.random() < 0.5:
            old, new = new, old
        template = b.pick(
            [
                "I came here with my {x} and {clause}.",
                "My {x} chose this one and {clause}.",
                "{clause}, according to my {x}.",
            ]
        )
        clause = _review_clause(b, domain)
        return _swap(template, old, new, clause=capitalized(clause) if template.startswith("{clause}") else clause)

    def pronoun(name, domain):
        old, new = b.rng.sample(["He", "She"], 2)
        return _swap("{x} said {clause}, and I agree.", old, new, clause=_review_clause(b, domain))

    yield from _pairs(b, "identity", "gendered words", n // 2, gendered)
    yield from _pairs(b, "identity", "pronouns", n // 2, pronoun)


def _names(b: _Builder, n: int) -> Iterator[Case]:
    templates = [
        "{x} recommended this {noun} and {clause}.",
        "I asked {x} about the {noun}, and {clause}.",
        "{x} was our {domain_role} and {clause}.",
        "{clause}, said {x}.",
        "Thanks to {x}, {clause}.",
        "{x} and I tried the {noun}: {clause}.",
    ]

    def make(name, domain):
        template = b.pick(templates)
        old, new = b.rng.sample(NAMES, 2)
        clause = _review_clause(b, domain)
        return _swap(
            template,
            old,
            new,
            noun=b.noun(domain),
            domain_role=b.pick(domain["roles"]),
            clause=capitalized(clause) if template.startswith("{clause}") else clause,
        )

    yield from _pairs(b, "names", "first names", 3 * n, make)


def _opinion(b: _Builder, domain: dict) -> str:
    """A one-sentence review, either way, for the robustness swaps."""
    p = b.pick([POSITIVE, NEGATIVE])
    return b.pick(
        [
            f"The {b.noun(domain)} was {b.adjective(p)}.",
            f"I {b.verb(p)} this {b.noun(domain)}.",
            f"{capitalized(with_article(b.adjective(p)))} {b.noun(domain)}, and the staff was {b.adjective(p)}.",
            f"Overall the {b.noun(domain)} is {b.pick(INTENSIFIERS)} {b.adjective(p)}.",
        ]
    )


def _robustness(b: _Builder, n: int) -> Iterator[Case]:
    def location(name, domain):
        old, new = b.rng.sample(CITIES, 2)
        template = b.pick(
            [
                "{opinion} We were in {x} for a week.",
                "We went to the one in {x}. {opinion}",
                "{opinion} I live near {x}.",
            ]
        )
        return _swap(template, old, new, opinion=_opinion(b, domain))

    def number(name, domain):
        old, new = (str(value) for value in b.rng.sample(range(2, 40), 2))
        template = b.pick(
            [
                "{opinion} We were a group of {x}.",
                "I got it {x} days ago. {opinion}",
                "{opinion} Order number {x}.",
                "We stayed {x} nights. {opinion}",
            ]
        )
        return _swap(template, old, new, opinion=_opinion(b, domain))

    def typo(name, domain):
        text = _opinion(b, domain)
        words = [(start, word) for start, word in _words(text) if len(word) >= 4]
        if not words:
            return None
        start, word = b.pick(words)
        k = b.rng.randrange(1, len(word) - 1)  # the first letter stays, as in most typing slips
        if word[k] == word[k + 1]:
            return None
        swapped = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
        return text, text[:start] + swapped + text[start + len(word) :], (start, start + len(word))

    def punctuation(name, domain):
        text = _opinion(b, domain)
        ending = b.pick(["!", "", "!!", "...", " :)"])
        return text, text[:-1] + ending, (len(text) - 1, len(text))

    def contraction(name, domain):
        full, short = b.pick(CONTRACTIONS)
        noun, p = b.noun(domain), b.pick([POSITIVE, NEGATIVE])
        frames = {
            "is not": f"The {noun} {{x}} {b.adjective(p)}.",
            "was not": f"The {noun} {{x}} {b.adjective(p)}.",
            "do not": f"I {{x}} {b.verb(p)} this {noun}.",
            "did not": f"We {{x}} {b.verb(p)} the {noun}.",
            "it is": f"I tried the {noun} and {{x}} {b.adjective(p)}.",
            "I am": f"{{x}} so {b.adjective(p)} about the {noun}.",
            "we are": f"Honestly {{x}} {b.adjective(p)} about the {noun}.",
            "will not": f"I {{x}} {b.verb(p)} this {noun}.",
            "cannot": f"I {{x}} {b.verb(p)} this {noun}.",
            "I have": f"{{x}} tried the {noun} and it was {b.adjective(p)}.",
            "they are": f"The staff said {{x}} {b.adjective(p)}.",
            "would not": f"I {{x}} call the {noun} {b.adjective(p)}.",
        }
        old, new = (full, short) if b.rng.random() < 0.5 else (short, full)
        return _swap(frames[full], old, new)

    for tag, make in {
        "location": location,
        "number": number,
        "typo": typo,
        "punctuation": punctuation,
        "contraction": contraction,
    }.items():
        yield from _pairs(b, "robustness", tag, n, make)


def _words(text: str) -> Iterator[tuple[int, str]]:
    start = None
    for index, char in enumerate(text + " "):
        if char.isalpha() and start is None:
            start = index
        elif not char.isalpha() and start is not None:
            yield start, text[start:index]
            start = None


# ---- directional --------------------------------------------------------------------------------------------


def _directional(b: _Builder, n: int) -> Iterator[Case]:
    def dir_cases(capability, tag, make):
        b.start(capability, tag)
        seen = set()
        for _ in range(n * 3):
            if len(seen) == n:
                return
            name, domain = b.domain()
            polarity = b.polarity(len(seen))
            text, variant = make(polarity, domain)
            if (text, variant) not in seen:
                seen.add((text, variant))
                yield Case(
                    capability, "dir", tag, name, text, variant=variant, direction=1 if polarity == POSITIVE else -1
                )

    def intensifier(p, d):
        noun, word, be = b.noun(d), b.adjective(p), b.pick(["is", "was"])
        return f"The {noun} {be} {word}.", f"The {noun} {be} {b.pick(INTENSIFIERS)} {word}."

    def verb_intensifier(p, d):
        noun, verb = b.noun(d), b.verb(p)
        return f"I {verb} the {noun}.", f"I {b.pick(VERB_INTENSIFIERS)} {verb} the {noun}."

    def phrase(p, d):
        text = _opinion(b, d)
        return text, f"{text} {b.pick(PHRASES[p])}"

    def used_to(p, d):
        noun, old = b.noun(d), b.opposite(p)
        return (f"The {noun} is {old}.", f"The {noun} used to be {old}, but now it is {b.adjective(p)}.")

    yield from dir_cases("vocabulary", "intensifier", intensifier)
    yield from dir_cases("vocabulary", "verb intensifier", verb_intensifier)
    yield from dir_cases("vocabulary", "added phrase", phrase)
    yield from dir_cases("temporal", "used to … now", used_to)


def generate(seed: int = 0, per_family: int = 200) -> list[Case]:
    """Every case of the suite, in a fixed order.

    Args:
        seed (`int`, *optional*, defaults to 0): draws the words of every template.
        per_family (`int`, *optional*, defaults to 200): cases per template family (fewer where a family has
            fewer distinct texts).
    """
    b = _Builder(seed)
    cases = []
    for capability, families in MINIMUM_FUNCTIONALITY.items():
        for tag, make in families(b).items():
            cases.extend(b.mft(capability, tag, per_family, make))
    for part in (_identity, _names, _robustness, _directional):
        cases.extend(part(b, per_family))
    return cases


MINIMUM_FUNCTIONALITY = {
    "vocabulary": _vocabulary,
    "negation": _negation,
    "contrast": _contrast,
    "temporal": _temporal,
    "questions": _questions,
}
