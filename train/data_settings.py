"""The data settings a model was trained with, saved beside it, so that `export` and `verify` carve its splits again.

They live in a file of their own, `data_settings.json`, rather than among `config.json`'s fields: config.json is
the model (what `from_pretrained` builds and the bundle is exported from), and it must not change with where the
data was or how it was split. The file records the dataset arguments (local paths made absolute, so the splits can
be carved again from any folder), the weights, caps, balancing, validation size and seed, the class names and the
training sample; and, for the reader, how each source's validation split was grouped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sentiment_batch.errors import UserError, first_line, shown

from .splits import AUTO, LabelledData, load_labelled

SETTINGS_FILE = "data_settings.json"


@dataclass
class DataSettings:
    """How a run's labelled splits were read and carved: everything `labelled` needs to carve them again.

    Args:
        dataset (`list[str]`): the dataset arguments (`data.read_labelled`).
        validation_size (`float`, *optional*, defaults to 0.1): each source's validation share or count.
        validation_seed (`int`, *optional*, defaults to 42): seed of the validation split and the balancing.
        balance_classes (`str`, *optional*, defaults to `"auto"`): `auto`, `true` or `false`.
        dataset_weights (`list[float]`, *optional*): one weight per dataset.
        max_rows_per_source (`list[int]`, *optional*): one cap, or one per dataset.
        labels (`list[str]`, *optional*): the class names in class-id order; by default the data's.
        max_train_samples (`int`, *optional*): the training rows kept, a seeded sample.
        sample_seed (`int`, *optional*, defaults to 42): seed of that sample (the training seed).
        grouping (`dict[str, str]`, *optional*): each source's validation split, `movie` or `random`; a record only.
    """

    dataset: list[str]
    validation_size: float = 0.1
    validation_seed: int = 42
    balance_classes: str = AUTO
    dataset_weights: list[float] | None = None
    max_rows_per_source: list[int] | None = None
    labels: list[str] | None = None
    max_train_samples: int | None = None
    sample_seed: int = 42
    grouping: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_arguments(cls, data_args, seed: int) -> DataSettings:
        """The settings of a `train` run.

        Args:
            data_args (`DataArguments`): the run's data arguments.
            seed (`int`): the training seed (the validation seed too, unless `validation_seed` is set).
        """
        return cls(
            dataset=list(data_args.dataset),
            validation_size=data_args.validation_size,
            validation_seed=seed if data_args.validation_seed is None else data_args.validation_seed,
            balance_classes=data_args.balance_classes,
            dataset_weights=data_args.dataset_weights,
            max_rows_per_source=data_args.max_rows_per_source,
            labels=data_args.labels,
            max_train_samples=data_args.max_train_samples,
            sample_seed=seed,
        )

    def labelled(self) -> LabelledData:
        """The labelled splits, read and carved as these settings say (the training rows sampled too)."""
        data = load_labelled(
            self.dataset,
            self.validation_size,
            self.validation_seed,
            weights=self.dataset_weights,
            balance_classes=self.balance_classes,
            max_rows_per_source=self.max_rows_per_source,
            labels=self.labels,
        )
        if self.max_train_samples is not None:
            data.sample_training_rows(self.max_train_samples, self.sample_seed)
        return data

    def save(self, folder: Path, data: LabelledData) -> None:
        """Write the settings of a finished run to `folder`, local dataset paths absolute and the class names and
        each source's grouping those `data` found.

        Args:
            folder (`Path`): the model folder being written.
            data (`LabelledData`): the run's splits, as `labelled` carved them.
        """
        saved = dataclasses.replace(
            self,
            dataset=[_absolute(dataset) for dataset in self.dataset],
            labels=list(data.labels.names),
            grouping={source.name: "movie" if source.grouped else "random" for source in data.sources},
        )
        text = json.dumps(dataclasses.asdict(saved), indent=2, ensure_ascii=False)
        (folder / SETTINGS_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> DataSettings | None:
        """The settings saved in a model folder, or None when it has none (trained before they were saved).

        Args:
            folder (`Path`): the model folder.
        """
        path = folder / SETTINGS_FILE
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:  # unreadable, not JSON, or not these fields
            raise UserError(f"cannot read {shown(path)}: {first_line(error)}") from error

    @classmethod
    def of_model(cls, folder: Path, datasets: Sequence[str] | None = None) -> DataSettings:
        """The settings a model folder records, on `datasets` when they are given (`for_datasets`). A folder that
        records none (trained before they were saved) takes the defaults, and then needs `datasets`.

        Args:
            folder (`Path`): the model folder.
            datasets (`Sequence[str]`, *optional*): the dataset arguments to read instead of the recorded ones.
        """
        saved = cls.read(folder)
        if saved is not None:
            return saved.for_datasets(datasets) if datasets else saved
        if not datasets:
            raise UserError(f"{shown(folder)} records no training data (no {SETTINGS_FILE}); name the datasets")
        return cls(dataset=[str(dataset) for dataset in datasets])

    def for_datasets(self, datasets: Sequence[str]) -> DataSettings:
        """These settings on other datasets: the same split, balancing and classes, but no per-dataset weight,
        cap or training sample, which belong to the datasets trained on.

        Args:
            datasets (`Sequence[str]`): the dataset arguments.
        """
        datasets = [str(dataset) for dataset in datasets]
        if [_absolute(dataset) for dataset in datasets] == [_absolute(dataset) for dataset in self.dataset]:
            return dataclasses.replace(self, dataset=datasets)
        return dataclasses.replace(
            self, dataset=datasets, dataset_weights=None, max_rows_per_source=None, max_train_samples=None
        )


def _absolute(dataset: str) -> str:
    """A dataset argument with a local path made absolute; a Hub id as it is."""
    path = Path(dataset).expanduser()
    return str(path.resolve()) if path.exists() else dataset
