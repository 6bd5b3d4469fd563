"""Learning curves of your own labels: from scratch, `--init-from shipped` and tuned TF-IDF + LR, on 200, 500,
1,000, 5,000 and all training labels of each proxy set of `bench_labels.py`.

The shipped model learnt from reviews.parquet, the proxies' corpus, with positive/negative labels. So that it is
never tested on a review it learnt from, each set's test split is drawn only from the reviews the shipped model's
training left out (its validation split, and the rows its class balancing and caps dropped): its split is
rebuilt here from the recipe in its model card. Its class mix can therefore differ from the set's. The training
labels are drawn from the rest (a seeded order; each size is the first n, so a larger set holds the smaller ones),
capped at `MAX_TRAIN` rows to keep a run affordable on two cores. Every system learns from the same rows:
`sentiment-batch train` carves its validation split (10%) from them, TF-IDF(1,2) + LogisticRegression (sublinear
tf, min_df 2, C picked on that validation split) learns from the rest. Accuracy and macro-F1 are the PyTorch
model's on the test split (equal to its exported bundle's, `bench_labels.py` shows).

    python tests/bench/bench_learning_curve.py [--out tests/bench/results] [--sizes 200 500 1000 5000 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_labels import DATASETS, REVIEWS, run_baseline  # the script's own folder is on sys.path

IMDB = REVIEWS.parent.parent / "imdb" / "aclImdb_train.tar.gz"
MAX_TRAIN = 20_000  # most training labels of a set
SIZES = (200, 500, 1000, 5000, 0)  # 0: all (up to MAX_TRAIN)
TEST_SHARE = 0.2
SYSTEMS = ("scratch", "init_shipped", "tfidf_lr")
logger = logging.getLogger("bench_learning_curve")


def shipped_training_texts(imdb: Path, reviews: Path) -> set[str]:
    """The texts the shipped model learnt from: its training split, rebuilt with the settings its card records."""
    from sentiment_batch import info
    from sentiment_batch.bundle import default_bundle_path
    from sentiment_batch.train.splits import load_labelled

    recipe = info.card_settings(info.read_card(default_bundle_path()))
    data = load_labelled(
        [str(imdb), str(reviews)],
        recipe["validation_size"],
        recipe["seed"] if recipe["validation_seed"] is None else recipe["validation_seed"],
        weights=recipe["dataset_weights"],
        balance_classes=recipe["balance_classes"],
        max_rows_per_source=recipe["max_rows_per_source"],
    )
    return set(data.splits["train"]["text"])


def split_set(frame: pd.DataFrame, learnt: set[str], seed: int, cap: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test split (up to `TEST_SHARE` of the set, all unseen by the shipped model) and the training pool, in a
    seeded order, capped at `cap` rows."""
    order = frame.iloc[np.random.default_rng(seed).permutation(len(frame))].reset_index(drop=True)
    unseen = ~order.text.isin(learnt)
    test_rows = order.index[unseen][: round(TEST_SHARE * len(frame))]
    return order.loc[test_rows], order.drop(index=test_rows).head(cap)


def run_model(folder: Path, seed: int, init_from: str | None, settings: dict) -> dict:
    """`sentiment-batch train` with its defaults and `settings` (from scratch, or from a start model); its test
    figures."""
    from sentiment_batch.train import train

    settings = {"report_to": "none", "seed": seed, "overwrite": True, **settings}
    started = time.perf_counter()
    output = folder.with_name(f"{folder.name}-model")  # beside the data: `train` refuses an output inside it
    metrics = train(folder, output, **settings, **({"init_from": init_from} if init_from else {}))
    return {
        "test_accuracy": metrics["test_accuracy"],
        "test_macro_f1": metrics["test_macro_f1"],
        "validation_accuracy": metrics["eval_accuracy"],
        "train_s": round(time.perf_counter() - started, 1),
    }


def run_system(system: str, folder: Path, seed: int, settings: dict) -> dict:
    """One system's figures on the set in `folder`."""
    if system == "tfidf_lr":
        return run_baseline(folder, seed)["tuned"]
    return run_model(
        folder, seed, "shipped" if system == "init_shipped" else None, settings if system != "scratch" else {}
    )


def curve(name: str, test: pd.DataFrame, pool: pd.DataFrame, work: Path, seed: int, sizes, systems, settings) -> dict:
    """The figures of `systems` at every size of one set; `settings` go to `--init-from shipped`'s runs."""
    points = {}
    for size in sizes:
        rows = pool if size == 0 or size >= len(pool) else pool.head(size)
        if len(rows) in points:  # "all" is one of the sizes
            continue
        folder = work / name / str(len(rows))
        folder.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(folder / "train.parquet", index=False)
        test.to_parquet(folder / "test.parquet", index=False)
        logger.info("%s, %d labels", name, len(rows))
        points[len(rows)] = {system: run_system(system, folder, seed, settings) for system in systems}
        logger.info("%s, %d labels: %s", name, len(rows), json.dumps(points[len(rows)]))
    return points


def markdown(report: dict) -> str:
    """The curves as a Markdown table, and the means over the sets at 500 labels and at all labels."""
    lines = [
        f"Seed {report['seed']}; {report['machine']}; test splits unseen by the shipped model; accuracy / macro-F1.",
        "",
        "| set | test rows | labels | from scratch | `--init-from shipped` | TF-IDF + LR (tuned) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in report["sets"].items():
        for size, point in result["points"].items():
            figures = " | ".join(
                f"{point[system]['test_accuracy']:.4f} / {point[system]['test_macro_f1']:.4f}" for system in SYSTEMS
            )
            lines.append(f"| {name} | {result['test_rows']:,} | {int(size):,} | {figures} |")
    for label, pick in (("500 labels", lambda points: points.get(500)), ("all labels", lambda p: p[max(p)])):
        chosen = [pick(result["points"]) for result in report["sets"].values()]
        if all(chosen):
            means = ", ".join(
                f"{system} {np.mean([point[system]['test_accuracy'] for point in chosen]):.4f}" for system in SYSTEMS
            )
            lines.append(f"\nMean test accuracy over the sets at {label}: {means}")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """One panel per set: test accuracy against training labels (log scale), one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = report["sets"]
    figure, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    titles = {"scratch": "from scratch", "init_shipped": "--init-from shipped", "tfidf_lr": "TF-IDF + LR (tuned)"}
    for axis, (name, result) in zip(axes[0], sets.items(), strict=True):
        sizes = sorted(result["points"], key=int)
        for system in SYSTEMS:
            accuracy = [result["points"][size][system]["test_accuracy"] for size in sizes]
            axis.plot([int(size) for size in sizes], accuracy, marker="o", label=titles[system])
        axis.set(xscale="log", title=name, xlabel="training labels", ylabel="test accuracy")
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=Path, default=REVIEWS)
    parser.add_argument("--imdb", type=Path, default=IMDB, help="the IMDb tarball the shipped model learnt from")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="write learning_curve.{json,md,png} here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="training labels; 0: all")
    parser.add_argument("--sets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--max-train", type=int, default=MAX_TRAIN, help="most training labels of a set")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument(
        "--init-settings",
        default="{}",
        help="JSON of train settings for the --init-from runs, e.g. '{\"num_train_epochs\": 4}'",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    reviews = pd.read_parquet(args.reviews, columns=["text", "rating", "source"])
    learnt = shipped_training_texts(args.imdb, args.reviews)
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    report = {"seed": args.seed, "machine": machine, "max_train": args.max_train, "init_settings": args.init_settings}
    report["sets"] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        for name in args.sets:
            test, pool = split_set(DATASETS[name](reviews), learnt, args.seed, args.max_train)
            points = curve(name, test, pool, work, args.seed, args.sizes, args.systems, json.loads(args.init_settings))
            report["sets"][name] = {"test_rows": len(test), "pool_rows": len(pool), "points": points}
    report["wall_s"] = round(time.perf_counter() - started)
    table = markdown(report)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "learning_curve.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "learning_curve_table.md").write_text(table + "\n")
        plot(report, args.out / "learning_curve.png")


if __name__ == "__main__":
    main()
