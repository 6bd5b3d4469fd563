"""How faithful the evidence is: deleting a review's top phrase against deleting a random word of it.

For each review, the bundle's label and its probability; then the review without its top phrase (the first of
`explain=3`), and without a random word, each deleted wherever it occurs as a token (a bag model sees an n-gram
once or more, so one occurrence left would keep it). Prints the share of the phrases that are exact substrings of
their review, the share of reviews where the top phrase's deletion lowers the label's probability more than the
random word's, and the ratio of their mean drops.

    python tests/bench/bench_explain.py --reviews 400 [--bundle BUNDLE]

The reviews are the movie-grouped validation split of IMDb train (seed 42), as `train` carves it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

from sentiment_batch import Scorer

IMDB_TAR = Path(__file__).resolve().parents[3] / "shared" / "imdb" / "aclImdb_train.tar.gz"
WORD = re.compile(r"\w+")


def without(text: str, phrase: str) -> str:
    """`text` with every occurrence of `phrase` that stands as whole tokens removed (case as the tokenizer ignores)."""
    left = r"(?<!\w)" if phrase[:1].isalnum() or phrase[:1] == "_" else ""
    right = r"(?!\w)" if phrase[-1:].isalnum() or phrase[-1:] == "_" else ""
    return re.sub(left + re.escape(phrase) + right, " ", text, flags=re.IGNORECASE)


def drops(scorer: Scorer, texts: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Each review's drop in its label's probability without its top phrase, and without a random word; and the
    share of the three top phrases that are exact substrings of their review."""
    rng = random.Random(seed)
    results = scorer.predict(texts, explain=3)
    evidence = [
        (entry["phrase"], text) for result, text in zip(results, texts, strict=True) for entry in result["evidence"]
    ]
    exact = float(np.mean([phrase in text for phrase, text in evidence]))
    labels = [result["label"] for result in results]
    before = np.array([result["score"] for result in results])
    tops = [result["evidence"][0]["phrase"] if result["evidence"] else "" for result in results]
    randoms = [rng.choice(WORD.findall(text)) for text in texts]
    after_top = probability_of(scorer, [without(t, p) if p else t for t, p in zip(texts, tops, strict=True)], labels)
    after_random = probability_of(scorer, [without(t, w) for t, w in zip(texts, randoms, strict=True)], labels)
    return before - after_top, before - after_random, tops, exact


def probability_of(scorer: Scorer, texts: list[str], labels: list[str]) -> np.ndarray:
    """The probability of each text's given label (0 where nothing is left to score)."""
    results = scorer.predict(texts)
    return np.array(
        [0.0 if r["error"] else r["probabilities"][label] for r, label in zip(results, labels, strict=True)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the shipped one)")
    parser.add_argument("--reviews", type=int, default=400)
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random words")
    args = parser.parse_args()
    from sentiment_batch.train.splits import load_splits

    validation = load_splits(str(args.imdb), 0.1, 42)["validation"].shuffle(seed=args.seed)
    texts = list(validation.select(range(min(args.reviews, len(validation))))["text"])
    with Scorer.from_bundle(args.bundle) as scorer:
        top, rand, phrases, exact = drops(scorer, texts, args.seed)
    report = {
        "reviews": len(texts),
        "evidence_exact_substrings": exact,
        "top_phrase_drop_beats_random_word": float(np.mean(top > rand)),
        "mean_drop_top_phrase": float(top.mean()),
        "mean_drop_random_word": float(rand.mean()),
        "ratio_of_mean_drops": float(top.mean() / rand.mean()) if rand.mean() > 0 else float("inf"),
        "top_phrase_words": {str(n): int(sum(len(WORD.findall(p)) == n for p in phrases)) for n in (1, 2, 3)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
