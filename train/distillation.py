"""Distillation from unlabelled reviews: teachers trained on the labelled reviews label the unlabelled ones.

The data side of the recipe: the settings, the teachers' averaged probabilities, and the student's training
set of labelled reviews (their one-hot labels) and pseudo-labelled ones (the teachers' probabilities).
`training.py` trains the teachers and the student.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset, Sequence, Value, concatenate_datasets

from sentiment_batch.errors import UserError

from .data import AUTO

PROBABILITIES = Sequence(Value("float32"))


@dataclass
class DistillationArguments:
    unlabeled: str = field(
        default=AUTO,
        metadata={
            "help": "Unlabelled reviews to distil with: 'auto' (the dataset's own: aclImdb train/unsup, the Hub's "
            "unsupervised split), a Parquet/CSV/JSONL file or folder with a text column, or 'none' (no teachers)."
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

    def __post_init__(self):
        if self.num_teachers < 0:
            raise UserError(f"num_teachers must be at least 0, got {self.num_teachers}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise UserError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        if self.student_epochs <= 0:
            raise UserError(f"student_epochs must be positive, got {self.student_epochs}")


def without_texts(unlabeled: Dataset, held_out: list[str]) -> Dataset:
    """The unlabelled reviews less any whose text is also a held-out (validation or test) review.

    Args:
        unlabeled (`datasets.Dataset`): the unlabelled reviews (`text`).
        held_out (`list[str]`): the texts the student must never learn from.
    """
    held_out = set(held_out)
    kept = [row for row, text in enumerate(unlabeled["text"]) if text not in held_out]
    return unlabeled if len(kept) == len(unlabeled) else unlabeled.select(kept)


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


def student_set(labelled: Dataset, unlabeled: Dataset, targets: np.ndarray, num_labels: int) -> Dataset:
    """Labelled reviews with one-hot targets followed by the pseudo-labelled ones: `input_ids` and `labels` rows.

    Args:
        labelled (`datasets.Dataset`): tokenized labelled reviews (`input_ids`, class-id `labels`).
        unlabeled (`datasets.Dataset`): tokenized unlabelled reviews kept (`input_ids`), in `targets`' order.
        targets (`np.ndarray`): their class probabilities, `[len(unlabeled), num_labels]`.
        num_labels (`int`): classes.
    """
    one_hot = np.eye(num_labels, dtype=np.float32)[np.asarray(labelled["labels"])]
    parts = [
        labelled.select_columns(["input_ids"]).add_column("labels", one_hot.tolist()),
        unlabeled.select_columns(["input_ids"]).add_column("labels", targets.tolist()),
    ]
    return concatenate_datasets([part.cast_column("labels", PROBABILITIES) for part in parts])
