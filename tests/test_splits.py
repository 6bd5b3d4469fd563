"""Several labelled sources in one run: validation per source, balanced classes, caps, weights, refusals."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from sentiment_batch.errors import UserError
from sentiment_batch.train.splits import check_learnable, load_labelled, load_splits


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the datasets cache of these tests out of the user's home."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def mixed_file(path: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """A Parquet file with a source column: `sizes` maps each source to its (negative, positive) review counts."""
    rows = [
        {"text": f"{source} review {label} {n}", "label": label, "source": source, "domain": f"{source}:all"}
        for source, counts in sizes.items()
        for label, count in zip(("negative", "positive"), counts, strict=True)
        for n in range(count)
    ]
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_parquet(path)
    return path


def plain_file(path: Path, negatives: int, positives: int) -> Path:
    texts = [f"{path.stem} plain {n}" for n in range(negatives + positives)]
    pd.DataFrame({"text": texts, "label": [0] * negatives + [1] * positives}).to_parquet(path)
    return path


def counts_by_source(split: datasets.Dataset) -> dict[str, list[int]]:
    frame = split.to_pandas()
    return {source: np.bincount(group.label, minlength=2).tolist() for source, group in frame.groupby("source")}


def test_a_source_column_makes_one_source_per_value_each_balanced(tmp_path):
    source = mixed_file(tmp_path / "reviews.parquet", {"apps": (100, 300), "hotels": (240, 60)})
    data = load_labelled(str(source), validation_size=0.1, seed=1)

    assert [(s.name, s.origin) for s in data.sources] == [("apps", str(source)), ("hotels", str(source))]
    assert data.balanced  # two sources: balanced by default
    train, validation = counts_by_source(data.splits["train"]), counts_by_source(data.splits["validation"])
    for name, total in (("apps", 400), ("hotels", 300)):
        assert train[name][0] == train[name][1] and validation[name][0] == validation[name][1]
        row = next(s for s in data.sources if s.name == name).rows
        # validation is carved (10% of the source) before balancing cuts it down
        assert row["labelled"] == total - round(0.1 * total) and row["validation"] == sum(validation[name])
        assert row["train"] == sum(train[name]) and row["surplus"] == row["labelled"] - row["train"]
    # what balancing left out of training is unlabelled text; no held-out review is among it
    surplus = set(data.surplus["text"])
    assert len(surplus) == sum(s.rows["surplus"] for s in data.sources)
    assert not surplus & set(data.splits["train"]["text"])
    assert not surplus & set(data.held_out.to_pylist())
    # every carved validation review is held out, also those balancing dropped
    assert set(data.splits["validation"]["text"]) < set(data.held_out.to_pylist())
    assert len(data.held_out) == 40 + 30
    assert data.train_rows is None  # weight 1: each kept row once


def test_one_dataset_keeps_its_class_prior_unless_asked(tmp_path):
    source = plain_file(tmp_path / "stars.parquet", 30, 170)
    natural = load_labelled(str(source), validation_size=0.1, seed=3)
    assert not natural.balanced and natural.surplus is None
    assert natural.class_counts("training").sum() + natural.class_counts("validation").sum() == 200
    balanced = load_labelled(str(source), validation_size=0.1, seed=3, balance_classes="true")
    counts = balanced.class_counts("training")
    assert counts[0] == counts[1] and balanced.sources[0].rows["surplus"] == 180 - counts.sum()
    two = mixed_file(tmp_path / "two.parquet", {"a": (50, 150), "b": (80, 40)})
    unbalanced = load_labelled(str(two), balance_classes="false")
    assert not unbalanced.balanced and unbalanced.surplus is None
    assert unbalanced.class_counts("training").sum() == 320 - 20 - 12  # every review outside validation


def test_weights_repeat_training_rows_and_fractions_take_a_seeded_share(tmp_path):
    first = plain_file(tmp_path / "first.parquet", 50, 50)
    second = plain_file(tmp_path / "second.parquet", 40, 40)
    data = load_labelled([str(first), str(second)], seed=5, weights=[3, 0.5])

    train = data.splits["train"]
    sources = np.asarray(train["source"])[data.train_rows]
    kept = {s.name: s.rows["train"] for s in data.sources}
    assert (sources == "first").sum() == 3 * kept["first"]
    assert (sources == "second").sum() == round(0.5 * kept["second"])
    first_rows = data.train_rows[sources == "first"]
    assert np.all(np.bincount(first_rows)[np.unique(first_rows)] == 3)  # each row three times
    again = load_labelled([str(first), str(second)], seed=5, weights=[3, 0.5])
    assert np.array_equal(again.train_rows, data.train_rows)
    assert [s.rows["weighted"] for s in data.sources] == [3 * kept["first"], round(0.5 * kept["second"])]
    # the validation split is not weighted
    assert counts_by_source(data.splits["validation"]) == counts_by_source(
        load_splits([str(first), str(second)], 0.1, 5)["validation"]
    )


def test_the_cap_keeps_classes_balanced_and_the_rest_is_surplus(tmp_path):
    source = mixed_file(tmp_path / "reviews.parquet", {"big": (500, 900), "small": (30, 30)})
    data = load_labelled(str(source), seed=2, max_rows_per_source=100)
    train = counts_by_source(data.splits["train"])
    assert train["big"] == [50, 50] and sum(train["small"]) <= 100
    big = next(s for s in data.sources if s.name == "big").rows
    assert big["surplus"] == big["labelled"] - 100
    other = plain_file(tmp_path / "other.parquet", 100, 100)
    per_dataset = load_labelled([str(source), str(other)], seed=2, max_rows_per_source=[100, 0])
    assert {s.name: s.rows["train"] for s in per_dataset.sources}["other"] > 100  # 0: no cap
    with pytest.raises(UserError, match="2 row caps given for 3 datasets"):
        load_labelled([str(source), str(other), str(other)], max_rows_per_source=[1, 2])


def test_imdb_is_grouped_by_movie_and_a_file_split_at_random(tmp_path, make_tiny_aclimdb):
    aclimdb = make_tiny_aclimdb(tmp_path)
    other = plain_file(tmp_path / "other.parquet", 40, 40)
    data = load_labelled([str(aclimdb), str(other)], validation_size=0.3, seed=4, balance_classes="false")
    frame = {name: split.to_pandas() for name, split in data.splits.items()}
    imdb = {name: set(split[split.source == "imdb"].movie_id) for name, split in frame.items()}
    assert imdb["validation"] and not imdb["train"] & imdb["validation"]
    assert (frame["validation"].source == "other").sum() == 24  # 30% of the file's 80 reviews


def test_only_movie_reviews_without_movie_ids_warn_of_a_random_split(tmp_path, make_tiny_aclimdb, caplog):
    aclimdb = make_tiny_aclimdb(tmp_path)
    for urls in aclimdb.glob("train/urls_*.txt"):
        urls.unlink()  # IMDb's reviews, their movies unknown
    other = plain_file(tmp_path / "other.parquet", 40, 40)
    data = load_labelled([str(aclimdb), str(other)], validation_size=0.3, seed=4, balance_classes="false")
    warnings = [record.getMessage() for record in caplog.records if "no movie ids" in record.getMessage()]
    assert [warning.split()[0] for warning in warnings] == ["imdb"]
    assert [source.grouped for source in data.sources] == [False, False]


def test_sources_sharing_a_name_are_told_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = plain_file(tmp_path / "a" / "reviews.parquet", 20, 20)
    second = mixed_file(tmp_path / "b" / "reviews.parquet", {"reviews": (20, 20), "shop": (20, 20)})
    data = load_labelled([str(first), str(second)], seed=0)
    assert [s.name for s in data.sources] == ["reviews", "reviews-2", "shop"]
    assert set(data.splits["validation"]["source"]) == {"reviews", "reviews-2", "shop"}


def test_training_sample_is_the_datasets_shuffle(tmp_path):
    source = plain_file(tmp_path / "reviews.parquet", 60, 60)
    data = load_labelled(str(source), seed=9)
    expected = data.splits["train"].shuffle(seed=11).select(range(25))["text"]
    data.sample_training_rows(25, seed=11)
    assert data.splits["train"]["text"] == expected and data.train_rows is None
    weighted = load_labelled(str(source), seed=9, weights=[2])
    weighted.sample_training_rows(30, seed=11)
    assert len(weighted.train_rows) == 30 and weighted.train_rows.max() < len(weighted.splits["train"])


def test_data_a_model_cannot_learn_from_is_refused(tmp_path):
    one_class = plain_file(tmp_path / "happy.parquet", 0, 50)
    with pytest.raises(UserError, match=r"one class only \('positive'\); training needs reviews of at least two"):
        check_learnable(load_labelled(str(one_class)))
    rare = plain_file(tmp_path / "rare.parquet", 1, 200)
    with pytest.raises(UserError, match="class 'negative' has 1 review, too few to appear in both") as raised:
        check_learnable(load_labelled(str(rare), validation_size=0.1, seed=0))
    assert "\n" not in str(raised.value)
    folder = tmp_path / "stars"
    folder.mkdir()
    pd.DataFrame({"text": [f"r{n}" for n in range(40)], "label": [1, 5] * 20}).to_parquet(folder / "train.parquet")
    pd.DataFrame({"text": ["t1", "t3"], "label": [1, 3]}).to_parquet(folder / "test.parquet")
    with pytest.raises(UserError, match="class '3' has no review outside the test split"):
        check_learnable(load_labelled(str(folder)))
    mixed = mixed_file(tmp_path / "mixed.parquet", {"fine": (30, 30), "praise": (0, 40)})
    with pytest.raises(UserError, match="source praise has reviews of one class only"):
        load_labelled(str(mixed))


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"weights": [1, 2, 3]}, "3 dataset weights given for 2 datasets"),
        ({"weights": [-1, 1]}, "at least 0"),
        ({"balance_classes": "sometimes"}, "balance_classes must be one of auto, true, false"),
        ({"max_rows_per_source": -5}, "at least 0"),
    ],
)
def test_bad_mixing_settings_are_refused(tmp_path, settings, match):
    sources = [str(plain_file(tmp_path / f"{name}.parquet", 20, 20)) for name in ("a", "b")]
    with pytest.raises(UserError, match=match):
        load_labelled(sources, **settings)
