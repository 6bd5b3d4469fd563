"""A run's classes, read from its data: which label values there are, their names and order, each row's class id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetInfo
from datasets.table import InMemoryTable

from sentiment_batch.errors import UserError

from .data import distinct_values

# Label values read as binary sentiment, any case, surrounding spaces ignored.
SENTIMENT_IDS = {0: 0, 1: 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
SENTIMENT_NAMES = ("negative", "positive")


@dataclass(frozen=True)
class LabelSet:
    """The classes of a run, in class-id order.

    Args:
        names (`tuple[str, ...]`): class names, the model's `id2label`.
    """

    names: tuple[str, ...]

    def feature(self) -> ClassLabel:
        """The `datasets` feature of the label column."""
        return ClassLabel(names=list(self.names))


def written_labels(dataset: Dataset) -> list:
    """The distinct label values of a split as written: a `ClassLabel` column's names, else its values.

    Args:
        dataset (`datasets.Dataset`): with a `label` column.
    """
    values, positions = distinct_values(dataset.with_format("arrow")[:]["label"])
    return _names([values[index] for index in np.unique(positions)], dataset.features["label"])


def find_labels(values_by_origin: dict[str, list]) -> LabelSet:
    """The run's classes from the label values of each of its splits.

    Args:
        values_by_origin (`dict[str, list]`): each split's distinct label values (`written_labels`), by where it
            comes from (for the messages).
    """
    for origin, values in values_by_origin.items():
        bad = sorted({repr(value) for value in values if _sentiment_id(value) is None})
        if bad:
            raise UserError(f"{origin} has labels {', '.join(bad[:10])}; expected 0/1 or neg/pos (negative/positive)")
    return LabelSet(SENTIMENT_NAMES)


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
    ids[used] = [
        _class_id(value, labels, origin) for value in _names([values[i] for i in used], dataset.features["label"])
    ]
    class_ids = ids[positions]
    table = table.set_column(table.column_names.index("label"), "label", pa.array(class_ids))
    features = dataset.features.copy()
    features["label"] = labels.feature()
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features))


def _names(values: list, feature) -> list:
    """Label values as written: a `ClassLabel`'s names for its ids."""
    if isinstance(feature, ClassLabel):
        return [None if value is None else feature.int2str(value) for value in values]
    return values


def _class_id(value: object, labels: LabelSet, origin: str) -> int:
    class_id = _sentiment_id(value)
    if class_id is None:
        raise UserError(f"{origin} has labels {value!r}; expected 0/1 or neg/pos (negative/positive)")
    return class_id


def _sentiment_id(value: object) -> int | None:
    key = value.strip().lower() if isinstance(value, str) else value
    return SENTIMENT_IDS.get(key) if isinstance(key, (int, str)) else None
