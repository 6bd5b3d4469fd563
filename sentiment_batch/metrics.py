"""Classification metrics in numpy: the confusion matrix, accuracy, F1 and the expected calibration error.

Training's metric module and `sentiment-batch evaluate` both compute their figures here, so a bundle measured on
its own reports what its training run reported.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def confusion_matrix(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> np.ndarray:
    """Counts `[C, C]` of each (true class, predicted class) pair: rows true, columns predicted.

    Args:
        predictions (`np.ndarray`): predicted class ids `[N]`.
        references (`np.ndarray`): true class ids `[N]`.
        num_labels (`int`): number of classes.
    """
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (np.asarray(references, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return confusion


def accuracy(confusion: np.ndarray) -> float:
    """The share of rows whose predicted class is the true one; 0 for no rows."""
    return float(np.trace(confusion) / max(confusion.sum(), 1))


def f1_scores(confusion: np.ndarray) -> np.ndarray:
    """Each class's F1 `[C]` from a confusion matrix (rows true, columns predicted); 0 where it is undefined."""
    true_positives = np.diag(confusion).astype(np.float64)
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + actual)
    totals = confusion.sum(axis=0) + confusion.sum(axis=1)
    return np.divide(2 * true_positives, totals, out=np.zeros_like(true_positives), where=totals > 0)


def macro_f1(confusion: np.ndarray) -> float:
    """The mean F1 over the classes that are predicted or present (as scikit-learn's `f1_score(average="macro")`)."""
    seen = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    return float(f1_scores(confusion)[seen].mean()) if seen.any() else 0.0


def positive_class_scores(confusion: np.ndarray, pos_label: int) -> dict[str, float]:
    """Precision, recall and F1 of one class."""
    true_positive = confusion[pos_label, pos_label]
    predicted, actual = confusion[:, pos_label].sum(), confusion[pos_label, :].sum()
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: over equal-width bins of the top-class probability, the share-weighted mean of
    |accuracy - mean probability|.

    Args:
        probabilities (`np.ndarray`): class probabilities `[N, C]`.
        labels (`np.ndarray`): class ids `[N]`.
        bins (`int`, *optional*, defaults to 15): number of bins over [0, 1].
    """
    confidence = probabilities.max(axis=1)  # [N]
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)  # [N]
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 joins the first.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)  # [N]
    gaps = np.bincount(index, weights=correct, minlength=bins) - np.bincount(index, weights=confidence, minlength=bins)
    return float(np.abs(gaps).sum() / max(len(labels), 1))
