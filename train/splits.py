"""One run's train, validation and test splits from its labelled sources.

A source is one dataset argument, or one value of a file's `source` column. Each source gets its own validation
split (grouped by movie where movie ids are known, else a seeded random split); then, when balancing, each class
of its training and validation parts is cut to its smallest class's count, its training part is capped, and its
training rows are repeated by the source's weight. What balancing and the cap leave out of training can still
serve as unlabelled text.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, concatenate_datasets

from sentiment_batch.errors import UserError
from sentiment_batch.labels import SOURCE_COLUMN

from .data import has_text, movie_reviews, read_labelled, split_sources
from .labels import LabelSet, find_labels, label_names, with_class_ids, written_labels

logger = logging.getLogger(__name__)

AUTO = "auto"
BALANCE_CHOICES = (AUTO, "true", "false")


@dataclass
class SourceRows:
    """One source of a run and its rows.

    Args:
        name (`str`): the source's name (in metric keys and the model card).
        origin (`str`): the dataset argument it comes from.
        weight (`float`): how many times each of its training rows is used.
        rows (`dict[str, int]`): `labelled` (its training part before balancing), `train` (after balancing and the
            cap), `weighted` (`train` times the weight), `validation`, `test` and `surplus` (left out by balancing
            and the cap).
        grouped (`bool`, *optional*, defaults to False): whether its validation split was grouped by movie.
    """

    name: str
    origin: str
    weight: float = 1.0
    rows: dict[str, int] = field(default_factory=dict)
    grouped: bool = False


@dataclass
class LabelledData:
    """A run's labelled splits and what shaped them.

    Args:
        splits (`datasets.DatasetDict`): `train` (each kept training review once), `validation` and, when the
            sources have one, `test`; columns text, label (class ids), rating, movie_id, source.
        labels (`LabelSet`): the classes.
        sources (`list[SourceRows]`): every source, in order.
        train_rows (`np.ndarray`, *optional*): the training set as rows of `splits["train"]`, repeats included;
            None when it is every row once.
        surplus (`datasets.Dataset`, *optional*): texts of the training reviews that balancing and the cap left out.
        held_out (`pa.ChunkedArray`, *optional*): texts of every validation and test review, those balancing left
            out included: text that must never be learnt from.
        balanced (`bool`, *optional*, defaults to False): whether each source's classes were balanced.
    """

    splits: DatasetDict
    labels: LabelSet
    sources: list[SourceRows]
    train_rows: np.ndarray | None = None
    surplus: Dataset | None = None
    held_out: pa.ChunkedArray | None = None
    balanced: bool = False

    def sample_training_rows(self, count: int, seed: int) -> None:
        """Keep a seeded sample of `count` training rows (repeats counted), as `Dataset.shuffle(seed)` draws it.

        Args:
            count (`int`): rows to keep.
            seed (`int`): seed of the sample.
        """
        train = self.splits["train"]
        rows = np.arange(len(train)) if self.train_rows is None else self.train_rows
        picked = rows[np.random.default_rng(seed).permutation(len(rows))[: min(count, len(rows))]]
        distinct, first = np.unique(picked, return_index=True)
        order = distinct[np.argsort(first)]  # each row once, in order of first pick
        self.splits["train"] = train.select(order)
        if self.train_rows is not None:
            position = np.empty(len(train), dtype=np.int64)
            position[order] = np.arange(len(order))
            self.train_rows = position[picked]

    def class_counts(self, split: str) -> np.ndarray:
        """Reviews of each class in a split (`"training"`: the training rows, repeats included)."""
        dataset = self.splits["train" if split == "training" else split]
        labels = np.asarray(dataset.with_format("arrow")[:]["label"].to_numpy(), dtype=np.int64)
        if split == "training" and self.train_rows is not None:
            labels = labels[self.train_rows]
        return np.bincount(labels, minlength=len(self.labels.names))


def balance_setting(value: object) -> str:
    """`auto`, `true` or `false` from a flag's string or a config file's boolean.

    Args:
        value (`object`): the setting as given.
    """
    setting = str(value).strip().lower()
    if setting not in BALANCE_CHOICES:
        raise UserError(f"balance_classes must be one of {', '.join(BALANCE_CHOICES)}, got {value!r}")
    return setting


def load_splits(
    datasets: str | Sequence[str],
    validation_size: float = 0.1,
    seed: int = 42,
    balance_classes: str = AUTO,
    labels: str | Sequence[str] | None = None,
) -> DatasetDict:
    """The labelled splits of one or several datasets, as `train` carves them: `load_labelled(...).splits`.

    Args:
        datasets (`str | Sequence[str]`): the dataset arguments (`data.read_labelled`).
        validation_size (`float`): share of each source (0 < x < 1), or its number of reviews (>= 1), held out.
        seed (`int`): seed of the validation split and of the balancing.
        balance_classes (`str`): `auto` (balance when there are several sources), `true` or `false`.
        labels (`str | Sequence[str]`, *optional*): the class names, in class-id order (a model's labels).
    """
    return load_labelled(datasets, validation_size, seed, balance_classes=balance_classes, labels=labels).splits


def load_labelled(
    datasets: str | Sequence[str],
    validation_size: float = 0.1,
    seed: int = 42,
    weights: Sequence[float] | None = None,
    balance_classes: str = AUTO,
    max_rows_per_source: int | Sequence[int] | None = None,
    labels: str | Sequence[str] | None = None,
) -> LabelledData:
    """Read every dataset, find the classes, and build the run's splits source by source.

    Args:
        datasets (`str | Sequence[str]`): the dataset arguments (`data.read_labelled`).
        validation_size (`float`, *optional*, defaults to 0.1): share of each source (0 < x < 1), or its number
            of reviews (>= 1), held out for validation; grouped by movie when movie ids are known.
        seed (`int`, *optional*, defaults to 42): seed of the validation split, the balancing and the weights.
        weights (`Sequence[float]`, *optional*): one per dataset (default 1 each): how many times each training
            row of its sources is used; a fraction takes a seeded share of the rows.
        balance_classes (`str`, *optional*, defaults to `"auto"`): cut each source's classes to its smallest
            class's count: `true`, `false`, or `auto` (when there is more than one source).
        max_rows_per_source (`int | Sequence[int]`, *optional*): most training rows kept of each source (after
            balancing, keeping it): one cap for every dataset's sources, or one per dataset (0: none).
        labels (`str | Sequence[str]`, *optional*): the class names in class-id order, as a list or one
            comma-separated string; by default they come from the data (`labels.find_labels`).
    """
    datasets = [datasets] if isinstance(datasets, str) else [str(dataset) for dataset in datasets]
    weights = _checked_weights(datasets, weights)
    caps = _checked_caps(datasets, max_rows_per_source)
    read = [read_labelled(dataset) for dataset in datasets]
    labels = find_labels(
        {
            f"{dataset}[{split}]": written_labels(part)
            for dataset, splits in zip(datasets, read, strict=True)
            for split, part in splits.items()
        },
        label_names(labels),
    )
    read = [
        DatasetDict({split: with_class_ids(part, labels, f"{dataset}[{split}]") for split, part in splits.items()})
        for dataset, splits in zip(datasets, read, strict=True)
    ]
    _unique_source_names(read)
    sources = [
        (SourceRows(name, dataset, weight), splits, rows, cap)
        for dataset, weight, cap, splits in zip(datasets, weights, caps, read, strict=True)
        for name, rows in _rows_by_source(splits["train"]).items()
    ]
    balance = balance_setting(balance_classes)
    balance = len(sources) > 1 if balance == AUTO else balance == "true"
    layout = _Layout(validation_size, seed, balance)
    parts = [layout.carve(source, splits["train"], rows, cap) for source, splits, rows, cap in sources]
    data = _assemble(parts, [splits.get("test") for splits in read], labels)
    data.balanced = balance
    logger.info(
        "loaded %s: %s", ", ".join(datasets), ", ".join(f"{name} {len(split):,}" for name, split in data.splits.items())
    )
    return data


def _checked_weights(datasets: list[str], weights: Sequence[float] | None) -> list[float]:
    if weights is None or len(weights) == 0:
        return [1.0] * len(datasets)
    if len(weights) != len(datasets):
        raise UserError(f"{len(weights)} dataset weights given for {len(datasets)} datasets; give one per dataset")
    if not all(np.isfinite(weight) and weight >= 0 for weight in weights):
        raise UserError(f"dataset weights must be finite and at least 0, got {', '.join(map(str, weights))}")
    return [float(weight) for weight in weights]


def _checked_caps(datasets: list[str], caps: int | Sequence[int] | None) -> list[int | None]:
    if caps is None or isinstance(caps, int):
        caps = [caps] * len(datasets)
    elif len(caps) == 1:
        caps = list(caps) * len(datasets)
    elif len(caps) != len(datasets):
        raise UserError(f"{len(caps)} row caps given for {len(datasets)} datasets; give one, or one per dataset")
    if any(cap is not None and cap < 0 for cap in caps):
        raise UserError(f"max_rows_per_source must be at least 0 (no cap), got {', '.join(map(str, caps))}")
    return [cap or None for cap in caps]


def _rows_by_source(train: Dataset) -> dict[str, np.ndarray]:
    """Each source's rows of a split, sources in order of their names."""
    positions, names = split_sources(train)
    order = np.argsort(positions, kind="stable")
    bounds = np.cumsum(np.bincount(positions, minlength=len(names)))
    groups = dict(zip(names, np.split(order, bounds[:-1]), strict=True))
    return {name: groups[name] for name in sorted(groups)}


def _unique_source_names(read: list[DatasetDict]) -> None:
    """Rename, in place, sources of different datasets that share a name: the later ones get `-2`, `-3`, ..."""
    taken: set[str] = set()
    for index, splits in enumerate(read):
        names = set(pc.unique(splits["train"].with_format("arrow")[:][SOURCE_COLUMN]).to_pylist())
        renamed = {}
        for name in sorted(names):
            unique, number = name, 1
            while unique in taken:
                number += 1
                unique = f"{name}-{number}"
            taken.add(unique)
            if unique != name:
                renamed[name] = unique
        if renamed:
            read[index] = DatasetDict({split: _renamed_sources(part, renamed) for split, part in splits.items()})


def _renamed_sources(dataset: Dataset, renamed: dict[str, str]) -> Dataset:
    def rename(batch: dict) -> dict:
        return {SOURCE_COLUMN: [renamed.get(name, name) for name in batch[SOURCE_COLUMN]]}

    return dataset.map(rename, batched=True, desc="renaming sources")


@dataclass
class _Part:
    """A source's rows of its dataset's train split: training (weighted), validation, held out and surplus."""

    source: SourceRows
    dataset: Dataset
    train: np.ndarray
    weighted: np.ndarray  # positions in `train`, repeats included
    validation: np.ndarray
    carved: np.ndarray  # every validation row, before balancing
    surplus: np.ndarray


@dataclass
class _Layout:
    validation_size: float
    seed: int
    balance: bool

    def carve(self, source: SourceRows, dataset: Dataset, rows: np.ndarray, cap: int | None) -> _Part:
        """Validation, balancing, cap and weight of one source's rows of `dataset`."""
        table = dataset.with_format("arrow")[:]
        labels = np.asarray(table["label"].to_numpy(), dtype=np.int64)
        movie_ids = table["movie_id"].take(pa.array(rows))
        grouped = source.grouped = bool(pc.any(pc.not_equal(movie_ids, "")).as_py())
        if not grouped and not self.balance and movie_reviews(source.origin):
            logger.warning(
                "%s has no movie ids: validation is a random split, which shares movies with train and reads "
                "optimistic for movie reviews",
                source.name,
            )
        movie_ids = movie_ids.to_pylist() if grouped else None
        train, carved = validation_split(len(rows), movie_ids, self.validation_size, self.seed, source.name)
        train, carved = rows[train], rows[carved]
        validation, surplus = carved, np.zeros(0, dtype=np.int64)
        generator = np.random.default_rng([self.seed, zlib.crc32(source.name.encode())])
        if self.balance:
            train, surplus = _balanced(train, labels, generator, source.name, "its training part")
            validation, _ = _balanced(validation, labels, generator, source.name, "its validation split")
        if cap is not None and len(train) > cap:
            train, capped = _capped(train, labels, cap, self.balance, generator)
            surplus = np.sort(np.concatenate([surplus, capped]))
        weighted = _weighted(len(train), source.weight, generator)
        source.rows = {
            "labelled": len(rows) - len(carved),
            "train": len(train),
            "weighted": len(weighted),
            "validation": len(validation),
            "surplus": len(surplus),
        }
        return _Part(source, dataset, train, weighted, validation, carved, surplus)


def validation_split(
    count: int, movie_ids: list[str] | None, validation_size: float, seed: int, origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and of the validation rows, each in order: whole movies when ids are known.

    Movies (and reviews of no known movie, each a group of its own) are shuffled with `seed` and taken until the
    validation share is reached; without movie ids that is a plain seeded random split.

    Args:
        count (`int`): number of rows.
        movie_ids (`list[str] | None`): each row's movie id ("" unknown), or None when no row has one.
        validation_size (`float`): share (0 < x < 1) or number (>= 1) of rows to hold out.
        seed (`int`): seed of the shuffle.
        origin (`str`): the rows' source, for the messages.
    """
    target = _validation_count(validation_size, count, origin)
    if movie_ids is None:
        # One group per row, in row order: the same shuffle as the grouped path's, without the groups.
        order = list(range(count))
        random.Random(seed).shuffle(order)
        validation = np.asarray(order[:target], dtype=np.int64)
    else:
        rows_by_group = defaultdict(list)
        for row, movie_id in enumerate(movie_ids):
            rows_by_group[movie_id, -1 if movie_id else row].append(row)
        groups = sorted(rows_by_group)
        random.Random(seed).shuffle(groups)
        chosen: list[int] = []
        for group in groups:
            if len(chosen) >= target:
                break
            chosen.extend(rows_by_group[group])
        validation = np.asarray(chosen, dtype=np.int64)
    if len(validation) == count:
        raise UserError(f"validation_size {validation_size} leaves {origin} no training reviews ({count} in all)")
    held_out = np.zeros(count, dtype=bool)
    held_out[validation] = True
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def _validation_count(validation_size: float, count: int, origin: str) -> int:
    if 0 < validation_size < 1:
        return max(1, round(validation_size * count))
    if validation_size >= 1 and float(validation_size).is_integer() and validation_size < count:
        return int(validation_size)
    raise UserError(
        f"validation_size must be a fraction in (0, 1) or a whole count in [1, {count}) for {origin}, "
        f"got {validation_size}"
    )


def _balanced(
    rows: np.ndarray, labels: np.ndarray, generator: np.random.Generator, name: str, part: str
) -> tuple[np.ndarray, np.ndarray]:
    """`rows` with each class cut to the smallest class's count (a seeded choice, in order), and the rest."""
    classes = labels[rows]
    present = np.unique(classes)
    counts = np.bincount(classes)[present]
    if len(present) < 2:
        raise UserError(
            f"source {name} has reviews of one class only in {part}: balancing its classes leaves none; "
            "give it reviews of every class, or train without balancing"
        )
    kept = [generator.choice(rows[classes == label], counts.min(), replace=False) for label in present]
    kept = np.sort(np.concatenate(kept))
    return kept, np.setdiff1d(rows, kept, assume_unique=True)


def _capped(
    rows: np.ndarray, labels: np.ndarray, count: int, balanced: bool, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded choice of `count` of `rows` (the same number of each class when `balanced`), and the rest."""
    if balanced:
        classes = labels[rows]
        present = np.unique(classes)
        share = max(1, count // len(present))
        kept = np.concatenate([generator.choice(rows[classes == label], share, replace=False) for label in present])
    else:
        kept = generator.choice(rows, count, replace=False)
    kept = np.sort(kept)
    return kept, np.setdiff1d(rows, kept, assume_unique=True)


def _weighted(count: int, weight: float, generator: np.random.Generator) -> np.ndarray:
    """Positions 0..count-1, each repeated `weight` times: whole repeats, then a seeded share for the fraction."""
    repeats, fraction = divmod(weight, 1.0)
    extra = generator.choice(count, round(fraction * count), replace=False)
    return np.concatenate([np.tile(np.arange(count), int(repeats)), np.sort(extra)]).astype(np.int64)


def _joined(parts: list[Dataset]) -> Dataset:
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _assemble(parts: list[_Part], tests: list[Dataset | None], labels: LabelSet) -> LabelledData:
    """The run's splits from its sources' parts, sources in order, and the training rows with their repeats."""
    offsets = np.cumsum([0, *(len(part.train) for part in parts)])
    weighted = [offset + part.weighted for offset, part in zip(offsets[:-1], parts, strict=True)]
    identity = all(len(part.weighted) == len(part.train) and part.source.weight == 1.0 for part in parts)
    splits = DatasetDict(
        {
            "train": _joined([part.dataset.select(part.train) for part in parts]),
            "validation": _joined([part.dataset.select(part.validation) for part in parts]),
        }
    )
    tests = [test for test in tests if test is not None]
    if tests:
        splits["test"] = _joined(tests)
        test_counts = defaultdict(int, zip(*np.unique(splits["test"][SOURCE_COLUMN], return_counts=True), strict=True))
        for part in parts:
            part.source.rows["test"] = int(test_counts[part.source.name])
    surplus = [part.dataset.select(part.surplus) for part in parts if len(part.surplus)]
    held_out = [part.dataset.select(part.carved).with_format("arrow")[:]["text"] for part in parts]
    held_out += [test.with_format("arrow")[:]["text"] for test in tests]
    return LabelledData(
        splits=splits,
        labels=labels,
        sources=[part.source for part in parts],
        train_rows=None if identity else np.concatenate(weighted),
        surplus=_joined(surplus).select_columns(["text"]) if surplus else None,
        held_out=pa.chunked_array([chunk for column in held_out for chunk in column.chunks], pa.string()),
    )


def check_learnable(data: LabelledData) -> None:
    """Refuse, in one line, labelled data a model cannot learn or be validated on.

    Args:
        data (`LabelledData`): the run's splits.
    """
    if not _any_text(data.splits["train"]):
        raise UserError("the labelled training reviews are all blank; training needs reviews that hold text")
    names = data.labels.names
    training, validation = data.class_counts("training"), data.class_counts("validation")
    present = [name for name, count in zip(names, training + validation, strict=True) if count]
    if len(present) < 2:
        found = f"one class only ({present[0]!r})" if present else "no review"
        raise UserError(f"the labelled reviews hold {found}; training needs reviews of at least two classes")
    for name, train_count, validation_count in zip(names, training, validation, strict=True):
        if not train_count and not validation_count:
            raise UserError(f"class {name!r} has no review outside the test split; a model cannot learn it")
        if not train_count or not validation_count:
            where = "training" if not train_count else "validation"
            count = train_count + validation_count
            raise UserError(
                f"class {name!r} has {count} review{'s' * int(count != 1)}, too few to appear in both the "
                f"training and the validation split (none in {where}); give more reviews of it or a larger "
                "validation share"
            )


def _any_text(split: Dataset) -> bool:
    """Whether any review of a split holds text, read a batch at a time until one does."""
    return any(any(has_text(batch)) for batch in split.select_columns(["text"]).iter(batch_size=10_000))
