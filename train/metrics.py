"""Accuracy, macro-F1, the confusion matrix (and the positive class's precision, recall and F1 for two classes) as a
local `evaluate` module, so metrics never need the Hub."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from sentiment_batch.metrics import accuracy, confusion_matrix, macro_f1, positive_class_scores

_DESCRIPTION = (
    "Accuracy, macro-F1 and the confusion matrix; with two classes also precision, recall and F1 of the positive one."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class ids.
    references (`list[int]`): true class ids.
    num_labels (`int`): number of classes. Defaults to the largest id seen plus one, and at least 2.
    pos_label (`int`): with two classes, the class precision, recall and F1 are about. Defaults to 1.
Returns:
    accuracy, macro_f1 (`float`), confusion_matrix (`list[list[int]]`, rows = true classes), and with two classes
    precision, recall, f1 (`float`).
"""


class SentimentMetrics(evaluate.Metric):
    """Classification metrics computed with numpy (the Hub's `accuracy`/`f1` scripts need a download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels: int | None = None, pos_label: int = 1) -> dict:
        predictions, references = np.asarray(predictions, dtype=np.int64), np.asarray(references, dtype=np.int64)
        if num_labels is None:
            num_labels = max(2, int(max(predictions.max(initial=0), references.max(initial=0))) + 1)
        confusion = confusion_matrix(predictions, references, num_labels)
        scores = {"accuracy": accuracy(confusion), "macro_f1": macro_f1(confusion)}
        if num_labels == 2:
            scores.update(positive_class_scores(confusion, pos_label))
        return {**scores, "confusion_matrix": confusion.tolist()}


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


def build_compute_metrics(
    metric: evaluate.Metric,
    groups: np.ndarray | None = None,
    names: list[str] | None = None,
    num_labels: int | None = None,
):
    """A `compute_metrics` for Trainer: scalar metrics of the argmax predictions (no confusion matrix), and with
    several sources each one's accuracy and their mean.

    Args:
        metric (`evaluate.Metric`): from `load_metric()`.
        groups (`np.ndarray`, *optional*): each evaluated row's source id, an index into `names`.
        names (`list[str]`, *optional*): the source names; per-source figures only with two or more.
        num_labels (`int`, *optional*): number of classes; defaults to the logits' width.
    """

    def compute_metrics(eval_prediction) -> dict[str, float]:
        logits, labels = eval_prediction.predictions, eval_prediction.label_ids
        predictions = np.argmax(logits, axis=-1)
        classes = num_labels or logits.shape[-1]
        scores = metric.compute(predictions=predictions, references=labels, num_labels=classes)
        scores = {name: value for name, value in scores.items() if name != "confusion_matrix"}
        if groups is not None and names is not None and len(names) > 1:
            scores.update(source_accuracies(predictions, np.asarray(labels), groups, names))
        return scores

    return compute_metrics
