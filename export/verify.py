"""`sentiment-batch verify`: an ONNX bundle against its PyTorch model on a labelled dataset, as one JSON object."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from datasets import concatenate_datasets
from tokenizers import Tokenizer

from sentiment_batch.bundle import Bundle, load_bundle, open_bundle_session
from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import load_tokenizer
from sentiment_batch.train.data_settings import DataSettings

from .exporter import load_model
from .parity import MAX_LOGIT_DIFF, BatchScorer, LogitComparison, onnx_scorer, score_texts, torch_scorer

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 512
EXIT_PARITY_FAILED = 1
SCALAR_METRICS = ("accuracy", "macro_f1", "precision", "recall", "f1")
# Options that replace the model's recorded data settings of the same name.
SPLIT_OPTIONS = ("validation_size", "validation_seed", "balance_classes")


def load_reviews(settings: DataSettings, split: str, limit: int | None) -> tuple[list[str], np.ndarray]:
    """Texts and class ids of one split (or several joined by "+") as `settings` carve the data, cut to the first
    `limit` rows.

    Args:
        settings (`DataSettings`): the datasets and how `train` read and split them.
        split (`str`): the split to verify on, e.g. "test", or "train+validation" for all of a labelled train set.
        limit (`int | None`): most rows kept.
    """
    splits = settings.labelled().splits
    missing = [name for name in split.split("+") if name not in splits]
    if missing:
        raise UserError(
            f"{' + '.join(settings.dataset)} has no {', '.join(map(repr, missing))} split; it has {', '.join(splits)}"
        )
    dataset = concatenate_datasets([splits[name] for name in split.split("+")])
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return list(dataset["text"]), np.asarray(dataset["label"], dtype=np.int64)


def data_settings(args: argparse.Namespace, labels: list[str]) -> DataSettings:
    """The data settings the model was trained with (`DataSettings.of_model`), each split option given replacing
    its own; the class names are the bundle's.

    Args:
        args (`argparse.Namespace`): the command's options; None where not given.
        labels (`list[str]`): the bundle's class names in logit order.
    """
    given = {name: getattr(args, name) for name in SPLIT_OPTIONS if getattr(args, name) is not None}
    return dataclasses.replace(DataSettings.of_model(args.model, args.dataset), **given, labels=labels)


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
    # A bundle that kept a float16 table is held to the looser bounds its export recorded.
    max_logit_diff, min_label_agreement = (
        bundle.manifest.float16_bounds() if bundle.manifest.quantized else (MAX_LOGIT_DIFF, 1.0)
    )
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
        **{key: value for key, value in dataclasses.asdict(comparison).items() if key != "rows"},
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
        nargs="+",
        help="Hub id, aclImdb folder/tarball, or Parquet/CSV/JSONL files (default: the datasets the model was "
        "trained on, as it records them)",
    )
    parser.add_argument(
        "--split", default="test", help='split to verify on, or several joined by "+" (default: %(default)s)'
    )
    parser.add_argument("--limit", type=int, default=None, help="first N rows of the split only")
    split_options = parser.add_argument_group(
        "split", "how the validation split is carved; by default as the model records `train` carved it"
    )
    split_options.add_argument("--validation-size", type=float, help="validation share (or count) of each source")
    split_options.add_argument(
        "--validation-seed", "--seed", dest="validation_seed", type=int, help="seed of the split and the balancing"
    )
    split_options.add_argument(
        "--balance-classes", choices=("auto", "true", "false"), help="class balancing of the validation split"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="reviews per call (%(default)s)")
    return parser


def main(argv: list[str]) -> int:
    """Run `sentiment-batch verify` with the arguments that follow `verify`."""
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    # Bundle and model are checked before the dataset, the slow part, loads.
    bundle, model = load_bundle(args.bundle), load_model(args.model)
    settings = data_settings(args, list(bundle.labels))
    texts, labels = load_reviews(settings, args.split, args.limit)
    report = verify_bundle(bundle, model, texts, labels, args.batch_size)
    report = {
        "bundle": str(args.bundle),
        "model": str(args.model),
        "dataset": settings.dataset[0] if len(settings.dataset) == 1 else settings.dataset,
        "split": args.split,
        **report,
    }
    print(json.dumps(report))
    if not report["passed"]:
        logger.error("ONNX and PyTorch disagree beyond the bounds")
    return 0 if report["passed"] else EXIT_PARITY_FAILED
