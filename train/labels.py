"""A run's classes, read from its data: which label values there are, their names and order, each row's class id.

The order, which is the model's class-id order:
- values read as binary sentiment (0/1, neg/pos, negative/positive, any case) are `negative`, `positive`;
- whole numbers (ints, or strings and floats holding one: star ratings) are sorted numerically, named as numbers;
- any other labels are named as written (surrounding spaces dropped) and sorted in Python's string order;
- names given by the user (`labels`) fix the names and their order; a row with another label is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetInfo
from datasets.table import InMemoryTable

from sentiment_batch.bundle import MAX_LABEL_CHARS, is_label_name
from sentiment_batch.errors import UserError
from sentiment_batch.labels import SENTIMENT_NAMES, class_id, sentiment_id, whole_number, written

from .data import distinct_values

# More classes than this is more likely a text or id column given as the label than a set of classes.
MAX_CLASSES = 100


@dataclass(frozen=True)
class LabelSet:
    """The classes of a run, in class-id order.

    Args:
        names (`tuple[str, ...]`): class names, the model's `id2label`.
        values (`tuple[int, ...]`, *optional*): the number each class stands for, when the labels are whole
            numbers (star ratings: ordinal); None otherwise.
    """

    names: tuple[str, ...]
    values: tuple[int, ...] | None = None

    def feature(self) -> ClassLabel:
        """The `datasets` feature of the label column."""
        return ClassLabel(names=list(self.names))

    def class_id(self, value: object) -> int | None:
        """The class id of a label value as written, or None when it is none of the classes."""
        return class_id(self.names, value)


def label_names(labels: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Class names given by the user, as a list or one comma-separated string; None when not given.

    Args:
        labels (`str | Sequence[str] | None`): e.g. `"negative,neutral,positive"`.
    """
    if labels is None:
        return None
    names = tuple(str(name).strip() for name in (labels.split(",") if isinstance(labels, str) else labels))
    if len(names) < 2 or len(set(names)) != len(names) or not all(names):
        raise UserError(f"labels must be two or more distinct names, got {', '.join(map(repr, names))}")
    _check_names(names)
    return names


def written_labels(dataset: Dataset) -> list:
    """The distinct label values of a split as written: a `ClassLabel` column's names, else its values.

    Args:
        dataset (`datasets.Dataset`): with a `label` column.
    """
    values, positions = distinct_values(dataset.with_format("arrow")[:]["label"])
    return _names([values[index] for index in np.unique(positions)], dataset.features["label"])


def find_labels(values_by_origin: dict[str, list], fixed: Sequence[str] | None = None) -> LabelSet:
    """The run's classes from the label values of each of its splits.

    Args:
        values_by_origin (`dict[str, list]`): each split's distinct label values (`written_labels`), by where it
            comes from (for the messages).
        fixed (`Sequence[str]`, *optional*): class names given by the user, in class-id order.
    """
    for origin, values in values_by_origin.items():
        if any(_is_missing(value) for value in values):
            raise UserError(f"{origin} has reviews without a label")
    values = list({repr(value): value for values in values_by_origin.values() for value in values}.values())
    if fixed is not None:
        labels = LabelSet(tuple(fixed), _whole_numbers(fixed))
        for origin, found in values_by_origin.items():
            other = sorted({repr(value) for value in found if labels.class_id(value) is None})
            if other:
                raise UserError(
                    f"{origin} has labels {', '.join(other[:10])}, none of the given labels {', '.join(fixed)}"
                )
        return labels
    if all(sentiment_id(value) is not None for value in values):
        return LabelSet(SENTIMENT_NAMES)
    numbers = _whole_numbers(values)
    if numbers is not None:
        numbers = tuple(sorted(set(numbers)))
        labels = LabelSet(tuple(str(number) for number in numbers), numbers)
    else:
        labels = LabelSet(tuple(sorted({written(value) for value in values})))
    if len(labels.names) > MAX_CLASSES:
        shown = ", ".join(map(repr, labels.names[:5]))
        raise UserError(
            f"the label column holds {len(labels.names)} different values ({shown}, ...), more than "
            f"{MAX_CLASSES} classes; is it the right column?"
        )
    _check_names(labels.names)
    return labels


def with_class_ids(dataset: Dataset, labels: LabelSet, origin: str) -> Dataset:
    """The split with its `label` column turned into class ids of `labels` (a `ClassLabel` column).

    Args:
        dataset (`datasets.Dataset`): a split of `data.read_labelled`.
        labels (`LabelSet`): the run's classes.
        origin (`str`): where the split comes from, for the messages.
    """
    table = dataset.with_format("arrow")[:]
    values, positions = distinct_values(table["label"])
    used = np.unique(positions)
    ids = np.zeros(len(values), dtype=np.int64)
    for index, value in zip(used, _names([values[i] for i in used], dataset.features["label"]), strict=True):
        class_id = labels.class_id(value)
        if class_id is None:
            raise UserError(f"{origin} has labels {value!r}, none of the classes {', '.join(labels.names)}")
        ids[index] = class_id
    table = table.set_column(table.column_names.index("label"), "label", pa.array(ids[positions]))
    features = dataset.features.copy()
    features["label"] = labels.feature()
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features))


def _names(values: list, feature) -> list:
    """Label values as written: a `ClassLabel`'s names for its ids."""
    if isinstance(feature, ClassLabel):
        return [None if value is None else feature.int2str(value) for value in values]
    return values


def _is_missing(value: object) -> bool:
    return (
        value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())
    )


def _whole_numbers(values) -> tuple[int, ...] | None:
    numbers = tuple(whole_number(value) for value in values)
    return None if any(number is None for number in numbers) else numbers


def _check_names(names: Sequence[str]) -> None:
    """Refuse names a bundle cannot carry (`sentiment_batch.bundle.check_labels`)."""
    bad = [name for name in names if not is_label_name(name)]
    if bad:
        raise UserError(
            f"label {bad[0]!r} cannot name a class: names must be printable, 1 to {MAX_LABEL_CHARS} characters"
        )
