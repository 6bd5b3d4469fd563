"""Distillation from unlabelled reviews: teachers trained on the labelled reviews label the unlabelled ones.

The data side of the recipe: the settings, the teachers' averaged probabilities, and the student's training
set of labelled reviews (their one-hot labels) and pseudo-labelled ones (the teachers' probabilities).
`training.py` trains the teachers and the student.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Value, concatenate_datasets

from sentiment_batch.errors import UserError

from .data import AUTO, NONE

PROBABILITIES = datasets.Sequence(Value("float32"))


@dataclass
class DistillationArguments:
    unlabeled: list[str] = field(
        default_factory=lambda: [AUTO],
        metadata={
            "help": "Unlabelled reviews to distil with: 'auto' (the datasets' own: aclImdb train/unsup, the Hub's "
            "unsupervised split, and the training reviews class balancing leaves out), Parquet/CSV/JSONL files or "
            "folders with a text column (with or without 'auto'), or 'none' (no teachers)."
        },
    )
    num_teachers: int = field(
        default=3, metadata={"help": "Teachers trained on the labelled reviews (seeds seed, seed+1, ...); 0: none."}
    )
    soft_targets: bool = field(
        default=True, metadata={"help": "Learn the teachers' averaged probabilities, not their argmax."}
    )
    min_confidence: float = field(
        default=0.0, metadata={"help": "Keep unlabelled reviews whose averaged top probability is at least this."}
    )
    student_epochs: float = field(
        default=1.0,
        metadata={
            "help": "Epochs of the student over labelled + unlabelled reviews (the teachers: --num_train_epochs)."
        },
    )
    max_unlabeled: int | None = field(
        default=None,
        metadata={"help": "Distil with at most this many unlabelled reviews, a seeded sample (default: all)."},
    )

    def __post_init__(self):
        self.unlabeled = [self.unlabeled] if isinstance(self.unlabeled, str) else list(self.unlabeled)
        if not self.unlabeled or (NONE in self.unlabeled and len(self.unlabeled) > 1):
            raise UserError(f"unlabeled takes 'none' alone, or 'auto' and/or paths; got {' '.join(self.unlabeled)}")
        if self.num_teachers < 0:
            raise UserError(f"num_teachers must be at least 0, got {self.num_teachers}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise UserError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        if self.max_unlabeled is not None and self.max_unlabeled < 1:
            raise UserError(f"max_unlabeled must be at least 1, got {self.max_unlabeled}")
        if self.student_epochs <= 0:
            raise UserError(f"student_epochs must be positive, got {self.student_epochs}")


def without_texts(unlabeled: Dataset, held_out: pa.Array | pa.ChunkedArray | Sequence[str] | None) -> Dataset:
    """The unlabelled reviews less any whose text is also a held-out (validation or test) review.

    Args:
        unlabeled (`datasets.Dataset`): the unlabelled reviews (`text`).
        held_out (`pa.Array | Sequence[str] | None`): the texts the student must never learn from.
    """
    if held_out is None or len(held_out) == 0:
        return unlabeled
    texts = unlabeled.with_format("arrow")[:]["text"]
    seen = pc.is_in(texts, value_set=pa.array(held_out, pa.string()) if isinstance(held_out, list) else held_out)
    kept = np.flatnonzero(~seen.to_numpy(zero_copy_only=False))
    return unlabeled if len(kept) == len(unlabeled) else unlabeled.select(kept)


def sampled(texts: Dataset, count: int | None, seed: int) -> Dataset:
    """At most `count` of the reviews, a seeded sample kept in order; all of them when `count` is None.

    Args:
        texts (`datasets.Dataset`): the unlabelled reviews.
        count (`int | None`): most reviews kept.
        seed (`int`): seed of the sample.
    """
    if count is None or len(texts) <= count:
        return texts
    return texts.select(np.sort(np.random.default_rng(seed).choice(len(texts), count, replace=False)))


def pseudo_labels(
    probabilities: list[np.ndarray], soft: bool = True, min_confidence: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The targets the student learns for the unlabelled reviews, and which reviews keep one.

    Args:
        probabilities (`list[np.ndarray]`): each teacher's class probabilities, `[reviews, classes]`.
        soft (`bool`, *optional*, defaults to True): the averaged probabilities; else their one-hot argmax.
        min_confidence (`float`, *optional*, defaults to 0.0): smallest averaged top probability kept.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: targets `[kept, classes]` (float32) and the kept rows' indices.
    """
    averaged = np.mean(probabilities, axis=0, dtype=np.float64)  # [N, C]
    kept = np.flatnonzero(averaged.max(axis=1) >= min_confidence)
    targets = averaged[kept]
    if not soft:
        targets = np.eye(averaged.shape[1])[targets.argmax(axis=1)]
    return targets.astype(np.float32), kept


def student_set(labelled: Dataset, rows: np.ndarray | None, unlabeled: Dataset, targets: np.ndarray) -> Dataset:
    """Labelled reviews with one-hot targets followed by the pseudo-labelled ones: `input_ids` and `labels` rows.

    Args:
        labelled (`datasets.Dataset`): tokenized labelled reviews (`input_ids`, class-id `labels`), each once.
        rows (`np.ndarray | None`): the labelled training set as rows of `labelled`, repeats included; None: each
            row once.
        unlabeled (`datasets.Dataset`): tokenized unlabelled reviews kept (`input_ids`), in `targets`' order.
        targets (`np.ndarray`): their class probabilities, `[len(unlabeled), classes]`.
    """
    num_labels = targets.shape[1]
    one_hot = np.eye(num_labels, dtype=np.float32)[np.asarray(labelled["labels"])]  # [N, C]
    labelled = labelled.select_columns(["input_ids"]).add_column("labels", _probability_lists(one_hot))
    labelled = labelled.cast_column("labels", PROBABILITIES)
    if rows is not None:
        labelled = labelled.select(rows)  # an index mapping: repeated rows are not copied
    unlabeled = unlabeled.select_columns(["input_ids"]).add_column("labels", _probability_lists(targets))
    return concatenate_datasets([labelled, unlabeled.cast_column("labels", PROBABILITIES)])


def _probability_lists(probabilities: np.ndarray) -> pa.ListArray:
    """Rows of a `[N, C]` float32 array as an Arrow list column, without a Python list per row."""
    count, width = probabilities.shape
    values = pa.array(np.ascontiguousarray(probabilities, dtype=np.float32).reshape(-1))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, count * width + 1, width, dtype=np.int32)), values)
