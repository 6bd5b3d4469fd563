"""Naive Bayes log-count ratios: the counted rows are the model's own, with add-alpha smoothing."""

import math

import numpy as np
import torch

from sentiment_batch.preprocessing import flatten
from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.naive_bayes import log_count_ratios


def batches(reviews, labels, batch_size):
    """The reviews as `log_count_ratios` reads them: flat ids, offsets and labels per batch."""
    for start in range(0, len(reviews), batch_size):
        input_ids, offsets = flatten(reviews[start : start + batch_size])
        yield torch.from_numpy(input_ids), torch.from_numpy(offsets), torch.tensor(labels[start : start + batch_size])


def test_ratios_count_words_and_ngrams_per_class():
    config = SentimentBagConfig(vocab_size=10, ngram_size=2, num_buckets=8, distinct_ngrams=False)
    # positive: "5 6", "5"; negative: "7 7"
    ratios = log_count_ratios(batches([[5, 6], [5], np.array([7, 7])], [1, 1, 0], 2), config, alpha=1.0)
    assert ratios.shape == (18,) and ratios.dtype == torch.float32
    bigram_56 = (5 * config.ngram_hash_multiplier + 6) % 8 + 10
    bigram_77 = (7 * config.ngram_hash_multiplier + 7) % 8 + 10
    positive = {5: 2, 6: 1, bigram_56: 1}  # 4 positive entries, 3 negative
    negative = {7: 2, bigram_77: 1}
    positive_total, negative_total = 4 + 18, 3 + 18
    for row in (5, 6, 7, bigram_56, bigram_77, 3):
        expected = math.log((positive.get(row, 0) + 1) / positive_total) - math.log(
            (negative.get(row, 0) + 1) / negative_total
        )
        assert math.isclose(ratios[row].item(), expected, rel_tol=1e-6), row


def test_batches_do_not_change_the_ratios():
    config = SentimentBagConfig(vocab_size=30, ngram_size=3, num_buckets=16)
    generator = np.random.default_rng(0)
    reviews = [generator.integers(1, 30, generator.integers(0, 9)) for _ in range(25)]
    labels = [int(label) for label in generator.integers(0, 2, 25)]
    torch.testing.assert_close(
        log_count_ratios(batches(reviews, labels, 4), config), log_count_ratios(batches(reviews, labels, 25), config)
    )


def test_binary_counts_a_row_once_per_review():
    config = SentimentBagConfig(vocab_size=10, ngram_size=1, distinct_ngrams=False)
    # positive: "5 5 6", "5"; negative: "7 7 7"
    reviews, labels = [[5, 5, 6], [5], [7, 7, 7]], [1, 1, 0]
    ratios = log_count_ratios(batches(reviews, labels, 2), config, alpha=1.0, binary=True)
    positive_total, negative_total = 3 + 10, 1 + 10  # entries: 5 twice (two reviews) and 6; 7 once
    assert math.isclose(ratios[5].item(), math.log(3 / positive_total) - math.log(1 / negative_total), rel_tol=1e-6)
    assert math.isclose(ratios[7].item(), math.log(1 / positive_total) - math.log(2 / negative_total), rel_tol=1e-6)
    counted = log_count_ratios(batches(reviews, labels, 2), config, alpha=1.0)
    assert counted[7] < ratios[7]  # three occurrences of 7 weigh more than one review


def test_class_probabilities_count_in_each_class_by_their_share():
    config = SentimentBagConfig(vocab_size=10, ngram_size=1)
    # one review "5" that is 75% positive: 0.75 of a positive count and 0.25 of a negative one
    ids, offsets = torch.tensor([5]), torch.tensor([0])
    soft = log_count_ratios([(ids, offsets, torch.tensor([[0.25, 0.75]]))], config, alpha=1.0)
    positive_total, negative_total = 0.75 + 10, 0.25 + 10
    expected = math.log(1.75 / positive_total) - math.log(1.25 / negative_total)
    assert math.isclose(soft[5].item(), expected, rel_tol=1e-6)
    one_hot = log_count_ratios([(ids, offsets, torch.tensor([[0.0, 1.0]]))], config)
    assert torch.equal(one_hot, log_count_ratios([(ids, offsets, torch.tensor([1]))], config))


def test_three_classes_get_one_vs_rest_ratios():
    config = SentimentBagConfig(
        vocab_size=10, ngram_size=1, distinct_ngrams=False, id2label={0: "bad", 1: "meh", 2: "good"}
    )
    # class 0: "5 5", class 1: "6", class 2: "7 5"
    reviews, labels = [[5, 5], [6], [7, 5]], [0, 1, 2]
    ratios = log_count_ratios(batches(reviews, labels, 2), config, alpha=1.0)
    assert ratios.shape == (3, 10) and ratios.dtype == torch.float32
    counts = {0: {5: 2}, 1: {6: 1}, 2: {7: 1, 5: 1}}
    for label in range(3):
        within = {row: counts[label].get(row, 0) for row in range(10)}
        outside = {row: sum(counts[other].get(row, 0) for other in range(3) if other != label) for row in range(10)}
        within_total, outside_total = sum(within.values()) + 10, sum(outside.values()) + 10
        for row in (5, 6, 7, 3):
            expected = math.log((within[row] + 1) / within_total) - math.log((outside[row] + 1) / outside_total)
            assert math.isclose(ratios[label, row].item(), expected, rel_tol=1e-6), (label, row)
    soft = log_count_ratios([(torch.tensor([6]), torch.tensor([0]), torch.tensor([[0.0, 1.0, 0.0]]))], config)
    assert torch.equal(soft, log_count_ratios([(torch.tensor([6]), torch.tensor([0]), torch.tensor([1]))], config))


def test_per_class_ratios_start_each_column_from_one_class():
    config = SentimentBagConfig(
        vocab_size=20, embedding_dim=5, ngram_size=1, id2label={0: "bad", 1: "meh", 2: "good"}, hidden_dims=[4]
    )
    model = SentimentBagForSequenceClassification(config)
    ratios = torch.randn(3, 20)
    generator_seed = 3
    model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(generator_seed))
    expected = ratios.clone()
    expected[:, config.pad_token_id] = 0
    # each row weighs its strongest evidence for or against any class
    assert torch.equal(model.bag.feature_weights, expected.abs().amax(dim=0))
    # column j starts at ± class (j mod 3)'s ratios, the signs drawn as for two classes
    signs = torch.randint(0, 2, (5,), generator=torch.Generator().manual_seed(generator_seed)) * 2.0 - 1.0
    for column in range(5):
        assert torch.equal(model.bag.embeddings.weight[:, column], expected[column % 3] * signs[column]), column
