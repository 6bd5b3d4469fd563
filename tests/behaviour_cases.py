"""Behavioural cases for the shipped model, in the CheckList style (Ribeiro et al., ACL 2020): texts we wrote.

Each capability is a list of (review, expected label). Minimum-functionality cases a sentiment model for every
kind of review must get right: short everyday reviews, negation, ratings written as words, and the phrases typical
of each domain. Invariance cases (`INVARIANCE`) pair a review with a variant whose label must not change.
"""

from __future__ import annotations

POSITIVE, NEGATIVE = "positive", "negative"

SHORT = [
    ("good", POSITIVE),
    ("Great!", POSITIVE),
    ("excellent", POSITIVE),
    ("Amazing.", POSITIVE),
    ("Love it", POSITIVE),
    ("loved it", POSITIVE),
    ("Perfect", POSITIVE),
    ("Awesome product", POSITIVE),
    ("very nice", POSITIVE),
    ("Highly recommended!", POSITIVE),
    ("Would buy again.", POSITIVE),
    ("Works great", POSITIVE),
    ("Best purchase ever", POSITIVE),
    ("Fantastic service", POSITIVE),
    ("Super happy with it", POSITIVE),
    ("ok", POSITIVE),
    ("Pretty good", POSITIVE),
    ("Exactly as described", POSITIVE),
    ("Thank you!", POSITIVE),
    ("A must see", POSITIVE),
    ("bad", NEGATIVE),
    ("Terrible.", NEGATIVE),
    ("awful", NEGATIVE),
    ("Horrible experience", NEGATIVE),
    ("Hate it", NEGATIVE),
    ("Worst purchase ever", NEGATIVE),
    ("Waste of money", NEGATIVE),
    ("Do not buy!", NEGATIVE),
    ("Never again.", NEGATIVE),
    ("Very disappointed", NEGATIVE),
    ("Useless", NEGATIVE),
    ("Poor quality", NEGATIVE),
    ("Broke after a week", NEGATIVE),
    ("Total garbage", NEGATIVE),
    ("Doesn't work", NEGATIVE),
    ("Avoid", NEGATIVE),
    ("Boring", NEGATIVE),
    ("Rude staff", NEGATIVE),
    ("Not as described", NEGATIVE),
    ("Returned it", NEGATIVE),
]

NEGATION = [
    ("Not bad at all", POSITIVE),
    ("not bad", POSITIVE),
    ("Can't complain", POSITIVE),
    ("No complaints", POSITIVE),
    ("Never disappointed", POSITIVE),
    ("I couldn't be happier", POSITIVE),
    ("Could not ask for more", POSITIVE),
    ("No problems so far", POSITIVE),
    ("I was not disappointed", POSITIVE),
    ("You won't regret it", POSITIVE),
    ("Not good", NEGATIVE),
    ("not worth it", NEGATIVE),
    ("Not recommended", NEGATIVE),
    ("I would not recommend this", NEGATIVE),
    ("Not impressed", NEGATIVE),
    ("not happy", NEGATIVE),
    ("Nothing special", NEGATIVE),
    ("Not worth the money", NEGATIVE),
    ("It never works", NEGATIVE),
    ("Not what I expected", NEGATIVE),
]

RATINGS = [
    ("Five stars", POSITIVE),
    ("5 stars", POSITIVE),
    ("5/5", POSITIVE),
    ("10/10", POSITIVE),
    ("10 out of 10", POSITIVE),
    ("Five stars, would recommend", POSITIVE),
    ("4 out of 5", POSITIVE),
    ("9/10 would watch again", POSITIVE),
    ("A+", POSITIVE),
    ("Two thumbs up", POSITIVE),
    ("One star", NEGATIVE),
    ("1 star", NEGATIVE),
    ("Zero stars", NEGATIVE),
    ("0/10", NEGATIVE),
    ("1/10", NEGATIVE),
    ("2 out of 10", NEGATIVE),
    ("One star, avoid", NEGATIVE),
    ("Two stars at most", NEGATIVE),
    ("Thumbs down", NEGATIVE),
    ("Zero out of ten", NEGATIVE),
]

DOMAINS = [
    # products
    ("The battery lasts all day and it charges fast.", POSITIVE),
    ("Great value for the price.", POSITIVE),
    ("Fits perfectly and the fabric is soft.", POSITIVE),
    ("Stopped working after two days.", NEGATIVE),
    ("Cheaply made, it fell apart.", NEGATIVE),
    ("The zipper broke the first time I used it.", NEGATIVE),
    # restaurants
    ("Delicious food and friendly staff.", POSITIVE),
    ("The pizza was amazing, we will be back.", POSITIVE),
    ("The food was cold and bland.", NEGATIVE),
    ("We waited an hour and the order was wrong.", NEGATIVE),
    # hotels
    ("Clean room, comfortable bed and a great breakfast.", POSITIVE),
    ("The staff went out of their way to help us.", POSITIVE),
    ("Dirty room and noisy all night.", NEGATIVE),
    ("The shower was broken and nobody came to fix it.", NEGATIVE),
    # apps
    ("Easy to use and very helpful.", POSITIVE),
    ("This app makes my life so much easier.", POSITIVE),
    ("Keeps crashing after the update.", NEGATIVE),
    ("Too many ads, uninstalled.", NEGATIVE),
    # airlines
    ("The flight was on time and the crew was lovely.", POSITIVE),
    ("Smooth check-in and comfortable seats.", POSITIVE),
    ("They lost my luggage and nobody helped.", NEGATIVE),
    ("Flight delayed five hours with no explanation.", NEGATIVE),
    # films
    ("A masterpiece, beautifully acted.", POSITIVE),
    ("Funny, moving and smart.", POSITIVE),
    ("Boring and far too long.", NEGATIVE),
    ("The plot made no sense and the acting was wooden.", NEGATIVE),
    # film critics' one-liners
    ("One of the year's best films.", POSITIVE),
    ("A charming, well-crafted comedy that never overstays its welcome.", POSITIVE),
    ("An overlong, self-indulgent slog.", NEGATIVE),
    ("The performances cannot save a script this thin.", NEGATIVE),
    # games
    ("So much fun with friends.", POSITIVE),
    ("Pay to win garbage.", NEGATIVE),
]

CAPABILITIES = {"short": SHORT, "negation": NEGATION, "ratings": RATINGS, "domains": DOMAINS}

# (review, variant): the variant changes nothing a reader would call sentiment.
INVARIANCE = [
    ("The food was great.", "The food was great. We went on a Tuesday."),
    ("Terrible customer service.", "Terrible customer service. I called on Monday."),
    ("great phone", "GREAT PHONE"),
    ("good", "good!!!"),
    ("Loved the hotel.", "Loved the hotel in Lisbon."),
    ("The movie was boring.", "The movie was boring. I saw it with my sister."),
    ("Works perfectly.", "works perfectly"),
    ("Awful app, deleted it.", "Awful app, deleted it"),
]
