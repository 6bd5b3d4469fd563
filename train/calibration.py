"""Calibrated probabilities: a temperature fitted on validation, and the expected calibration error.

One temperature T divides every logit (`SentimentBagConfig.temperature`); it changes no label, only how sure
the probabilities are. It minimises the validation negative log-likelihood, each source weighing the same.
"""

from __future__ import annotations

import numpy as np

from sentiment_batch.metrics import expected_calibration_error

# Search interval of 1/T: the negative log-likelihood is convex in it, so a golden-section search finds the minimum.
INVERSE_TEMPERATURE_RANGE = (0.02, 20.0)
SEARCH_STEPS = 80


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities `[N, C]` (float64) of logits `[N, C]`."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # [N, C]
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def group_weights(groups: np.ndarray | None, count: int) -> np.ndarray:
    """Row weights `[N]` under which each group (source) weighs the same, summing to 1.

    Args:
        groups (`np.ndarray | None`): each row's group id `[N]`; None: one group.
        count (`int`): number of rows.
    """
    if groups is None:
        return np.full(count, 1.0 / count)
    sizes = np.bincount(groups)
    return 1.0 / (sizes[groups] * np.count_nonzero(sizes))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """The weighted mean negative log-likelihood of the labels under softmax(logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # [N, C]
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))  # [N]
    return float(np.sum(weights * (log_normalizer - shifted[np.arange(len(labels)), labels])))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T), each group weighing the same.

    Args:
        logits (`np.ndarray`): validation logits `[N, C]`, at temperature 1.
        labels (`np.ndarray`): their class ids `[N]`.
        groups (`np.ndarray`, *optional*): each row's source id `[N]`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    weights = group_weights(groups, len(labels))

    def loss(inverse: float) -> float:
        return negative_log_likelihood(logits * inverse, labels, weights)

    low, high = INVERSE_TEMPERATURE_RANGE
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    left_loss, right_loss = loss(left), loss(right)
    for _ in range(SEARCH_STEPS):
        if left_loss <= right_loss:
            high, right, right_loss = right, left, left_loss
            left = high - ratio * (high - low)
            left_loss = loss(left)
        else:
            low, left, left_loss = left, right, right_loss
            right = low + ratio * (high - low)
            right_loss = loss(right)
    return float(2.0 / (low + high))


def calibration_metrics(
    logits: np.ndarray, labels: np.ndarray, temperature: float, groups: np.ndarray | None, names: list[str]
) -> dict[str, float]:
    """Expected calibration error of a split, pooled and per source, at `temperature` and uncalibrated.

    Args:
        logits (`np.ndarray`): the model's logits `[N, C]`, already divided by `temperature`.
        labels (`np.ndarray`): class ids `[N]`.
        temperature (`float`): the temperature the logits were divided by.
        groups (`np.ndarray`, *optional*): each row's source id `[N]`, an index into `names`; None or one
            name: no per-source figures.
        names (`list[str]`): the source names.

    Returns:
        `dict[str, float]`: `ece`, `ece_uncalibrated`, and with several sources `<source>_ece`,
        `<source>_ece_uncalibrated`, `mean_source_ece` and `mean_source_ece_uncalibrated`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    variants = {"ece": softmax(logits), "ece_uncalibrated": softmax(logits * temperature)}
    metrics = {key: expected_calibration_error(probabilities, labels) for key, probabilities in variants.items()}
    if groups is None or len(names) < 2:
        return metrics
    for key, probabilities in variants.items():
        per_source = {
            name: expected_calibration_error(probabilities[groups == index], labels[groups == index])
            for index, name in enumerate(names)
            if np.any(groups == index)
        }
        metrics.update({f"{name}_{key}": value for name, value in per_source.items()})
        metrics[f"mean_source_{key}"] = float(np.mean(list(per_source.values())))
    return metrics
