"""`sentiment-batch verify`: one JSON object comparing an ONNX bundle with its PyTorch model on a dataset."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from helpers import REVIEWS, VARIED_TEXTS
from sentiment_batch.cli import main as cli_main
from sentiment_batch.export.parity import score_texts, torch_scorer
from sentiment_batch.preprocessing import load_tokenizer

TEST_ROWS = [*REVIEWS, *((text, index % 2) for index, text in enumerate(VARIED_TEXTS))]


@pytest.fixture(scope="module")
def review_folder(tmp_path_factory):
    """train.parquet and test.parquet with text,label columns, as `train.splits.load_splits` reads them."""
    folder = tmp_path_factory.mktemp("reviews")
    pd.DataFrame(REVIEWS * 3, columns=["text", "label"]).to_parquet(folder / "train.parquet")
    pd.DataFrame(TEST_ROWS, columns=["text", "label"]).to_parquet(folder / "test.parquet")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    import sentiment_batch.train  # noqa: F401  (registers the Auto classes)

    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()


def run_verify(capsys, *args):
    code = cli_main(["verify", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_verify_prints_one_json_object_with_both_runtimes(
    tiny_bundle, tiny_model_dir, tiny_model, review_folder, capsys
):
    code, stdout, _ = run_verify(capsys, "--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder)
    assert code == 0
    assert len(stdout.strip().splitlines()) == 1
    report = json.loads(stdout)
    texts, labels = [text for text, _ in TEST_ROWS], np.array([label for _, label in TEST_ROWS])
    logits = score_texts(torch_scorer(tiny_model), load_tokenizer(tiny_bundle), texts, len(texts))
    predictions = logits.argmax(axis=1)
    expected = {
        "accuracy": accuracy_score(labels, predictions),
        "f1": f1_score(labels, predictions, zero_division=0),
        "macro_f1": f1_score(labels, predictions, average="macro", zero_division=0),
    }
    assert report["split"] == "test" and report["rows"] == len(TEST_ROWS)
    for runtime in ("pytorch", "onnx"):
        assert {name: report[runtime][name] for name in expected} == pytest.approx(expected)
        assert set(report[runtime]) == {"accuracy", "macro_f1", "precision", "recall", "f1", "rows_per_second"}
    assert report["label_agreement"] == 1.0
    assert report["mean_abs_logit_diff"] <= report["max_abs_logit_diff"] <= report["max_logit_diff_allowed"]
    assert report["passed"] is True


def test_verify_limit_keeps_the_first_rows(tiny_bundle, tiny_model_dir, review_folder, capsys):
    code, stdout, _ = run_verify(
        capsys, "--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder, "--limit", 3
    )
    assert code == 0
    assert json.loads(stdout)["rows"] == 3


def test_verify_joins_splits(tiny_bundle, tiny_model_dir, review_folder, capsys):
    args = ("--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder)
    code, stdout, _ = run_verify(capsys, *args, "--split", "validation+test")
    assert code == 0
    report = json.loads(stdout)
    assert report["split"] == "validation+test"
    from sentiment_batch.train.splits import load_splits

    assert report["rows"] == len(load_splits(str(review_folder))["validation"]) + len(TEST_ROWS)


def test_verify_carves_validation_like_train(tiny_bundle, tiny_model_dir, review_folder, capsys):
    from sentiment_batch.train.splits import load_splits

    args = ("--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder, "--split", "validation")
    for extra, size, seed in [((), 0.1, 42), (("--validation-size", "0.3", "--seed", "7"), 0.3, 7)]:
        code, stdout, _ = run_verify(capsys, *args, *extra)
        assert code == 0
        assert json.loads(stdout)["rows"] == len(load_splits(str(review_folder), size, seed)["validation"])
    assert len(load_splits(str(review_folder), 0.3, 7)["validation"]) > len(
        load_splits(str(review_folder))["validation"]
    )


def test_verify_fails_when_the_model_is_not_the_bundles(
    tiny_bundle, tiny_model, tiny_model_dir, review_folder, tmp_path, capsys
):
    import torch

    other_dir, other_model = tmp_path / "other_model", copy.deepcopy(tiny_model)
    with torch.no_grad():
        other_model.classifier.bias.add_(torch.tensor([5.0, -5.0]))  # every review now reads negative
    other_model.save_pretrained(other_dir)
    shutil.copyfile(tiny_model_dir / "tokenizer.json", other_dir / "tokenizer.json")
    code, stdout, _ = run_verify(capsys, "--bundle", tiny_bundle, "--model", other_dir, "--dataset", review_folder)
    report = json.loads(stdout)
    assert code == 1
    assert report["passed"] is False
    assert report["max_abs_logit_diff"] > 1.0


def test_verify_refuses_a_bundle_whose_model_was_changed(bundle_copy, tiny_model_dir, review_folder, capsys):
    with (bundle_copy / "model.onnx").open("ab") as model_file:
        model_file.write(b"\0")
    code, stdout, stderr = run_verify(
        capsys, "--bundle", bundle_copy, "--model", tiny_model_dir, "--dataset", review_folder
    )
    assert code == 2 and stdout == ""
    assert stderr.splitlines()[-1].startswith("sentiment-batch verify: error: ")
    assert "model_sha256" in stderr


def test_verify_refuses_a_missing_split(tiny_bundle, tiny_model_dir, review_folder, capsys):
    code, stdout, stderr = run_verify(
        capsys, "--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder, "--split", "dev"
    )
    assert code == 2 and stdout == ""
    assert "no 'dev' split" in stderr.splitlines()[-1]


def test_verify_maps_the_datasets_labels_to_the_bundles(tiny_bundle, tiny_model_dir, review_folder, tmp_path, capsys):
    # The same reviews with their labels written as names: verify reads them as train does and compares each to
    # the bundle's own label order (negative, positive).
    folder = tmp_path / "named"
    folder.mkdir()
    names = {0: "neg", 1: "POSITIVE"}
    pd.DataFrame(REVIEWS * 3, columns=["text", "label"]).to_parquet(folder / "train.parquet")
    pd.DataFrame([(text, names[label]) for text, label in TEST_ROWS], columns=["text", "label"]).to_parquet(
        folder / "test.parquet"
    )
    args = ("--bundle", tiny_bundle, "--model", tiny_model_dir)
    _, numeric, _ = run_verify(capsys, *args, "--dataset", review_folder)
    code, named, _ = run_verify(capsys, *args, "--dataset", folder)
    assert code == 0
    for runtime in ("pytorch", "onnx"):
        assert json.loads(named)[runtime] | {"rows_per_second": 0} == json.loads(numeric)[runtime] | {
            "rows_per_second": 0
        }
    other = tmp_path / "other.parquet"
    pd.DataFrame({"text": ["fine", "meh", "ok"], "label": ["good", "neutral", "good"]}).to_parquet(other)
    code, stdout, stderr = run_verify(capsys, *args, "--dataset", other, "--split", "train")
    assert code == 2 and stdout == ""
    assert "has labels 'good', 'neutral', none of the given labels negative, positive" in stderr.splitlines()[-1]


def test_verify_refuses_a_graph_whose_labels_are_not_the_manifests(bundle_copy, tiny_model_dir, review_folder, capsys):
    from test_bundle import set_graph_metadata

    from sentiment_batch.bundle import GRAPH_LABELS

    set_graph_metadata(bundle_copy, **{GRAPH_LABELS: json.dumps(["positive", "negative"])})  # every file re-hashed
    code, stdout, stderr = run_verify(
        capsys, "--bundle", bundle_copy, "--model", tiny_model_dir, "--dataset", review_folder
    )
    assert code == 2 and stdout == ""
    assert stderr.splitlines()[-1].startswith("sentiment-batch verify: error: ") and "labels" in stderr


def test_stdout_is_only_the_json_with_wandb_offline(tiny_bundle, tiny_model_dir, review_folder):
    import os
    import subprocess
    import sys

    command = ["verify", "--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", review_folder]
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_batch.cli", *map(str, command)],
        capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "offline"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == len(TEST_ROWS)  # the whole of stdout is the one JSON object
