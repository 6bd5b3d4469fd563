"""Calibration: the fitted temperature, the expected calibration error, and the temperature inside the model."""

import numpy as np
import pytest
import torch

from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.calibration import (
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    softmax,
)


def sampled(temperature: float, rows: int, seed: int, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / temperature): data whose best temperature is `temperature`."""
    generator = np.random.default_rng(seed)
    logits = generator.normal(0, 3, size=(rows, classes))
    probabilities = softmax(logits / temperature)
    labels = (generator.random(rows)[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    return logits, labels


@pytest.mark.parametrize(("temperature", "classes"), [(0.5, 2), (2.0, 2), (1.5, 4)])
def test_fit_temperature_finds_the_temperature_the_labels_were_drawn_with(temperature, classes):
    logits, labels = sampled(temperature, 40_000, seed=1, classes=classes)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def mean_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return float(-np.mean(np.log(softmax(logits / temperature)[np.arange(len(labels)), labels])))


def test_each_source_weighs_the_same():
    big_logits, big_labels = sampled(0.5, 20_000, seed=2)
    small_logits, small_labels = sampled(3.0, 2_000, seed=3)
    logits, labels = np.concatenate([big_logits, small_logits]), np.concatenate([big_labels, small_labels])
    groups = np.repeat([0, 1], [20_000, 2_000])
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 801))
    pooled = grid[np.argmin([mean_nll(logits, labels, t) for t in grid])]
    per_source = [mean_nll(big_logits, big_labels, t) + mean_nll(small_logits, small_labels, t) for t in grid]
    assert fit_temperature(logits, labels) == pytest.approx(pooled, rel=0.01)
    assert fit_temperature(logits, labels, groups) == pytest.approx(grid[np.argmin(per_source)], rel=0.01)
    assert grid[np.argmin(per_source)] > 1.2 * pooled  # the small source counts as much as the big one


def test_expected_calibration_error_by_hand():
    probabilities = np.array([[0.05, 0.95], [0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([1, 0, 0, 1])
    # bins of width 1/15: 0.95 and 0.9 share (13/15, 14/15]... 0.95 lies in (14/15, 1], 0.9 in (13/15, 14/15]
    # 0.6 in (8/15, 9/15], 0.7 in (10/15, 11/15]: every review alone in its bin
    expected = (abs(1 - 0.95) + abs(0 - 0.9) + abs(1 - 0.6) + abs(1 - 0.7)) / 4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)
    together = np.array([[0.2, 0.8], [0.21, 0.79]])  # one bin: accuracy 1/2, mean confidence 0.795
    assert expected_calibration_error(together, np.array([1, 0])) == pytest.approx(0.295)


def test_calibration_metrics_per_source_and_without_the_temperature():
    logits, labels = sampled(2.0, 6_000, seed=4)
    groups = np.repeat([0, 1], 3_000)
    temperature = fit_temperature(logits, labels, groups)
    metrics = calibration_metrics(logits / temperature, labels, temperature, groups, ["apps", "hotels"])
    assert set(metrics) == {
        "ece", "ece_uncalibrated", "apps_ece", "apps_ece_uncalibrated", "hotels_ece", "hotels_ece_uncalibrated",
        "mean_source_ece", "mean_source_ece_uncalibrated",
    }  # fmt: skip
    assert metrics["ece"] < 0.03 < 0.06 < metrics["ece_uncalibrated"]  # overconfident logits, then fixed
    assert metrics["ece_uncalibrated"] == pytest.approx(expected_calibration_error(softmax(logits), labels))
    assert metrics["apps_ece"] == pytest.approx(
        expected_calibration_error(softmax(logits[:3000] / temperature), labels[:3000])
    )
    assert metrics["mean_source_ece"] == pytest.approx((metrics["apps_ece"] + metrics["hotels_ece"]) / 2)
    assert set(calibration_metrics(logits, labels, 1.0, groups, ["only"])) == {"ece", "ece_uncalibrated"}


def test_the_model_divides_its_logits_by_the_temperature():
    torch.manual_seed(0)
    config = SentimentBagConfig(vocab_size=40, num_buckets=64, embedding_dim=4, hidden_dims=[4])
    model = SentimentBagForSequenceClassification(config).eval()
    ids, offsets = torch.tensor([3, 4, 5, 6, 7]), torch.tensor([0, 2])
    with torch.no_grad():
        plain = model(ids, offsets).logits
        model.config.calibration_temperature = 2.5
        scaled = model(ids, offsets, labels=torch.tensor([0, 1]))
    torch.testing.assert_close(scaled.logits, plain / 2.5)
    torch.testing.assert_close(scaled.loss, torch.nn.functional.cross_entropy(plain / 2.5, torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="calibration_temperature must be positive"):
        SentimentBagConfig(calibration_temperature=0.0)
