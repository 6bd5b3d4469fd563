"""Evidence on real reviews: is every phrase whole words of its review (`tests/helpers.phrase_problem`)?

    python tests/bench/bench_evidence.py --imdb ../shared/imdb/aclImdb_train.tar.gz \
        --reviews ../shared/reviews/reviews.parquet --rows 5000 --explain 5

Scores `--rows` IMDb train reviews and `--rows` random rows of reviews.parquet with the shipped bundle, and prints
how many phrases break the rule, by reason, with the row ids of the first few.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_language import imdb_reviews  # noqa: E402

from helpers import phrase_problem  # noqa: E402
from sentiment_batch import Scorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=Path("../shared/imdb/aclImdb_train.tar.gz"))
    parser.add_argument("--reviews", type=Path, default=Path("../shared/reviews/reviews.parquet"))
    parser.add_argument("--rows", type=int, default=5000, help="reviews from each source")
    parser.add_argument("--explain", type=int, default=5)
    args = parser.parse_args()
    imdb = imdb_reviews(args.imdb)[: args.rows]
    table = pq.read_table(args.reviews, columns=["text"])
    picked = np.random.default_rng(0).choice(table.num_rows, args.rows, replace=False)
    rows = [(name, text) for name, text in imdb]
    texts = table.column("text").take(picked).to_pylist()
    rows += [(f"reviews.parquet row {row}", text) for row, text in zip(picked.tolist(), texts, strict=True)]
    with Scorer.from_bundle() as scorer:
        results = scorer.predict([text for _, text in rows], explain=args.explain)
    problems: Counter = Counter()
    examples = []
    phrases = sides = 0
    for (row_id, text), result in zip(rows, results, strict=True):
        evidence = result["evidence"] or []
        phrases += len(evidence)
        sides += any(e["weight"] > 0 for e in evidence) and any(e["weight"] < 0 for e in evidence)
        for entry in evidence:
            problem = phrase_problem(text, entry["phrase"])
            if problem:
                problems[problem] += 1
                examples.append((row_id, problem))
    print(
        f"{len(rows)} reviews, {phrases} phrases (explain={args.explain}); {sides} reviews with phrases on both sides"
    )
    print(f"phrases that are not whole words: {sum(problems.values())} {dict(problems)}")
    for row_id, problem in examples[:20]:
        print(f"  {row_id}: {problem}")


if __name__ == "__main__":
    main()
