"""`sentiment-batch evaluate`: a bundle measured on labelled reviews with the runtime alone, as by hand."""

from __future__ import annotations

import collections
import json

import datasets
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from helpers import REVIEWS, VARIED_TEXTS
from sentiment_batch import Scorer
from sentiment_batch.cli import main as cli_main

LABELS = ("negative", "positive")
# Each class written the ways `train` reads it.
SPELLINGS = {0: ("neg", "NEGATIVE", "0", " Negative "), 1: ("pos", "Positive", "1", "POS")}


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the datasets cache of the split tests out of the user's home."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def labelled_rows() -> list[dict]:
    """Reviews with their class id, its label spelled several ways, and a source; blank texts among them."""
    cases = [*REVIEWS * 4, *((text, index % 2) for index, text in enumerate(VARIED_TEXTS)), (None, 1)]
    return [
        {"review": text, "stars": SPELLINGS[truth][index % 4], "source": ("films", "shop")[index % 2], "truth": truth}
        for index, (text, truth) in enumerate(cases)
    ]


def run_evaluate(capsys, *args):
    code = cli_main(["evaluate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def ece_by_hand(probabilities: list[list[float]], truths: list[int], bins: int = 15) -> float:
    gaps = collections.defaultdict(float)
    for probs, truth in zip(probabilities, truths, strict=True):
        confidence = max(probs)
        index = min(max(int(np.ceil(confidence * bins)) - 1, 0), bins - 1)
        gaps[index] += (probs.index(confidence) == truth) - confidence
    return sum(abs(gap) for gap in gaps.values()) / len(truths)


def by_hand(rows: list[dict], predictions: list[dict]) -> dict:
    """The figures of `evaluate`, from `Scorer.predict`'s answers compared with the truth one row at a time."""
    scored = [(row["truth"], answer) for row, answer in zip(rows, predictions, strict=True) if answer["error"] is None]
    truths = [truth for truth, _ in scored]
    predicted = [LABELS.index(answer["label"]) for _, answer in scored]
    confusion = collections.Counter(
        (LABELS[truth], LABELS[guess]) for truth, guess in zip(truths, predicted, strict=True)
    )
    return {
        "rows": len(scored),
        "unscorable": len(rows) - len(scored),
        "accuracy": sum(truth == guess for truth, guess in zip(truths, predicted, strict=True)) / len(scored),
        "macro_f1": f1_score(truths, predicted, average="macro"),
        "ece": ece_by_hand([[answer["probabilities"][label] for label in LABELS] for _, answer in scored], truths),
        "confusion": {true: {guess: confusion[true, guess] for guess in LABELS} for true in LABELS},
    }


def assert_same_figures(found: dict, expected: dict) -> None:
    assert {key: found[key] for key in ("rows", "unscorable", "confusion")} == {
        key: expected[key] for key in ("rows", "unscorable", "confusion")
    }
    for key in ("accuracy", "macro_f1", "ece"):
        assert found[key] == pytest.approx(expected[key], abs=1e-6)


def test_evaluate_gives_the_figures_of_scoring_and_comparing_by_hand(tmp_path, capsys):
    rows = labelled_rows()
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).drop(columns="truth").to_parquet(path)
    code, stdout, _ = run_evaluate(capsys, "--dataset", path, "--text-column", "review", "--label-column", "stars")
    assert code == 0 and len(stdout.splitlines()) == 1
    report = json.loads(stdout)
    with Scorer.from_bundle() as scorer:
        predictions = scorer.predict([row["review"] for row in rows])
    assert_same_figures(report, by_hand(rows, predictions))
    assert report["unscorable"] == 3  # the empty, the blank and the null text
    assert sorted(report["sources"]) == ["films", "shop"]
    for source, figures in report["sources"].items():
        mine = [index for index, row in enumerate(rows) if row["source"] == source]
        assert_same_figures(figures, by_hand([rows[i] for i in mine], [predictions[i] for i in mine]))


def test_csv_files_and_globs_are_read_as_score_reads_them(tmp_path, capsys):
    rows = [{"text": text, "label": truth} for text, truth in REVIEWS]
    for part in (0, 1):
        pd.DataFrame(rows[part::2]).to_csv(tmp_path / f"part{part}.csv", index=False)
    code, stdout, _ = run_evaluate(capsys, "--dataset", tmp_path / "part*.csv")
    report = json.loads(stdout)
    assert code == 0 and report["rows"] == len(REVIEWS) and report["unscorable"] == 0
    assert "sources" not in report
    assert sum(sum(row.values()) for row in report["confusion"].values()) == len(REVIEWS)


def test_labels_the_bundle_does_not_know_are_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "three.csv"
    pd.DataFrame({"text": ["good", "bad", "so-so"], "label": ["pos", "neg", "neutral"]}).to_csv(path, index=False)
    code, stdout, stderr = run_evaluate(capsys, "--dataset", path)
    assert code == 2 and stdout == ""
    assert stderr.splitlines() == [
        f"sentiment-batch evaluate: error: {path} has labels 'neutral', none of the bundle's labels negative, positive"
    ]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pd.DataFrame({"text": ["good"], "stars": [1]}),
            "has no column(s) ['label']; its columns are ['text', 'stars']",
        ),
        (pd.DataFrame({"text": ["good", "bad"], "label": [1, None]}, dtype=object), "has reviews without a label"),
    ],
)
def test_a_file_without_labels_is_refused_in_one_line(tmp_path, capsys, frame, message):
    path = tmp_path / "reviews.parquet"
    frame.to_parquet(path)
    code, _, stderr = run_evaluate(capsys, "--dataset", path)
    assert code == 2 and stderr.splitlines() == [f"sentiment-batch evaluate: error: {path} {message}"]


def review_folder(tmp_path):
    """train.parquet (48 distinct reviews) and test.parquet, as `train` reads a folder."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    train = [(f"{text} (review {index})", truth) for index, (text, truth) in enumerate(REVIEWS * 6)]
    pd.DataFrame(train, columns=["text", "label"]).to_parquet(folder / "train.parquet")
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_parquet(folder / "test.parquet")
    return folder


def test_a_split_is_carved_as_verify_carves_it_and_measures_the_same(tiny_bundle, tiny_model_dir, tmp_path, capsys):
    folder = review_folder(tmp_path)
    split = "validation+test"
    code, stdout, _ = run_evaluate(capsys, "--bundle", tiny_bundle, "--dataset", folder, "--split", split)
    assert code == 0
    report = json.loads(stdout)
    verify = ["verify", "--bundle", tiny_bundle, "--model", tiny_model_dir, "--dataset", folder, "--split", split]
    assert cli_main([str(arg) for arg in verify]) == 0
    verified = json.loads(capsys.readouterr().out)
    onnx = verified["onnx"]
    assert report["rows"] == verified["rows"] > len(REVIEWS) and report["unscorable"] == 0
    assert report["accuracy"] == pytest.approx(onnx["accuracy"]) and report["macro_f1"] == pytest.approx(
        onnx["macro_f1"]
    )


def test_a_split_is_carved_with_the_settings_of_the_bundles_model_card(bundle_copy, tmp_path, capsys):
    from sentiment_batch.train.splits import load_splits

    folder = review_folder(tmp_path)
    settings = {"validation_size": 0.25, "validation_seed": None, "seed": 7, "balance_classes": "false"}
    card = f"# card\n\n## Settings\n\n```json\n{json.dumps(settings, indent=2)}\n```\n\n## Metrics\n"
    (bundle_copy / "README.md").write_text(card, encoding="utf-8")
    code, stdout, _ = run_evaluate(capsys, "--bundle", bundle_copy, "--dataset", folder, "--split", "validation")
    assert code == 0
    carved = load_splits(str(folder), 0.25, 7, "false")["validation"]
    assert json.loads(stdout)["rows"] == len(carved) != len(load_splits(str(folder))["validation"])
