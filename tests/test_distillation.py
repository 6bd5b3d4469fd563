"""Distillation's data side: averaged teacher probabilities, confident reviews, the student's set, held-out texts."""

import numpy as np
import pyarrow as pa
import pytest
from datasets import Dataset

from sentiment_batch.train.distillation import (
    DistillationArguments,
    pseudo_labels,
    sampled,
    student_set,
    without_texts,
)

TEACHERS = [np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]), np.array([[0.7, 0.3], [0.6, 0.4], [0.0, 1.0]])]


def test_soft_targets_are_the_averaged_probabilities():
    targets, kept = pseudo_labels(TEACHERS)
    np.testing.assert_allclose(targets, [[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]], rtol=1e-6)
    assert kept.tolist() == [0, 1, 2] and targets.dtype == np.float32


def test_hard_targets_and_a_confidence_threshold():
    targets, kept = pseudo_labels(TEACHERS, soft=False, min_confidence=0.75)
    assert kept.tolist() == [0, 2]  # the 50/50 review is dropped
    assert targets.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_student_set_holds_one_hot_labels_then_the_pseudo_labels():
    labelled = Dataset.from_dict({"input_ids": [[3, 4], [5]], "labels": [1, 0]})
    unlabeled = Dataset.from_dict({"input_ids": [[6], [], [7, 8, 9]]})
    targets = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]], dtype=np.float32)
    student = student_set(labelled, None, unlabeled, targets)
    assert student["input_ids"] == [[3, 4], [5], [6], [], [7, 8, 9]]
    assert student["labels"] == [[0, 1], [1, 0], *targets.tolist()]  # float32 kept exactly


def test_student_set_repeats_weighted_rows_without_copying_them():
    labelled = Dataset.from_dict({"input_ids": [[3, 4], [5], [6]], "labels": [1, 0, 2]})
    unlabeled = Dataset.from_dict({"input_ids": [[7]]})
    targets = np.array([[0.2, 0.3, 0.5]], dtype=np.float32)
    student = student_set(labelled, np.array([0, 0, 2, 1, 2]), unlabeled, targets)
    assert student["input_ids"] == [[3, 4], [3, 4], [6], [5], [6], [7]]
    assert student["labels"][:5] == [[0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]
    assert student["labels"][5] == targets[0].tolist()


def test_held_out_texts_are_never_pseudo_labelled():
    unlabeled = Dataset.from_dict({"text": ["seen in validation", "fresh", "also fresh"]})
    assert without_texts(unlabeled, ["seen in validation", "a test review"])["text"] == ["fresh", "also fresh"]
    held_out = pa.chunked_array([["a test review"], ["also fresh"]])  # as `LabelledData.held_out` holds them
    assert without_texts(unlabeled, held_out)["text"] == ["seen in validation", "fresh"]
    assert without_texts(unlabeled, []) is unlabeled and without_texts(unlabeled, None) is unlabeled


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"num_teachers": -1}, "num_teachers"),
        ({"min_confidence": 2}, "min_"),
        ({"student_epochs": 0}, "student_"),
        ({"unlabeled": ["none", "auto"]}, "'none' alone"),
        ({"unlabeled": []}, "'none' alone"),
        ({"max_unlabeled": 0}, "max_unlabeled"),
    ],
)
def test_bad_settings_are_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        DistillationArguments(**settings)


def test_a_seeded_sample_of_the_unlabelled_reviews_in_order():
    texts = Dataset.from_dict({"text": [f"review {n}" for n in range(100)]})
    kept = sampled(texts, 30, seed=1)["text"]
    assert len(kept) == 30 and kept == sorted(kept, key=lambda text: int(text.split()[1]))
    assert sampled(texts, 30, seed=1)["text"] == kept and sampled(texts, 30, seed=2)["text"] != kept
    assert sampled(texts, None, seed=1) is texts and sampled(texts, 100, seed=1) is texts
