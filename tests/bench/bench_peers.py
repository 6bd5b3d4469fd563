"""Train and evaluate sentiment-batch and four classic peers on one IMDb split; writes JSON, Markdown and a plot."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from bench_score import IMDB_TAR, measure  # the script's own folder is on sys.path
from sklearn.base import BaseEstimator, TransformerMixin

C_GRID = (0.1, 1.0, 10.0)  # LogisticRegression C, picked on the validation split
WORD = r"(?u)\b\w+\b"
PEERS = {
    "nbsvm": "NBSVM (NB-weighted LR, 1-3-grams)",
    "tfidf": "TF-IDF 1-2-grams + LR",
    "fasttext3": "fastText wordNgrams=3",
    "fasttext2": "fastText wordNgrams=2",
}
PROJECT = "sentiment-batch (CLI train → export → score)"
NOTES = [
    "Train s: the whole `train` process for sentiment-batch (start-up, reading the source, tokenizing, training,"
    " evaluating, saving); feature extraction and fitting (C search included) for the peers, data already in memory.",
    "Predict reviews/s: the whole `score` process (start-up, Parquet in and out) for sentiment-batch; featurizing and"
    " predicting the raw texts in memory for the peers.",
]
OPTIMISTIC = (
    "The validation split also picked the LR peers' C and sentiment-batch's checkpoint: every figure is optimistic."
)
TIME_TARGET_RATIO = 4.0  # the distilled default trains K teachers and a student on three times the reviews
logger = logging.getLogger("bench_peers")

Split = tuple[list[str], np.ndarray]


def write_splits(dataset: str, work: Path) -> str:
    """Write train, validation and eval (test if the source has one, else validation) as Parquet; name the eval split.

    Args:
        dataset (`str`): any source `train.splits.load_splits` reads.
        work (`Path`): folder for the Parquet files.
    """
    from sentiment_batch.train.splits import load_splits

    splits = load_splits(dataset)
    eval_split = "test" if "test" in splits else "validation"
    for name, split in (("train", "train"), ("validation", "validation"), ("eval", eval_split)):
        table = splits[split].select_columns(["text", "label"]).with_format("arrow")[:]  # applies the row selection
        pq.write_table(table, work / f"{name}.parquet")
    pq.write_table(table.select(["text"]), work / "eval_text.parquet")  # the scorer adds a `label` of its own
    return eval_split


def _read(work: Path, name: str) -> Split:
    """Texts and labels (1 = pos) of one split written by `write_splits`."""
    table = pq.read_table(work / f"{name}.parquet")
    return table.column("text").to_pylist(), table.column("label").to_numpy()


def _scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and F1 of the positive class."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": accuracy_score(labels, predicted), "f1": f1_score(labels, predicted)}


class NBScaler(TransformerMixin, BaseEstimator):
    """Scales binary counts by the naive Bayes log-count ratio r (Wang & Manning 2012), alpha = 1."""

    def fit(self, x, labels: np.ndarray) -> NBScaler:
        positive = 1 + np.asarray(x[labels == 1].sum(0)).ravel()
        negative = 1 + np.asarray(x[labels == 0].sum(0)).ravel()
        self.ratio_ = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
        return self

    def transform(self, x):
        return x.multiply(self.ratio_).tocsr()


def _sklearn_peer(steps: list, train: Split, validation: Split) -> tuple[Callable, Callable, dict]:
    """Fit the feature steps once, then LogisticRegression for each C; keep the best on validation."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline

    front = make_pipeline(*steps)
    features = front.fit_transform(*train)
    held_out = front.transform(validation[0])
    fits = (LogisticRegression(C=c, solver="liblinear").fit(features, train[1]) for c in C_GRID)
    best = max(fits, key=lambda model: model.score(held_out, validation[1]))
    pipeline = Pipeline([*front.steps, ("logistic", best)])
    return pipeline.predict, lambda path: joblib.dump(pipeline, path), {"C": best.C}


def _fasttext_clean(text: str) -> str:
    """Lowercase, `<br />` to a space, punctuation split off as tokens of its own, one line."""
    text = text.lower().replace("<br />", " ")
    return " ".join(re.sub(r"([^\w\s'])", r" \1 ", text).split())


def _fasttext_peer(word_ngrams: int, train: Split, validation: Split) -> tuple[Callable, Callable, dict]:
    """fastText supervised, 10 epochs, 2 threads, on a shuffled copy of train (validation unused: no tuning)."""
    import fasttext

    lines = [f"__label__{label} {_fasttext_clean(text)}\n" for text, label in zip(*train, strict=True)]
    random.Random(0).shuffle(lines)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
        handle.writelines(lines)
        handle.flush()
        model = fasttext.train_supervised(handle.name, epoch=10, wordNgrams=word_ngrams, thread=2, verbose=0)

    def predict(texts: list[str]) -> np.ndarray:
        return np.array([int(labels[0][-1]) for labels in model.predict([_fasttext_clean(t) for t in texts])[0]])

    return predict, lambda path: model.save_model(str(path)), {}


def _build_peer(name: str, train: Split, validation: Split) -> tuple[Callable, Callable, dict]:
    """Train the named peer; return its predict (raw texts → 0/1), save (path) and picked settings."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    if name.startswith("fasttext"):
        return _fasttext_peer(int(name[-1]), train, validation)
    if name == "nbsvm":
        steps = [CountVectorizer(ngram_range=(1, 3), binary=True, token_pattern=WORD, dtype=np.float32), NBScaler()]
    else:
        steps = [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)]
    return _sklearn_peer(steps, train, validation)


def _child(name: str, work: Path) -> None:
    """Train one peer, predict the eval split from raw text and print its figures as one JSON line."""
    train, validation, (texts, labels) = (_read(work, split) for split in ("train", "validation", "eval"))
    start = time.perf_counter()
    predict, save, settings = _build_peer(name, train, validation)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    predicted = predict(texts)
    predict_s = time.perf_counter() - start
    path = work / f"{name}.model"
    save(path)
    figures = {"train_s": train_s, "predict_rows_s": len(texts) / predict_s, "model_mb": path.stat().st_size / 1e6}
    print(json.dumps({**_scores(labels, predicted), **figures, **settings}))


def run_peer(name: str, work: Path) -> dict:
    """Run one peer in a process of its own, for its peak RSS.

    Args:
        name (`str`): a key of PEERS.
        work (`Path`): the folder holding the split Parquet files.
    """
    logger.info("running %s", PEERS[name])
    wall, peak, stdout = measure([sys.executable, str(Path(__file__).resolve()), "--child", name, "--work", str(work)])
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"system": PEERS[name], **result, "peak_rss_mib": peak, "process_s": wall}


def run_project(dataset: str, work: Path) -> dict:
    """Train, export and score with the project's CLI, each as a process of its own.

    Args:
        dataset (`str`): the source passed to `train --dataset`.
        work (`Path`): the folder holding the split Parquet files; the model and bundle go there too.
    """
    cli = [sys.executable, "-m", "sentiment_batch.cli"]
    model, bundle, scored = work / "model", work / "bundle", work / "scored.parquet"
    logger.info("running %s", PROJECT)
    train_s, train_peak, _ = measure(
        [*cli, "train", "--dataset", dataset, "--output", str(model), "--report_to", "none"]
    )
    _, export_peak, _ = measure([*cli, "export", "--model", str(model), "--output", str(bundle)])
    score = [*cli, "score", str(work / "eval_text.parquet"), "--bundle", str(bundle), "--output", str(scored)]
    score_s, score_peak, _ = measure([*score, "--no-progress"])
    predicted = np.array(pq.read_table(scored, columns=["label"]).column("label").to_pylist()) == "positive"
    labels = _read(work, "eval")[1]
    return {
        "system": PROJECT,
        **_scores(labels, predicted.astype(int)),
        "train_s": train_s,
        "predict_rows_s": len(labels) / score_s,
        "model_mb": sum(path.stat().st_size for path in bundle.glob("model.onnx*")) / 1e6,  # graph + weights
        "peak_rss_mib": max(train_peak, export_peak, score_peak),
    }


def markdown(report: dict) -> str:
    """The results as a Markdown table, under a line naming the evaluation split and the machine.

    Args:
        report (`dict`): what `peers.json` holds.
    """
    lines = [
        f"Evaluated on `{report['eval_split']}` ({report['eval_rows']:,} reviews; trained on {report['train_rows']:,})"
        f" from {report['dataset']}; {report['cpus']} CPU cores, {report['machine']}.",
        "",
        "| system | accuracy | F1 | train s | predict reviews/s | peak RSS (MiB) | model (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["systems"]:
        lines.append(
            f"| {row['system']} | {row['accuracy']:.2%} | {row['f1']:.2%} | {row['train_s']:.1f} |"
            f" {row['predict_rows_s']:,.0f} | {row['peak_rss_mib']:,.0f} | {row['model_mb']:,.1f} |"
        )
    caveats = [OPTIMISTIC] if report["eval_split"] == "validation" else []
    return "\n".join([*lines, "", *NOTES, time_target(report), *caveats]) + "\n"


def time_target(report: dict) -> str:
    """The train-time target: the project's whole `train` process against one whole fastText wordNgrams=3 process.

    Args:
        report (`dict`): what `peers.json` holds.
    """
    systems = {row["system"]: row for row in report["systems"]}
    ours, fasttext = systems[PROJECT]["train_s"], systems[PEERS["fasttext3"]]["process_s"]
    return (
        f"Train-time target: the whole `train` process took {ours:.1f} s = {ours / fasttext:.2f} × the whole"
        f" fastText wordNgrams=3 process ({fasttext:.1f} s: start, read the split, normalize, train, predict the"
        f" evaluation split, save); the target is ≤ {TIME_TARGET_RATIO:g} ×."
    )


def plot(report: dict, path: Path) -> None:
    """Accuracy against train seconds, one labelled point per system.

    Args:
        report (`dict`): what `peers.json` holds.
        path (`Path`): the PNG file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for row in report["systems"]:
        axes.scatter(row["train_s"], 100 * row["accuracy"])
        axes.annotate(row["system"], (row["train_s"], 100 * row["accuracy"]), xytext=(5, 4), textcoords="offset points")
    axes.set(xlabel="train wall seconds", ylabel=f"accuracy on {report['eval_split']} (%)", title="IMDb sentiment")
    axes.margins(x=0.35, y=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")  # keeps the longest labels whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default=str(IMDB_TAR), help="aclImdb tarball or folder, or files (test if any)")
    parser.add_argument("--out", type=Path, default=Path("bench_results"), help="folder for peers.json/.md/.png")
    parser.add_argument("--child", choices=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.child:
        _child(args.child, args.work)
        return
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        eval_split = write_splits(args.dataset, work)
        systems = [run_project(args.dataset, work), *(run_peer(name, work) for name in PEERS)]
        counts = {name: pq.read_metadata(work / f"{name}.parquet").num_rows for name in ("train", "eval")}
    report = {"dataset": args.dataset, "eval_split": eval_split, "eval_rows": counts["eval"]}
    report |= {"train_rows": counts["train"], "cpus": os.cpu_count(), "machine": platform.platform()}
    report |= {"systems": systems, "total_s": time.perf_counter() - start}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "peers.md").write_text(table)
    plot(report, args.out / "peers.png")
    logger.info("wrote %s/peers.{json,md,png} in %.0f s", args.out, report["total_s"])
    print(f"\n{table}")


if __name__ == "__main__":
    main()
