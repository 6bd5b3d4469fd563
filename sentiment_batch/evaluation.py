"""`sentiment-batch evaluate`: how good a bundle is on labelled reviews, with the runtime alone.

The reviews are scored as `score` scores them; rows that cannot be scored (blank text, say) are counted, not
measured. Labels are matched to the bundle's classes as `train` matches them (`sentiment_batch.labels`), and the
figures are training's own (`sentiment_batch.metrics`), pooled and per value of a `source` column.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .bundle import Bundle, load_bundle
from .columns import names_shown
from .errors import UserError, shown
from .labels import SOURCE_COLUMN, class_id
from .metrics import accuracy, confusion_matrix, expected_calibration_error, macro_f1
from .readers import discover, open_source
from .scorer import Scorer

_TEXT = "text"  # the one column of the batches sent to the scorer


@dataclass
class Labelled:
    """A chunk of labelled reviews: texts, each one's class id among the bundle's labels, and its source."""

    texts: pa.Array
    references: np.ndarray
    sources: pa.Array | None = None


@dataclass
class Scored:
    """What scoring the chunks gave, row by row: probabilities `[N, C]`, class ids, sources, and which were scored."""

    probabilities: list[np.ndarray] = field(default_factory=list)
    references: list[np.ndarray] = field(default_factory=list)
    sources: list[pa.Array] = field(default_factory=list)
    scored: list[np.ndarray] = field(default_factory=list)


def evaluate_bundle(
    bundle: Bundle,
    datasets: Sequence[str | os.PathLike],
    *,
    text_column: str = "text",
    label_column: str = "label",
) -> dict:
    """Score labelled reviews with a bundle and measure it: one JSON-ready dict.

    Keys: `rows` (scored and measured), `unscorable` (rows that could not be scored, left out of the figures),
    `accuracy`, `macro_f1`, `ece` (expected calibration error, 15 bins), `confusion` (true label → predicted
    label → count), and with a `source` column the same per source under `sources`. Figures are None with no
    row measured.

    Args:
        bundle (`Bundle`): from `load_bundle`.
        datasets (`Sequence[str | os.PathLike]`): labelled review files, globs or folders, in any format `score`
            reads.
        text_column (`str`, *optional*, defaults to "text"): the column holding the review text.
        label_column (`str`, *optional*, defaults to "label"): the column holding its label.
    """
    labels = bundle.labels
    scored = score_chunks(bundle, file_chunks(datasets, labels, text_column, label_column))
    return measure(scored, labels)


def file_chunks(
    datasets: Sequence[str | os.PathLike], labels: Sequence[str], text_column: str, label_column: str
) -> Iterator[Labelled]:
    """The labelled rows of review files (any format `score` reads), batch by batch, each label matched to a class
    of `labels`."""
    for file in discover([os.fspath(dataset) for dataset in datasets]):
        source = open_source(file)
        missing = [name for name in (text_column, label_column) if name not in source.schema.names]
        if missing:
            raise UserError(
                f"{shown(file.name)} has no column(s) {names_shown(missing)}; "
                f"its columns are {names_shown(source.schema.names)}"
            )
        for batch in source.batches(text_column=text_column):
            sources = batch.column(SOURCE_COLUMN) if SOURCE_COLUMN in source.schema.names else None
            references = class_ids(batch.column(label_column), labels, file.name)
            yield Labelled(
                batch.column(text_column), references, None if sources is None else sources.cast(pa.string())
            )


def class_ids(column: pa.Array, labels: Sequence[str], where: str) -> np.ndarray:
    """Each label's class id among `labels`; a missing label or one that names no class is refused in one line.

    Args:
        column (`pa.Array`): the label column of one batch.
        labels (`Sequence[str]`): the bundle's class names.
        where (`str`): the file, for the message.
    """
    if column.null_count:
        raise UserError(f"{shown(where)} has reviews without a label")
    values = pc.unique(column)
    ids = [class_id(labels, value) for value in values.to_pylist()]
    unknown = [value for value, found in zip(values.to_pylist(), ids, strict=True) if found is None]
    if unknown:
        shown_values = ", ".join(map(repr, unknown[:10]))
        raise UserError(f"{shown(where)} has labels {shown_values}, none of the bundle's labels {', '.join(labels)}")
    return np.asarray(ids, dtype=np.int64)[pc.index_in(column, value_set=values).to_numpy()]


def score_chunks(bundle: Bundle, chunks: Iterator[Labelled]) -> Scored:
    """Score every chunk's texts (the next chunk read while one is scored) and keep what measuring needs."""
    scored, pending = Scored(), deque()

    def texts() -> Iterator[pa.RecordBatch]:
        for chunk in chunks:
            pending.append(chunk)
            yield pa.RecordBatch.from_arrays([chunk.texts], [_TEXT])

    with Scorer(bundle) as scorer:
        columns = scorer.output_columns()
        for batch in scorer.score_batches(texts(), _TEXT):
            chunk = pending.popleft()
            probabilities = [
                batch.column(name).to_numpy(zero_copy_only=False) for name in columns.probabilities.values()
            ]
            scored.probabilities.append(np.column_stack(probabilities))
            scored.scored.append(batch.column(columns.error).is_null().to_numpy(zero_copy_only=False))
            scored.references.append(chunk.references)
            if chunk.sources is not None:
                scored.sources.append(chunk.sources)
    return scored


def measure(scored: Scored, labels: Sequence[str]) -> dict:
    """The figures of every scored row, and per source when the reviews have one."""
    count = len(labels)
    probabilities = np.concatenate(scored.probabilities) if scored.probabilities else np.zeros((0, count))
    references = np.concatenate(scored.references) if scored.references else np.zeros(0, np.int64)
    ok = np.concatenate(scored.scored) if scored.scored else np.zeros(0, bool)
    report = figures(probabilities, references, ok, labels)
    if scored.sources and len(scored.sources) == len(scored.references):
        sources = pa.chunked_array(scored.sources, pa.string())
        names = pc.unique(sources)
        groups = pc.index_in(sources, value_set=names).to_numpy()
        report["sources"] = {
            name: figures(probabilities[groups == index], references[groups == index], ok[groups == index], labels)
            for index, name in sorted(enumerate(names.to_pylist()), key=lambda pair: str(pair[1]))
        }
    return report


def figures(probabilities: np.ndarray, references: np.ndarray, ok: np.ndarray, labels: Sequence[str]) -> dict:
    """Rows, unscorable rows, accuracy, macro-F1, ECE and the confusion matrix of the scored rows.

    Args:
        probabilities (`np.ndarray`): class probabilities `[N, C]` (anything where a row was not scored).
        references (`np.ndarray`): true class ids `[N]`.
        ok (`np.ndarray`): which rows were scored `[N]`.
        labels (`Sequence[str]`): the class names.
    """
    probabilities, references = probabilities[ok], references[ok]
    confusion = confusion_matrix(probabilities.argmax(axis=1), references, len(labels))
    measured = len(references) > 0
    return {
        "rows": len(references),
        "unscorable": int(np.count_nonzero(~ok)),
        "accuracy": accuracy(confusion) if measured else None,
        "macro_f1": macro_f1(confusion) if measured else None,
        "ece": expected_calibration_error(probabilities, references) if measured else None,
        "confusion": {
            true: {predicted: int(confusion[row, column]) for column, predicted in enumerate(labels)}
            for row, true in enumerate(labels)
        },
    }


def build_parser() -> argparse.ArgumentParser:
    """Options of `sentiment-batch evaluate`."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch evaluate",
        description="Score labelled reviews with a bundle and print one JSON object: rows, unscorable, accuracy, "
        "macro_f1, ece, confusion (true label → predicted label → count), and the same per value of a source "
        "column. Labels match the bundle's classes as train matches them (0/1, neg/pos, any case).",
    )
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle folder (default: the bundle shipped with the package)"
    )
    parser.add_argument(
        "--dataset",
        required=True,
        nargs="+",
        help="labelled review files, globs or folders (any format score reads)",
    )
    parser.add_argument("--text-column", default="text", help="column holding the review text (default: text)")
    parser.add_argument("--label-column", default="label", help="column holding its label (default: label)")
    return parser


def main(argv: list[str]) -> int:
    """Run `sentiment-batch evaluate` with the arguments that follow `evaluate`."""
    args = build_parser().parse_args(argv)
    bundle = load_bundle(args.bundle)
    report = evaluate_bundle(bundle, args.dataset, text_column=args.text_column, label_column=args.label_column)
    print(json.dumps({"bundle": str(bundle.path), **report}))
    return 0
