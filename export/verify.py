"""`sentiment-batch verify`: an ONNX bundle against its PyTorch model on a labelled dataset, as one JSON object."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from sentiment_batch.bundle import Bundle, Manifest, load_bundle, open_bundle_session
from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import load_tokenizer

from .exporter import load_model
from .parity import MAX_LOGIT_DIFF, BatchScorer, LogitComparison, onnx_scorer, score_texts, torch_scorer

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 512
EXIT_PARITY_FAILED = 1
SCALAR_METRICS = ("accuracy", "macro_f1", "precision", "recall", "f1")


def parity_bounds(manifest: Manifest) -> tuple[float, float]:
    """Largest |Δlogit| and smallest label agreement allowed: looser when the bundle kept a float16 table.

    Args:
        manifest (`Manifest`): the bundle's manifest.
    """
    return manifest.float16_bounds() if manifest.quantized else (MAX_LOGIT_DIFF, 1.0)


def load_reviews(
    datasets: str | list[str],
    split: str,
    limit: int | None,
    validation_size: float,
    seed: int,
    balance_classes: str = "auto",
    labels: list[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Texts and class ids of one split of the datasets (or several joined by "+"), cut to the first `limit` rows.

    Args:
        datasets (`str | list[str]`): anything `train.splits.load_splits` reads, as given to `train`.
        split (`str`): the split to verify on, e.g. "test", or "train+validation" for all of a labelled train set.
        limit (`int | None`): most rows kept.
        validation_size (`float`): the validation split's size, as given to `train` (share or count).
        seed (`int`): the validation split's seed, as given to `train`.
        balance_classes (`str`, *optional*, defaults to `"auto"`): class balancing, as given to `train`.
        labels (`list[str]`, *optional*): the model's class names in logit order; the data's labels map to them.
    """
    from datasets import concatenate_datasets

    from sentiment_batch.train.splits import (
        load_splits,  # the datasets stack loads only once arguments are known to be valid
    )

    splits = load_splits(datasets, validation_size, seed, balance_classes, labels)
    missing = [name for name in split.split("+") if name not in splits]
    if missing:
        names = datasets if isinstance(datasets, str) else " + ".join(datasets)
        raise UserError(f"{names} has no {', '.join(map(repr, missing))} split; it has {', '.join(splits)}")
    dataset = concatenate_datasets([splits[name] for name in split.split("+")])
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return list(dataset["text"]), np.asarray(dataset["label"], dtype=np.int64)


def classification_scores(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> dict:
    """Accuracy and macro-F1 (with two classes also the positive class's precision, recall and F1), from the
    project's offline metric module.

    Args:
        predictions (`np.ndarray`): predicted class ids.
        references (`np.ndarray`): true class ids.
        num_labels (`int`): number of classes.
    """
    from sentiment_batch.train.metrics import load_metric

    scores = load_metric().compute(predictions=predictions, references=references, num_labels=num_labels)
    return {name: scores[name] for name in SCALAR_METRICS if name in scores}


def timed_logits(scorer: BatchScorer, tokenizer: Tokenizer, texts: list[str], batch_size: int, name: str) -> tuple:
    """Logits of every text and the throughput in rows/s, tokenization included (the same for both sides).

    Args:
        scorer (`BatchScorer`): maps flat ids + offsets to logits.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`list[str]`): the reviews.
        batch_size (`int`): reviews per call.
        name (`str`): label of the progress bar.
    """
    started = time.perf_counter()
    logits = score_texts(scorer, tokenizer, texts, batch_size, progress=name)
    return logits, len(texts) / max(time.perf_counter() - started, 1e-9)


def verify_bundle(
    bundle: Bundle, model: torch.nn.Module, texts: list[str], labels: np.ndarray, batch_size: int
) -> dict:
    """Accuracy, F1 and speed of both runtimes, and how far ONNX is from PyTorch.

    Args:
        bundle (`Bundle`): the validated bundle, from `sentiment_batch.bundle.load_bundle`.
        model (`SentimentBagForSequenceClassification`): the trained model the bundle came from, in eval mode.
        texts (`list[str]`): the reviews.
        labels (`np.ndarray`): their class ids, in the bundle's label order.
        batch_size (`int`): reviews per call.
    """
    tokenizer = load_tokenizer(bundle.tokenizer_path)
    torch_logits, torch_speed = timed_logits(torch_scorer(model), tokenizer, texts, batch_size, "pytorch")
    session = open_bundle_session(bundle)  # the graph's metadata, inputs and outputs checked against the manifest
    onnx_logits, onnx_speed = timed_logits(onnx_scorer(session), tokenizer, texts, batch_size, "onnxruntime")
    comparison = LogitComparison.of(torch_logits, onnx_logits)
    max_logit_diff, min_label_agreement = parity_bounds(bundle.manifest)
    classes = len(bundle.labels)
    return {
        "rows": len(texts),
        "pytorch": {
            **classification_scores(torch_logits.argmax(1), labels, classes),
            "rows_per_second": round(torch_speed, 1),
        },
        "onnx": {
            **classification_scores(onnx_logits.argmax(1), labels, classes),
            "rows_per_second": round(onnx_speed, 1),
        },
        **{key: value for key, value in asdict(comparison).items() if key != "rows"},
        "max_logit_diff_allowed": max_logit_diff,
        "min_label_agreement": min_label_agreement,
        "quantized": bundle.manifest.quantized,
        "passed": comparison.within(max_logit_diff, min_label_agreement),
    }


def build_parser() -> argparse.ArgumentParser:
    """Options of `sentiment-batch verify`."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch verify",
        description="Score a labelled dataset with an ONNX bundle and its PyTorch model; print one JSON object; "
        f"exit {EXIT_PARITY_FAILED} when labels differ or max |Δlogit| > {MAX_LOGIT_DIFF:g} "
        "(float16 bundles: the bounds recorded in bundle.json).",
    )
    parser.add_argument("--bundle", required=True, type=Path, help="bundle folder (from `sentiment-batch export`)")
    parser.add_argument("--model", required=True, type=Path, help="trained model folder the bundle was exported from")
    parser.add_argument(
        "--dataset",
        required=True,
        nargs="+",
        help="Hub id, aclImdb folder/tarball, or Parquet/CSV/JSONL files: the datasets given to `train`",
    )
    parser.add_argument(
        "--split", default="test", help='split to verify on, or several joined by "+" (default: %(default)s)'
    )
    parser.add_argument("--limit", type=int, default=None, help="first N rows of the split only")
    parser.add_argument(
        "--validation-size",
        type=float,
        default=0.1,
        help="validation share (or count) carved from train, as given to `train` (default: %(default)s)",
    )
    parser.add_argument(
        "--validation-seed",
        "--seed",
        dest="validation_seed",
        type=int,
        default=42,
        help="seed of that split, as given to `train` (--validation-seed, else --seed; default: %(default)s)",
    )
    parser.add_argument(
        "--balance-classes",
        default="auto",
        choices=("auto", "true", "false"),
        help="class balancing of the validation split, as given to `train` (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="reviews per call (%(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch verify`.

    Args:
        argv (`list[str]`, *optional*): the command's arguments; defaults to `sys.argv[2:]`.
    """
    args = build_parser().parse_args(sys.argv[2:] if argv is None else argv)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    # Bundle and model are checked before the dataset, the slow part, loads.
    bundle, model = load_bundle(args.bundle), load_model(args.model)
    texts, labels = load_reviews(
        args.dataset,
        args.split,
        args.limit,
        args.validation_size,
        args.validation_seed,
        args.balance_classes,
        list(bundle.labels),
    )
    report = verify_bundle(bundle, model, texts, labels, args.batch_size)
    report = {
        "bundle": str(args.bundle),
        "model": str(args.model),
        "dataset": args.dataset[0] if len(args.dataset) == 1 else args.dataset,
        "split": args.split,
        **report,
    }
    print(json.dumps(report))
    if not report["passed"]:
        logger.error("ONNX and PyTorch disagree beyond the bounds")
    return 0 if report["passed"] else EXIT_PARITY_FAILED
