"""The exported form of the model: exact fixed-point review sums, the same answer whatever the batch."""

import copy

import pytest
import torch

from sentiment_batch.export.scoring_module import INT64_BITS, MAX_TOKENS_BITS, ScoringModule, fraction_bits
from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.modeling import bag_index, ngram_columns, review_ends, segment_sum


def make_model(distinct: bool) -> SentimentBagForSequenceClassification:
    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=50,
        embedding_dim=8,
        hidden_dims=[16, 8],
        ngram_size=3,
        num_buckets=32,
        distinct_ngrams=distinct,
        calibration_temperature=1.7,  # a calibrated model: the graphs divide the logits as forward does
        negation_window=2,  # and negation scopes: their rows come from the same n-gram code
        negation_cue_ids=[3, 7],
        scope_end_ids=[4],
    )
    model = SentimentBagForSequenceClassification(config).eval()
    model.bag.init_from_naive_bayes(torch.randn(config.num_embeddings) * 3)
    with torch.no_grad():  # rows that are not just ± the ratios, running statistics that are not the identity
        model.bag.embeddings.weight.add_(torch.randn_like(model.bag.embeddings.weight) * 0.1)
        model.bag.embeddings.weight[config.pad_token_id] = 0.0
        model.bag.mlp[1].running_mean.uniform_(-0.1, 0.1)
        model.bag.mlp[1].running_var.uniform_(0.5, 2.0)
    return model


def exact_pool(model, ids, offsets):
    """The model's own pooling in float64: what the review sums are without rounding."""
    return copy.deepcopy(model).double().bag.bag_pool(ids, offsets)


def random_batch(num_tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids with reviews of varied lengths: empty ones, one token, one ending the batch."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (num_tokens,), generator=generator)
    offsets = torch.tensor(sorted([0, 1, 1, min(64, num_tokens), num_tokens // 2, num_tokens - 1]))
    return ids, offsets


@pytest.mark.parametrize("distinct", [False, True])
@pytest.mark.parametrize("num_tokens", [1, 63, 64, 65, 1000, 20_000])
def test_pooling_matches_the_models_exact_sums(distinct, num_tokens):
    model = make_model(distinct)
    ids, offsets = random_batch(num_tokens, num_tokens)
    pooled = ScoringModule(model).pool(ids, offsets)
    exact = exact_pool(model, ids, offsets)
    # Only the fixed-point grid (2**-fraction_bits per token) and one float32 rounding separate them.
    torch.testing.assert_close(pooled.double(), exact, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("distinct", [False, True])
def test_a_review_pools_bit_for_bit_alike_alone_and_in_any_batch(distinct):
    module = ScoringModule(make_model(distinct))
    ids, offsets = random_batch(5_000, 7)
    together = module(ids, offsets)[1]
    for review, (start, end) in enumerate(zip(offsets.tolist(), review_ends(offsets, len(ids)).tolist(), strict=True)):
        alone = module(ids[start:end], torch.tensor([0]))[1]
        assert torch.equal(alone[0], together[review]), review


def test_long_reviews_stay_exact_where_float32_sums_drift():
    model = make_model(distinct=False)
    ids = torch.tensor([5, 6, 7, 8] * 5_000)  # one review repeating its n-grams: float32 running sums drift
    offsets = torch.tensor([0])
    exact = exact_pool(model, ids, offsets)
    drift = ((model.bag.bag_pool(ids, offsets).double() - exact) / exact).abs().max()
    error = ((ScoringModule(model).pool(ids, offsets).double() - exact) / exact).abs().max()
    assert error < 1e-6 < 1e-5 < drift  # a few float32 roundings, against running sums off in the 5th digit


def test_logits_are_the_models_on_its_exact_pooling():
    model = make_model(distinct=True)
    ids, offsets = random_batch(300, 3)
    logits, probabilities = ScoringModule(model)(ids, offsets)
    exact = copy.deepcopy(model).double()(ids, offsets).logits
    torch.testing.assert_close(logits.double(), exact, rtol=0, atol=1e-5)
    torch.testing.assert_close(probabilities, torch.softmax(logits, dim=-1))


def test_mean_pooling_divides_by_the_ngram_count():
    model = make_model(distinct=False)
    model.config.pooling = "mean"
    ids, offsets = random_batch(100, 5)
    torch.testing.assert_close(ScoringModule(model).pool(ids, offsets).double(), exact_pool(model, ids, offsets))


@pytest.mark.parametrize("largest", [1e-3, 0.7, 1.0, 22.3, 4096.0, 1e6])
def test_fraction_bits_keep_any_batch_inside_int64(largest):
    table = torch.tensor([[largest, -largest / 3]])
    bits = fraction_bits(table, ngram_size=3)
    # The largest token sum, at the grid's scale, times the most tokens of a call: still an int64.
    assert 3 * largest * 2.0**bits * 2.0**MAX_TOKENS_BITS < 2.0**INT64_BITS
    # And one bit fewer would be needlessly coarse: the bound is within a factor of 4 of int64's limit.
    assert 3 * largest * 2.0 ** (bits + 2) * 2.0**MAX_TOKENS_BITS >= 2.0**INT64_BITS or largest * 3 < 1


@pytest.mark.parametrize("distinct", [False, True])
def test_evidence_is_each_rows_exact_share_of_the_label_margin(distinct):
    from sentiment_batch.export.parity import evidence_reference
    from sentiment_batch.export.scoring_module import ExplainModule

    model = make_model(distinct)
    ids, offsets = random_batch(700, 11)
    logits, probabilities, evidence, rows = ExplainModule(model)(ids, offsets)
    assert torch.equal(logits, ScoringModule(model)(ids, offsets)[0])  # explaining changes no answer
    expected = evidence_reference(model)(ids.numpy(), offsets.numpy())  # autograd on the float64 model
    torch.testing.assert_close(evidence.double(), torch.from_numpy(expected), rtol=1e-4, atol=1e-5)
    columns, weights, _ = ngram_columns(ids, offsets, model.config)
    expected_rows = torch.where(torch.stack(weights, dim=1) > 0, torch.stack(columns, dim=1), -1)
    assert torch.equal(rows, expected_rows) and (rows == -1).any()
    # The shares of a review add up to its margin's first-order change: gradient · pooled.
    pooled = ScoringModule(model).pool(ids, offsets).detach().requires_grad_()
    head = model.classify(model.bag.mlp(pooled))
    label = head.argmax(dim=1, keepdim=True)
    margins = 2 * head.gather(1, label).squeeze(1) - head.sum(dim=1)
    (gradient,) = torch.autograd.grad(margins.sum(), pooled)
    totals = segment_sum(evidence.sum(dim=1), bag_index(offsets, len(ids)), len(offsets))
    torch.testing.assert_close(totals, (gradient * pooled).sum(dim=1), rtol=1e-4, atol=1e-5)
