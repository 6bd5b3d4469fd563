"""The end of a run: metrics per source, the temperature fitted on validation, and the final figures of each split."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
from transformers import Trainer

from .calibration import calibration_metrics, fit_temperature
from .data import SOURCE_COLUMN
from .metrics import build_compute_metrics, load_metric

SPLIT_PREFIXES = (("validation", "eval"), ("test", "test"))


def split_sources(split) -> tuple[np.ndarray, list[str]]:
    """Each row's source id `[N]` and the source names, in order of first appearance.

    Args:
        split (`datasets.Dataset`): a split with a `source` column.
    """
    column = split.with_format("arrow")[:][SOURCE_COLUMN]
    names = pc.unique(column)
    return pc.index_in(column, value_set=names).to_numpy().astype(np.int64), names.to_pylist()


def metrics_for(split):
    """Trainer's `compute_metrics` for one split: pooled metrics, and per-source accuracy with several sources.

    Args:
        split (`datasets.Dataset`): the labelled split evaluated, in the order the Trainer reads it.
    """
    groups, names = split_sources(split)
    return build_compute_metrics(load_metric(), groups, names)


def fit_model_temperature(trainer: Trainer, encoded, split) -> float:
    """The temperature of the trained model that minimises its validation loss, each source weighing the same.

    Args:
        trainer (`Trainer`): the trainer, its best model loaded, at temperature 1.
        encoded (`datasets.Dataset`): the tokenized validation split.
        split (`datasets.Dataset`): the same split with its `source` column.
    """
    output = trainer.predict(encoded)
    return fit_temperature(output.predictions, output.label_ids, split_sources(split)[0])


def evaluate_and_save(trainer: Trainer, splits, encoded, train_metrics: dict) -> tuple[dict, object]:
    """Final validation and test metrics into the HF metrics files; returns them and the reported split's output.

    Each split's figures: the Trainer's (loss, accuracy, per-source accuracy), then the expected calibration error
    at the model's temperature and without it.

    Args:
        trainer (`Trainer`): the trainer of the final model.
        splits (`datasets.DatasetDict`): the labelled splits, with their `source` column.
        encoded (`datasets.DatasetDict`): the same splits tokenized.
        train_metrics (`dict`): the training figures, saved as `train_results.json`.
    """
    metrics = dict(train_metrics)
    trainer.save_metrics("train", metrics)
    reported = None
    temperature = trainer.model.config.calibration_temperature
    for split, prefix in SPLIT_PREFIXES:
        if split not in encoded:
            continue
        groups, names = split_sources(splits[split])
        trainer.compute_metrics = build_compute_metrics(load_metric(), groups, names)
        reported = trainer.predict(encoded[split], metric_key_prefix=prefix)
        calibration = calibration_metrics(reported.predictions, reported.label_ids, temperature, groups, names)
        split_metrics = {**reported.metrics, **{f"{prefix}_{name}": value for name, value in calibration.items()}}
        trainer.log(split_metrics)
        trainer.log_metrics(prefix, split_metrics)
        trainer.save_metrics(prefix, split_metrics)
        metrics.update(split_metrics)
    return metrics, reported
