"""Classes come from the data: binary sentiment as today, whole numbers in numeric order, names as written."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

from sentiment_batch.errors import UserError
from sentiment_batch.labels import class_id
from sentiment_batch.train.labels import label_names
from sentiment_batch.train.splits import load_labelled


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the datasets cache of these tests out of the user's home."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def write(path, labels, texts=None):
    texts = texts or [f"review {n}" for n in range(len(labels))]
    frame = pd.DataFrame({"text": texts, "label": labels})
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return str(path)


def classes(data) -> list[tuple[str, str]]:
    """Each review's text and the name of the class it got, over every split."""
    names = data.labels.names
    return sorted(
        (row["text"], names[row["label"]])
        for split in data.splits.values()
        for row in split.select_columns(["text", "label"])
    )


@pytest.mark.parametrize(
    ("names", "value", "expected"),
    [
        (("negative", "positive"), 1, 1),
        (("negative", "positive"), "1", 1),
        (("negative", "positive"), " 0 ", 0),
        (("negative", "positive"), 0.0, 0),
        (("negative", "positive"), "NEG", 0),
        (("negative", "positive"), " Positive", 1),
        (("negative", "positive"), "neutral", None),
        (("negative", "positive"), 2, None),
        (("1", "3", "5"), "3.0", 1),
        (("1", "3", "5"), 5, 2),
        (("good", "meh", "bad"), " meh ", 1),
    ],
)
def test_a_label_value_finds_its_class_as_train_finds_it(names, value, expected):
    assert class_id(names, value) == expected


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 1, 0],
        ["0", "1", " 1.0", "0"],
        ["neg", "pos", "pos", "neg"],
        ["Negative", " POSITIVE", "positive", "NEG"],
        [False, True, True, False],
    ],
)
def test_binary_sentiment_labels_read_as_today(tmp_path, labels):
    data = load_labelled(write(tmp_path / "reviews.parquet", labels), validation_size=1)
    assert data.labels.names == ("negative", "positive") and data.labels.values is None
    assert [name for _, name in classes(data)] == ["negative", "positive", "positive", "negative"]


def test_whole_numbers_are_classes_in_numeric_order(tmp_path):
    stars = [5, 1, 10, 2, 4, 9, 10, 1]
    for suffix, labels in ((".parquet", stars), (".csv", stars), (".jsonl", [str(star) for star in stars])):
        data = load_labelled(write(tmp_path / f"stars{suffix}", labels), validation_size=2)
        assert data.labels.names == ("1", "2", "4", "5", "9", "10"), suffix
        assert data.labels.values == (1, 2, 4, 5, 9, 10)
        assert [name for _, name in classes(data)] == [str(star) for star in stars]
    floats = load_labelled(write(tmp_path / "floats.parquet", [5.0, 1.0, 3.0, 1.0]), validation_size=1)
    assert floats.labels.names == ("1", "3", "5")


def test_other_labels_keep_their_names_in_string_order(tmp_path):
    labels = ["positive", "neutral", "Negative", "neutral ", "positive", "Negative"]
    data = load_labelled(write(tmp_path / "tweets.parquet", labels), validation_size=2)
    assert data.labels.names == ("Negative", "neutral", "positive") and data.labels.values is None
    assert [name for _, name in classes(data)] == ["positive", "neutral", "Negative", "neutral", "positive", "Negative"]


def test_given_labels_fix_names_and_order(tmp_path):
    source = write(tmp_path / "reviews.parquet", ["neg", "pos", "pos", "neg"])
    data = load_labelled(source, validation_size=1, labels="positive,negative")
    assert data.labels.names == ("positive", "negative")
    assert [name for _, name in classes(data)] == ["negative", "positive", "positive", "negative"]
    tweets = write(tmp_path / "tweets.parquet", ["bad", "good", "meh", "good"])
    fixed = load_labelled(tweets, validation_size=1, labels=["good", "meh", "bad"])
    assert fixed.labels.names == ("good", "meh", "bad")
    assert [name for _, name in classes(fixed)] == ["bad", "good", "meh", "good"]
    stars = load_labelled(write(tmp_path / "stars.parquet", [1, 5, 5]), validation_size=1, labels="5,1")
    assert stars.labels.names == ("5", "1") and stars.labels.values == (5, 1)
    with pytest.raises(UserError, match=r"has labels 'meh', none of the given labels good, bad") as raised:
        load_labelled(tweets, labels="good,bad")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["good", None, "bad"], "has reviews without a label"),
        (["good", "  ", "bad"], "has reviews without a label"),
        ([f"id-{n}" for n in range(101)], r"holds 101 different values \('id-0', .*more than 100 classes"),
        (["good", "bad\tday"], "label 'bad\\\\tday' cannot name a class"),
    ],
)
def test_labels_no_model_can_take_are_refused(tmp_path, labels, match):
    with pytest.raises(UserError, match=match):
        load_labelled(write(tmp_path / "reviews.jsonl", labels), validation_size=1)


@pytest.mark.parametrize(("given", "match"), [("good", "two or more"), ("a,a", "distinct"), ("a,,b", "distinct")])
def test_bad_given_labels(given, match):
    with pytest.raises(UserError, match=match):
        label_names(given)
