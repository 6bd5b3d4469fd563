"""Regenerate reviews.csv and reviews.parquet: deterministic, hand-written review templates plus edge cases."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20261126
ROWS = 300

THINGS = {
    "movie": ["film", "movie", "sequel", "documentary", "thriller", "comedy", "animated feature", "space opera"],
    "product": ["blender", "pair of headphones", "phone case", "backpack", "coffee grinder", "desk lamp", "kettle"],
}
OPENINGS = {
    True: ["I really enjoyed this {thing}.", "What a lovely {thing}!", "This {thing} exceeded my expectations."],
    False: ["I regret paying for this {thing}.", "What a disappointing {thing}.", "This {thing} was a waste of money."],
}
DETAILS = {
    ("movie", True): [
        "The acting felt honest and the dialogue was sharp.",
        "The soundtrack stayed with me for days.",
        "Funny, warm and surprisingly moving in the last act.",
        "Gorgeous photography and a clever, tight script.",
    ],
    ("movie", False): [
        "The plot made no sense and the pacing dragged.",
        "The jokes fell flat and the ending was lazy.",
        "Two hours of my life I will never get back.",
        "Wooden acting, muddy sound and a predictable twist.",
    ],
    ("product", True): [
        "It works exactly as described and feels sturdy.",
        "Setup took two minutes, and it has been reliable ever since.",
        "Great value for the price; I would buy it again.",
        "Quiet, well made and the battery lasts all week.",
    ],
    ("product", False): [
        "It broke after a week and support never answered.",
        "Cheap plastic, loud motor, and it smells of burning.",
        "The battery died after barely an hour.",
        "Nothing like the photos, and the seams split on day one.",
    ],
}
CLOSINGS = {
    True: ["Highly recommended.", "Five stars from me.", "Worth every penny.", "I would happily get it again."],
    False: ["Avoid it.", "One star, and that is generous.", "Not recommended.", "Save your money."],
}
EDGE_CASES = [
    None,
    "",
    "   \t  ",
    "\n\n",
    "Great!",
    "bad",
    "<p>Loved it.<br /><br />The <b>best</b> &amp; brightest cast of the year.</p>",
    'She said "wow, just wow", and I agree, it\'s brilliant.',
    "First line of my review.\nSecond line, with a comma.\nThird line: still great.",
    "Das war ein wunderbarer Film, absolut sehenswert!",
    "Un produit décevant, je ne le recommande pas du tout.",
    "とても面白い映画でした。また見たいです。",
    "Очень плохой фильм, скучный и длинный.",
    "😍😍😍 amazing headphones 🎧🔥",
    "👎 broke in two days 😡",
    "10/10!!!",
    "meh.",
    'The 5" screen is tiny, but the sound is good.',
    " ".join(["This long review keeps going about the good acting and the bad script."] * 120),
]


def review(rng: random.Random, positive: bool) -> str:
    """One templated review of a random movie or product.

    Args:
        rng (`random.Random`): the seeded generator.
        positive (`bool`): the sentiment.
    """
    domain = rng.choice(sorted(THINGS))
    sentences = [rng.choice(OPENINGS[positive]).format(thing=rng.choice(THINGS[domain]))]
    sentences += rng.sample(DETAILS[domain, positive], k=rng.randint(1, 3))
    sentences.append(rng.choice(CLOSINGS[positive]))
    return " ".join(sentences)


def make_frame() -> pd.DataFrame:
    """`ROWS` reviews with `id` and `text`, edge cases spread through the file."""
    rng = random.Random(SEED)
    texts = [review(rng, positive=rng.random() < 0.5) for _ in range(ROWS - len(EDGE_CASES))]
    for case in EDGE_CASES:
        texts.insert(rng.randrange(len(texts) + 1), case)
    return pd.DataFrame({"id": range(1, len(texts) + 1), "text": pd.Series(texts, dtype=object)})


def main() -> None:
    frame = make_frame()
    frame.to_csv(HERE / "reviews.csv", index=False)
    frame.to_parquet(HERE / "reviews.parquet", index=False)


if __name__ == "__main__":
    main()
