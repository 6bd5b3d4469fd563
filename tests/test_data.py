"""Tests of train.data: aclImdb folders and tarballs, Parquet/CSV/JSONL files, the Hub, splits and bad input."""

from __future__ import annotations

import tarfile
from pathlib import Path

import datasets
import pandas as pd
import pytest

from helpers import REAL_TARBALL, TINY_ACLIMDB, tiny_review_text
from sentiment_batch.errors import UserError
from sentiment_batch.train import data
from sentiment_batch.train.data import load_unlabeled, load_unsupervised, source_name
from sentiment_batch.train.splits import load_splits

FEATURES = datasets.Features(
    {
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "rating": datasets.Value("int32"),
        "movie_id": datasets.Value("string"),
        "source": datasets.Value("string"),
    }
)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the datasets cache of these tests out of the user's home."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


@pytest.fixture
def aclimdb_folder(tmp_path, make_tiny_aclimdb):
    """A tiny aclImdb folder with a test split and no unsup reviews."""
    return make_tiny_aclimdb(tmp_path, test=True)


@pytest.fixture
def aclimdb_tarball(tmp_path, make_tiny_aclimdb):
    """A tiny aclImdb_v1.tar.gz with unsup reviews and no test split."""
    return make_tarball(make_tiny_aclimdb(tmp_path / "unpacked", unsup=True), tmp_path / "aclImdb_v1.tar.gz")


def make_tarball(root: Path, destination: Path) -> Path:
    with tarfile.open(destination, "w:gz") as archive:
        archive.add(root, arcname="aclImdb")
    return destination


def expected_rows(split: str) -> list[dict]:
    """TINY_ACLIMDB's labelled reviews of a split, in the promised order: neg then pos, by numeric id."""
    return [
        {
            "text": tiny_review_text(split, label, review_id),
            "label": label_id,
            "rating": rating,
            "movie_id": movie,
            "source": "imdb",
        }
        for label_id, label in enumerate(["neg", "pos"])
        for review_id, rating, movie in sorted(TINY_ACLIMDB[split, label])
    ]


def rows(dataset: datasets.Dataset) -> list[dict]:
    return dataset.to_list()


def train_and_validation(splits: datasets.DatasetDict) -> list[dict]:
    """Train and validation rows merged back into the loader's order (both keep it)."""
    order = [row["text"] for row in expected_rows("train")]
    return sorted(rows(splits["train"]) + rows(splits["validation"]), key=lambda row: order.index(row["text"]))


def movies(dataset: datasets.Dataset) -> set[str]:
    return set(dataset["movie_id"])


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    writers = {".parquet": frame.to_parquet, ".csv": frame.to_csv, ".jsonl": frame.to_json}
    options = {".parquet": {"index": False}, ".csv": {"index": False}, ".jsonl": {"orient": "records", "lines": True}}
    writers[path.suffix](path, **options[path.suffix])
    return path


def movie_table(reviews: int = 300, movies_count: int = 60, with_movies: bool = True) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"review {n}" for n in range(reviews)],
            "label": [n % 2 for n in range(reviews)],
            "movie_id": [f"tt{n % movies_count:07d}" if with_movies else "" for n in range(reviews)],
        }
    )


# aclImdb folders and tarballs


def test_aclimdb_folder_has_schema_ratings_movie_ids_and_sorted_order(aclimdb_folder):
    splits = load_splits(str(aclimdb_folder), validation_size=2)

    assert set(splits) == {"train", "validation", "test"}
    for split in splits.values():
        assert split.features == FEATURES
    assert train_and_validation(splits) == expected_rows("train")
    assert rows(splits["test"]) == expected_rows("test")
    assert [row["text"] for row in rows(splits["train"])] == [
        row["text"] for row in expected_rows("train") if row in rows(splits["train"])
    ]


def test_parent_folder_and_tarball_read_like_the_aclimdb_folder(aclimdb_folder, aclimdb_tarball):
    from_folder = load_splits(str(aclimdb_folder))
    from_parent = load_splits(str(aclimdb_folder.parent))
    from_tarball = load_splits(str(aclimdb_tarball))

    assert rows(from_parent["train"]) == rows(from_folder["train"])
    assert rows(from_tarball["train"]) == rows(from_folder["train"])
    assert rows(from_tarball["validation"]) == rows(from_folder["validation"])
    assert "test" in from_folder and "test" not in from_tarball


def test_grouped_validation_keeps_movies_on_one_side(aclimdb_folder):
    splits = load_splits(str(aclimdb_folder), validation_size=0.3, seed=3)

    assert splits["validation"].num_rows >= 1
    assert not movies(splits["train"]) & movies(splits["validation"])


def test_unsupervised_reviews_come_from_train_unsup_only(aclimdb_tarball, aclimdb_folder):
    unsupervised = load_unsupervised(str(aclimdb_tarball))

    assert unsupervised.column_names == ["text"]
    assert unsupervised["text"] == [tiny_review_text("train", "unsup", review_id) for review_id in (0, 1, 2)]
    assert load_unsupervised(str(aclimdb_folder)) is None
    assert all("unsup" not in row["text"] for row in train_and_validation(load_splits(str(aclimdb_tarball))))


def test_unlabeled_reviews_auto_none_and_paths(aclimdb_tarball, aclimdb_folder, tmp_path):
    unsup = [tiny_review_text("train", "unsup", review_id) for review_id in (0, 1, 2)]
    assert load_unlabeled(str(aclimdb_tarball))["text"] == unsup  # auto: the dataset's own
    assert load_unlabeled(str(aclimdb_folder)) is None  # an aclImdb without unsup reviews has none
    assert load_unlabeled(str(aclimdb_tarball), "none") is None
    assert load_unlabeled(str(aclimdb_folder), str(aclimdb_tarball))["text"] == unsup  # another aclImdb's
    folder = tmp_path / "texts"
    folder.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "text": ["one", "   ", "two"]}).to_parquet(folder / "a.parquet")
    (folder / "b.jsonl").write_text('{"text": "three"}\n{"text": null}\n', encoding="utf-8")
    (folder / "notes.txt").write_text("not a review file", encoding="utf-8")
    assert load_unlabeled(str(aclimdb_folder), str(folder))["text"] == ["one", "two", "three"]  # blanks dropped
    assert load_unlabeled(str(aclimdb_folder), str(folder / "b.jsonl"))["text"] == ["three"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda path: path / "absent.parquet", "do not exist"),
        (lambda path: write_table(path / "reviews.csv", pd.DataFrame({"review": ["x"]})), "has no text column"),
        (lambda path: path, "holds no .parquet, .csv or .jsonl files"),
    ],
)
def test_bad_unlabeled_sources_are_one_line(aclimdb_folder, tmp_path, make, match):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=match) as raised:
        load_unlabeled(str(aclimdb_folder), str(make(empty)))
    assert "\n" not in str(raised.value)


def test_changed_review_file_invalidates_the_cache(aclimdb_folder):
    review = aclimdb_folder / "train" / "pos" / "0_10.txt"
    load_splits(str(aclimdb_folder))
    review.write_text("An edited review, longer than before.", encoding="utf-8")

    splits = load_splits(str(aclimdb_folder))

    assert "An edited review, longer than before." in [*splits["train"]["text"], *splits["validation"]["text"]]


# Parquet, CSV and JSONL files


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_single_file_is_the_train_split(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["good", "bad", "fine", "awful"], "label": [1, 0, 1, 0], "extra": [1, 2, 3, 4]})

    splits = load_splits(str(write_table(tmp_path / f"reviews{suffix}", frame)), validation_size=1)

    assert set(splits) == {"train", "validation"}
    assert splits["train"].features == FEATURES
    merged = rows(splits["train"]) + rows(splits["validation"])
    assert sorted((row["text"], row["label"]) for row in merged) == sorted(zip(frame.text, frame.label, strict=True))
    assert {(row["rating"], row["movie_id"]) for row in merged} == {(-1, "")}


def test_folder_of_split_files_and_label_names(tmp_path):
    write_table(tmp_path / "train.csv", pd.DataFrame({"text": ["a", "b", "c"], "label": ["neg", "pos", " Positive"]}))
    write_table(tmp_path / "test.jsonl", pd.DataFrame({"text": ["d", "e"], "label": ["negative", "POS"]}))

    splits = load_splits(str(tmp_path), validation_size=1)

    assert set(splits) == {"train", "validation", "test"}
    name = source_name(str(tmp_path))
    assert rows(splits["test"]) == [
        {"text": "d", "label": 0, "rating": -1, "movie_id": "", "source": name},
        {"text": "e", "label": 1, "rating": -1, "movie_id": "", "source": name},
    ]
    assert sorted(row["label"] for row in rows(splits["train"]) + rows(splits["validation"])) == [0, 1, 1]


def test_validation_split_is_seeded_and_sized(tmp_path):
    source = str(write_table(tmp_path / "reviews.parquet", movie_table()))

    first, again, other = (load_splits(source, seed=seed) for seed in (1, 1, 2))
    by_count = load_splits(source, validation_size=50)

    assert first["validation"]["text"] == again["validation"]["text"]
    assert first["validation"]["text"] != other["validation"]["text"]
    assert not movies(first["train"]) & movies(first["validation"])
    assert first["validation"].num_rows == 30  # 10% of 300 in whole movies of 5 reviews
    assert by_count["validation"].num_rows == 50
    assert first["train"].num_rows + first["validation"].num_rows == 300


def test_validation_split_without_movie_ids_is_random_and_seeded(tmp_path):
    source = str(write_table(tmp_path / "reviews.parquet", movie_table(with_movies=False)))

    first, again, other = (load_splits(source, validation_size=0.2, seed=seed) for seed in (7, 7, 8))

    assert first["validation"].num_rows == 60
    assert first["validation"]["text"] == again["validation"]["text"]
    assert first["validation"]["text"] != other["validation"]["text"]


# The Hub


def test_hub_dataset_is_normalized(monkeypatch):
    labels = datasets.ClassLabel(names=["neg", "pos"])
    features = datasets.Features({"text": datasets.Value("string"), "label": labels})
    hub = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 1]}, features=features),
            "test": datasets.Dataset.from_dict({"text": ["d"], "label": [0]}, features=features),
            "unsupervised": datasets.Dataset.from_dict({"text": ["e"], "label": [-1]}),
        }
    )
    monkeypatch.setattr(data, "_hub_offline", lambda: False)
    monkeypatch.setattr(data, "_hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda source: hub)

    splits = load_splits("stanfordnlp/imdb", validation_size=1)

    assert set(splits) == {"train", "validation", "test"}
    assert rows(splits["test"]) == [{"text": "d", "label": 0, "rating": -1, "movie_id": "", "source": "imdb"}]
    assert load_unsupervised("stanfordnlp/imdb")["text"] == ["e"]


def test_hub_offline_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    with pytest.raises(UserError, match=r"offline mode.*pass a local aclImdb folder or tarball"):
        load_splits("stanfordnlp/imdb")


def test_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.setattr(data, "HUB_ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    monkeypatch.setattr(data, "_hub_offline", lambda: False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    # Refused after one connection attempt, before huggingface_hub's retries (about 25 s) could start.
    monkeypatch.setattr(data.datasets, "load_dataset", lambda *args, **kwargs: pytest.fail("tried the Hub"))
    with pytest.raises(UserError, match=r"unreachable.*pass a local aclImdb folder or tarball"):
        load_splits("stanfordnlp/imdb")


def test_hub_offline_set_before_import_asks_datasets_and_explains(monkeypatch):
    # What datasets and huggingface_hub read from the variables at import (a fresh process would import torch: slow).
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    with pytest.raises(UserError, match=r"offline mode .*OfflineModeIsEnabled.*pass a local aclImdb folder or tarball"):
        load_splits("stanfordnlp/imdb")


# Bad input: one clear line each


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_splits(str(tmp_path / "nowhere" / "aclImdb"))
    with pytest.raises(UserError, match="does not exist"):
        load_splits(str(tmp_path / "reviews.csv"))


def test_folder_that_is_not_aclimdb_shaped(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match=r"is not a dataset folder; expected an aclImdb folder \(train/pos"):
        load_splits(str(tmp_path))


def test_aclimdb_without_reviews(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "aclImdb" / "train" / label).mkdir(parents=True)
    with pytest.raises(UserError, match="holds no labelled reviews"):
        load_splits(str(tmp_path))
    with pytest.raises(UserError, match="holds no labelled reviews"):
        load_splits(str(make_tarball(tmp_path / "aclImdb", tmp_path / "empty.tar.gz")))


def test_non_utf8_review_is_named(tmp_path, make_tiny_aclimdb):
    root = make_tiny_aclimdb(tmp_path / "corrupt")
    (root / "train" / "pos" / "12_8.txt").write_bytes(b"caf\xe9 review in Latin-1")
    message = "aclImdb/train/pos/12_8.txt is not valid UTF-8"

    with pytest.raises(UserError, match=message):
        load_splits(str(root))
    with pytest.raises(UserError, match=message):
        load_splits(str(make_tarball(root, tmp_path / "corrupt.tar.gz")))


def test_corrupt_tarball(tmp_path):
    tarball = tmp_path / "aclImdb_v1.tar.gz"
    tarball.write_bytes(b"not a tarball at all")
    with pytest.raises(UserError, match="cannot read .* as a tarball"):
        load_splits(str(tarball))


def test_file_without_needed_columns(tmp_path):
    source = write_table(tmp_path / "reviews.csv", pd.DataFrame({"review": ["good"], "sentiment": [1]}))
    with pytest.raises(UserError, match="lacks column.s. text, label; columns found: review, sentiment"):
        load_splits(str(source))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_empty_file(tmp_path, suffix):
    empty = pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=int)})
    with pytest.raises(UserError, match="holds no reviews"):
        load_splits(str(write_table(tmp_path / f"reviews{suffix}", empty)))


def test_bad_labels_are_named(tmp_path):
    source = write_table(tmp_path / "reviews.jsonl", pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 5, "meh"]}))
    with pytest.raises(UserError, match="has labels 'meh', 5; expected 0/1 or neg/pos"):
        load_splits(str(source))


def test_unknown_extension(tmp_path):
    source = tmp_path / "reviews.txt"
    source.write_text("good\n", encoding="utf-8")
    with pytest.raises(UserError, match="unknown file type"):
        load_splits(str(source))


@pytest.mark.parametrize("validation_size", [0, -0.5, 1.5, 300])
def test_bad_validation_size(tmp_path, validation_size):
    source = str(write_table(tmp_path / "reviews.parquet", movie_table()))
    with pytest.raises(UserError, match="validation_size must be"):
        load_splits(source, validation_size=validation_size)


# The real IMDb tarball


@pytest.mark.slow
@pytest.mark.skipif(not REAL_TARBALL.exists(), reason=f"the real IMDb tarball {REAL_TARBALL} is not on this machine")
def test_real_tarball_grouped_split(monkeypatch):
    splits = load_splits(str(REAL_TARBALL))
    # The second load comes from the datasets cache: the tarball is not read again.
    monkeypatch.setattr(data, "_read_aclimdb", lambda *args, **kwargs: pytest.fail("read the tarball again"))
    cached = load_splits(str(REAL_TARBALL))

    assert set(splits) == {"train", "validation"}
    assert splits["train"].num_rows + splits["validation"].num_rows == 25_000
    assert 2_450 <= splits["validation"].num_rows <= 2_550
    assert not movies(splits["train"]) & movies(splits["validation"])
    assert "" not in movies(splits["train"])
    assert set(splits["train"]["rating"]) == {1, 2, 3, 4, 7, 8, 9, 10}
    assert cached["validation"]["movie_id"] == splits["validation"]["movie_id"]
