"""The project's own evaluate module works with the network off."""

import os
import subprocess
import sys

import numpy as np
from transformers import EvalPrediction

from sentiment_batch.train.metrics import build_compute_metrics, load_metric


def test_metric_values():
    scores = load_metric().compute(predictions=[1, 1, 0, 0, 1], references=[1, 0, 0, 1, 1])
    assert scores["accuracy"] == 0.6
    assert scores["precision"] == 2 / 3
    assert scores["recall"] == 2 / 3
    assert abs(scores["f1"] - 2 / 3) < 1e-12
    assert scores["confusion_matrix"] == [[1, 1], [1, 2]]


def test_metric_degenerate_predictions():
    scores = load_metric().compute(predictions=[0, 0], references=[1, 0])
    assert scores == {"accuracy": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0, "confusion_matrix": [[1, 0], [1, 0]]}


def test_compute_metrics_for_trainer_gives_scalars():
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [0.5, 0.4]])
    metrics = build_compute_metrics(load_metric())(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1])))
    assert metrics == {"accuracy": 2 / 3, "precision": 1.0, "recall": 0.5, "f1": 2 / 3}


def test_metric_loads_offline_in_a_fresh_process(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["HF_HOME"] = str(tmp_path / "hf")  # an empty cache: nothing downloaded earlier can help
    script = (
        "from sentiment_batch.train.metrics import load_metric\n"
        "print(load_metric().compute(predictions=[1], references=[1]))"
    )
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'accuracy': 1.0" in result.stdout


def test_accuracy_per_source_and_their_mean():
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [0.5, 0.4], [0.0, 1.0], [1.0, 0.0]])
    labels = np.array([0, 1, 1, 1, 1])
    groups = np.array([0, 0, 0, 1, 1])  # apps: 2 of 3 right; hotels: 1 of 2
    compute = build_compute_metrics(load_metric(), groups, ["apps", "hotels"])
    metrics = compute(EvalPrediction(predictions=logits, label_ids=labels))
    assert metrics["accuracy"] == 3 / 5
    assert metrics["apps_accuracy"] == 2 / 3 and metrics["hotels_accuracy"] == 1 / 2
    assert metrics["mean_source_accuracy"] == (2 / 3 + 1 / 2) / 2
    one_source = build_compute_metrics(load_metric(), np.zeros(5, dtype=np.int64), ["apps"])
    assert "mean_source_accuracy" not in one_source(EvalPrediction(predictions=logits, label_ids=labels))
