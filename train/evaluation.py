"""The end of a run: metrics per source, the temperature fitted on validation, and the final figures of each split."""

from __future__ import annotations

from transformers import Trainer

from .calibration import calibration_metrics, fit_temperature
from .data import split_sources
from .metrics import build_compute_metrics, load_metric

SPLIT_PREFIXES = (("validation", "eval"), ("test", "test"))


def metrics_for(split):
    """Trainer's `compute_metrics` for one split: pooled metrics, and per-source accuracy with several sources.

    Args:
        split (`datasets.Dataset`): the labelled split evaluated, in the order the Trainer reads it.
    """
    groups, names = split_sources(split)
    return build_compute_metrics(load_metric(), groups, names, split.features["label"].num_classes)


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

    Each split's figures: the Trainer's (loss, accuracy, macro-F1, per-source accuracy), the expected calibration
    error at the model's temperature and without it, and the confusion matrix (rows: true classes; saved, not
    logged).

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
    metric, num_labels = load_metric(), len(trainer.model.config.id2label)
    for split, prefix in SPLIT_PREFIXES:
        if split not in encoded:
            continue
        groups, names = split_sources(splits[split])
        trainer.compute_metrics = build_compute_metrics(metric, groups, names, num_labels)
        reported = trainer.predict(encoded[split], metric_key_prefix=prefix)
        calibration = calibration_metrics(reported.predictions, reported.label_ids, temperature, groups, names)
        split_metrics = {**reported.metrics, **{f"{prefix}_{name}": value for name, value in calibration.items()}}
        trainer.log(split_metrics)
        trainer.log_metrics(prefix, split_metrics)
        predictions = reported.predictions.argmax(-1)
        scores = metric.compute(predictions=predictions, references=reported.label_ids, num_labels=num_labels)
        split_metrics[f"{prefix}_confusion_matrix"] = scores["confusion_matrix"]  # rows: true classes
        trainer.save_metrics(prefix, split_metrics)
        metrics.update(split_metrics)
    return metrics, reported
