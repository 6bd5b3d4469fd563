"""Per-source validation accuracy and calibration of bundles, side by side, on the validation split `train` carves.

Every source of the datasets (IMDb grouped by movie, every other source a seeded split, classes balanced) is
scored by each bundle; prints a Markdown table of accuracy and expected calibration error per source, their
means, and the short-review cases of `tests/behaviour_cases.py`.

    python tests/bench/bench_domains.py --bundle shipped=sentiment_batch/default_bundle --bundle imdb-only=/tmp/0.2.0 \
        --dataset aclImdb_train.tar.gz reviews.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sentiment_batch import Scorer

SHARED = Path(__file__).resolve().parents[3] / "shared"
DATASETS = [str(SHARED / "imdb" / "aclImdb_train.tar.gz"), str(SHARED / "reviews" / "reviews.parquet")]
ECE_BINS = 15


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Over equal-width bins of the top-class probability, the share-weighted |accuracy - confidence|."""
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    total = 0.0
    for index in np.unique(bins):
        inside = bins == index
        total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def source_figures(scorer: Scorer, texts: list[str], labels: list[str]) -> tuple[float, float]:
    """Accuracy and expected calibration error of one source's reviews."""
    results = scorer.predict(texts)
    correct = np.array([result["label"] == label for result, label in zip(results, labels, strict=True)])
    confidence = np.array([result["score"] or 0.0 for result in results])
    return float(correct.mean()), expected_calibration_error(confidence, correct)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", action="append", required=True, metavar="NAME=PATH", help="a bundle to score")
    parser.add_argument("--dataset", nargs="+", default=DATASETS, help="the datasets, as given to train")
    parser.add_argument("--validation-size", type=float, default=0.1)
    parser.add_argument("--validation-seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    from sentiment_batch.train.splits import load_splits

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from behaviour_cases import CAPABILITIES

    validation = load_splits(args.dataset, args.validation_size, args.validation_seed)["validation"]
    names = validation.features["label"].names
    by_source: dict[str, tuple[list[str], list[str]]] = {}
    for text, label, source in zip(validation["text"], validation["label"], validation["source"], strict=True):
        texts, labels = by_source.setdefault(source, ([], []))
        texts.append(text)
        labels.append(names[label])
    figures = {}
    for item in args.bundle:
        name, _, path = item.partition("=")
        with Scorer.from_bundle(path) as scorer:
            figures[name] = {source: source_figures(scorer, *rows) for source, rows in sorted(by_source.items())}
            for capability, cases in CAPABILITIES.items():
                results = scorer.predict([text for text, _ in cases])
                right = np.mean([result["label"] == label for result, (_, label) in zip(results, cases, strict=True)])
                figures[name][f"cases: {capability}"] = (float(right), float("nan"))
    bundles = list(figures)
    print("| source | reviews | " + " | ".join(f"{name} acc | {name} ECE" for name in bundles) + " |")
    print("|---|---:|" + "---:|---:|" * len(bundles))
    for source in figures[bundles[0]]:
        count = len(by_source[source][0]) if source in by_source else len(CAPABILITIES[source.split(": ")[1]])
        cells = " | ".join(f"{figures[name][source][0]:.2%} | {figures[name][source][1]:.3f}" for name in bundles)
        print(f"| {source} | {count:,} | {cells} |")
    for label, keep in (
        ("mean over sources", lambda s: s in by_source),
        ("mean without IMDb", lambda s: s in by_source and s != "imdb"),
    ):
        means = [np.mean([v for s, v in figures[name].items() if keep(s)], axis=0) for name in bundles]
        print(f"| **{label}** | | " + " | ".join(f"{a:.2%} | {e:.3f}" for a, e in means) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
