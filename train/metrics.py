"""Accuracy, precision, recall and F1 as a local `evaluate` module, so metrics never need the Hub."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy, and precision, recall and F1 of the positive class, for binary sentiment labels."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted labels.
    references (`list[int]`): true labels.
    pos_label (`int`): the class precision, recall and F1 are about. Defaults to 1.
Returns:
    accuracy, precision, recall, f1 (`float`), and confusion_matrix (`list[list[int]]`, rows = true labels).
"""


class SentimentMetrics(evaluate.Metric):
    """Binary classification metrics computed with numpy (the Hub's `accuracy`/`f1` scripts need a download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, pos_label: int = 1, num_labels: int = 2) -> dict:
        predictions, references = np.asarray(predictions), np.asarray(references)
        confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
        np.add.at(confusion, (references, predictions), 1)
        true_positive = confusion[pos_label, pos_label]
        predicted, actual = confusion[:, pos_label].sum(), confusion[pos_label, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "confusion_matrix": confusion.tolist(),
        }


def load_metric() -> evaluate.Metric:
    """This module through `evaluate.load`, from its local path: no Hub, no network."""
    return evaluate.load(__file__)


def source_accuracies(
    predictions: np.ndarray, references: np.ndarray, groups: np.ndarray, names: list[str]
) -> dict[str, float]:
    """Accuracy of each source (`<source>_accuracy`) and their mean (`mean_source_accuracy`).

    Args:
        predictions (`np.ndarray`): predicted class ids `[N]`.
        references (`np.ndarray`): true class ids `[N]`.
        groups (`np.ndarray`): each row's source id `[N]`, an index into `names`.
        names (`list[str]`): the source names.
    """
    correct = np.bincount(groups, weights=predictions == references, minlength=len(names))
    rows = np.bincount(groups, minlength=len(names))
    accuracies = {f"{name}_accuracy": float(correct[i] / rows[i]) for i, name in enumerate(names) if rows[i]}
    return {**accuracies, "mean_source_accuracy": float(np.mean(list(accuracies.values())))}


def build_compute_metrics(metric: evaluate.Metric, groups: np.ndarray | None = None, names: list[str] | None = None):
    """A `compute_metrics` for Trainer: scalar metrics of the argmax predictions (no confusion matrix), and with
    several sources each one's accuracy and their mean.

    Args:
        metric (`evaluate.Metric`): from `load_metric()`.
        groups (`np.ndarray`, *optional*): each evaluated row's source id, an index into `names`.
        names (`list[str]`, *optional*): the source names; per-source figures only with two or more.
    """

    def compute_metrics(eval_prediction) -> dict[str, float]:
        logits, labels = eval_prediction.predictions, eval_prediction.label_ids
        predictions = np.argmax(logits, axis=-1)
        scores = metric.compute(predictions=predictions, references=labels)
        scores = {name: value for name, value in scores.items() if name != "confusion_matrix"}
        if groups is not None and names is not None and len(names) > 1:
            scores.update(source_accuracies(predictions, np.asarray(labels), groups, names))
        return scores

    return compute_metrics
