"""The model: both input forms, n-gram hashing, distinct bags, pooling, loss, save → load."""

import copy
import subprocess
import sys

import pytest
import torch

from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.modeling import bag_index, distinct_columns, ngram_rows, review_ends


@pytest.fixture
def model():
    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=50, embedding_dim=8, hidden_dims=[16, 8], ngram_size=3, num_buckets=32, distinct_ngrams=False
    )
    model = SentimentBagForSequenceClassification(config).eval()
    model.bag.init_from_naive_bayes(torch.randn(config.num_embeddings))
    with torch.no_grad():  # rows that are not just ± the ratios
        model.bag.embeddings.weight.add_(torch.randn_like(model.bag.embeddings.weight) * 0.1)
        model.bag.embeddings.weight[config.pad_token_id] = 0.0
    return model


IDS = torch.tensor([5, 6, 7, 8, 9, 10, 11, 12])
OFFSETS = torch.tensor([0, 3, 3, 4])  # reviews of 3, 0, 1 and 4 tokens


def test_bag_index_handles_empty_reviews():
    assert bag_index(OFFSETS, len(IDS)).tolist() == [0, 0, 0, 2, 3, 3, 3, 3]
    assert bag_index(torch.tensor([0, 0]), 0).tolist() == []


def test_ngrams_never_cross_reviews():
    config = SentimentBagConfig(vocab_size=50, ngram_size=3, num_buckets=32)
    rows, weights, bags = ngram_rows(IDS, OFFSETS, config)
    assert rows.shape == weights.shape == (8, 3)
    assert torch.equal(bags, bag_index(OFFSETS, len(IDS)))
    assert torch.equal(rows[:, 0], IDS)
    # reviews: tokens 0-2, (empty), 3, 4-7; an n-gram starting at a token must end in the same review
    assert weights[:, 1].tolist() == [1, 1, 0, 0, 1, 1, 1, 0]
    assert weights[:, 2].tolist() == [1, 0, 0, 0, 1, 1, 0, 0]
    # n-grams outside their review read the padding row (kept zero); the others the hashed rows after the words
    assert torch.equal(rows[:, 1:] == config.pad_token_id, weights[:, 1:] == 0)
    inside = rows[:, 1:][weights[:, 1:] == 1]
    assert inside.min() >= 50 and inside.max() < 50 + 32
    # the hash is a fixed polynomial recorded in the config, not Python's per-process hash()
    multiplier = config.ngram_hash_multiplier
    assert rows[0, 1].item() == (5 * multiplier + 6) % 32 + 50
    assert rows[0, 2].item() == ((5 * multiplier + 6) % 32 * multiplier + 7) % 32 + 50


def test_batches_shorter_than_the_ngrams():
    config = SentimentBagConfig(vocab_size=50, ngram_size=3, num_buckets=32)
    rows, weights, _ = ngram_rows(torch.tensor([7]), torch.tensor([0]), config)
    assert rows.shape == (1, 3) and weights.tolist() == [[1, 0, 0]]
    rows, weights, _ = ngram_rows(torch.zeros(0, dtype=torch.long), torch.tensor([0, 0]), config)
    assert rows.shape == weights.shape == (0, 3)


def distinct_model(model):
    """The fixture's bag (which counts repeats) as a bag of distinct n-grams."""
    distinct = copy.deepcopy(model)
    distinct.config.distinct_ngrams = True
    return distinct.bag


def test_distinct_ngrams_count_each_row_once_per_review(model):
    # One review repeating its words and bigrams, an empty one, one of a repeated word. Every row is below the
    # smallest slot mask, so no row collides and the bags are exactly the sets of rows.
    ids, offsets = torch.tensor([5, 6, 5, 6, 5, 6, 9, 7, 7, 7, 7]), torch.tensor([0, 6, 6, 7])
    distinct = distinct_model(model)
    table = distinct.scaled_table()
    all_rows, all_weights, _ = ngram_rows(ids, offsets, model.config)
    expected = []
    for start, end in zip(offsets.tolist(), review_ends(offsets, len(ids)).tolist(), strict=True):
        rows = set(all_rows[start:end][all_weights[start:end] > 0].tolist())
        expected.append(sum((table[row] for row in rows), torch.zeros(8)) / max(len(rows), 1) ** 0.5)
    expected = torch.stack(expected)
    torch.testing.assert_close(distinct.bag_pool(ids, offsets), expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(model.bag.bag_pool(ids, offsets), expected)  # plain bags count the repeats


def test_distinct_ngrams_do_not_depend_on_the_batch(model):
    distinct = distinct_model(model)
    ids = torch.randint(1, 50, (300,), generator=torch.Generator().manual_seed(0))
    offsets = torch.tensor([0, 40, 41, 41, 200])
    together = distinct.bag_pool(ids, offsets)
    ends = review_ends(offsets, len(ids)).tolist()
    for review, (start, end) in enumerate(zip(offsets.tolist(), ends, strict=True)):
        alone = distinct.bag_pool(ids[start:end], torch.tensor([0]))
        torch.testing.assert_close(alone[0], together[review], rtol=1e-6, atol=1e-6)


def test_distinct_columns_keep_every_entry_of_a_row_whose_slot_is_taken():
    # 4 entries get 8 slots (mask 7); 5 and 21 share slot 5, which the earlier 5 owns.
    kept, weights = distinct_columns([torch.tensor([5, 21, 5, 21])], torch.tensor([0]), torch.zeros(4).long(), 0)
    assert kept[0].tolist() == [5, 21, 0, 21] and weights[0].tolist() == [1, 1, 0, 1]


def test_flat_and_padded_inputs_agree(model):
    padded = torch.tensor([[5, 6, 7, 0], [0, 0, 0, 0], [8, 0, 0, 0], [9, 10, 11, 12]])
    flat_logits = model(IDS, OFFSETS).logits
    assert flat_logits.shape == (4, 2)
    torch.testing.assert_close(model(padded).logits, flat_logits, rtol=0, atol=0)


def exact_pool(model, ids, offsets):
    """`bag_pool` in float64, rounded once to float32."""
    return copy.deepcopy(model).double().bag.bag_pool(ids, offsets).float()


def test_one_forward_for_training_and_inference(model):
    assert torch.equal(model(IDS, OFFSETS).logits, model.classify(model.bag.mlp(model.bag.bag_pool(IDS, OFFSETS))))
    model.train()
    torch.manual_seed(1)
    training_logits = model(IDS, OFFSETS).logits
    torch.manual_seed(1)
    assert torch.equal(training_logits, model.classify(model.bag.mlp(model.bag.bag_pool(IDS, OFFSETS))))


def test_empty_review_pools_to_zero(model):
    assert torch.equal(model.bag.bag_pool(IDS, OFFSETS)[1], torch.zeros(8))


def test_padding_row_stays_zero_through_training(model):
    assert torch.equal(model.bag.embeddings.weight[model.config.pad_token_id], torch.zeros(8))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(IDS, OFFSETS, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    optimizer.step()
    assert torch.equal(model.bag.embeddings.weight[model.config.pad_token_id], torch.zeros(8))


def test_loss_is_cross_entropy_and_table_gradient_is_sparse(model):
    model.train()
    labels = torch.tensor([0, 1, 0, 1])
    output = model(IDS, OFFSETS, labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    output.loss.backward()
    assert model.bag.embeddings.weight.grad.is_sparse


def test_wrong_input_forms_are_refused(model):
    with pytest.raises(ValueError, match="offsets"):
        model(IDS)
    with pytest.raises(ValueError, match="1-D"):
        model(IDS.view(2, 4), OFFSETS)


def test_feature_dropout_only_while_training():
    config = SentimentBagConfig(vocab_size=50, embedding_dim=8, ngram_size=2, num_buckets=32, feature_dropout=0.5)
    model = SentimentBagForSequenceClassification(config)
    weights = torch.ones(1000)
    model.train()
    kept = model.bag._drop_features(weights).sum().item()
    assert 350 < kept < 650
    model.eval()
    assert torch.equal(model.bag._drop_features(weights), weights)


def test_labels_are_named(model):
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.label2id == {"negative": 0, "positive": 1}


def test_save_load_round_trip_is_exact(model, tmp_path):
    model.save_pretrained(tmp_path)
    from transformers import AutoModelForSequenceClassification

    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, SentimentBagForSequenceClassification)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.equal(loaded(IDS, OFFSETS).logits, model(IDS, OFFSETS).logits)


def test_saved_folder_loads_with_remote_code_without_train_installed(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "modeling.py").exists() and (tmp_path / "configuration.py").exists()
    expected = model(IDS, OFFSETS).logits
    torch.save(expected, tmp_path / "expected.pt")
    # A fresh interpreter in which `import sentiment_batch` fails: only the folder's own code can build the model.
    script = f"""
import sys, torch
sys.modules["sentiment_batch"] = None
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
logits = model(torch.tensor({IDS.tolist()}), torch.tensor({OFFSETS.tolist()})).logits
assert torch.equal(logits, torch.load({str(tmp_path / "expected.pt")!r})), (logits,)
print(type(model).__module__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "transformers_modules" in result.stdout


def test_naive_bayes_init_sets_fixed_weights_and_signed_columns():
    config = SentimentBagConfig(vocab_size=50, embedding_dim=6, ngram_size=2, num_buckets=32, feature_weighting=True)
    model = SentimentBagForSequenceClassification(config)
    assert torch.equal(model.bag.feature_weights, torch.ones(82))
    ratios = torch.randn(82)
    model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(0))
    expected = ratios.clone()
    expected[config.pad_token_id] = 0
    assert torch.equal(model.bag.feature_weights, expected)
    signs = model.bag.embeddings.weight[1] / expected[1]  # [D], each column ± the ratios
    assert set(signs.tolist()) == {1.0, -1.0}
    assert torch.equal(model.bag.embeddings.weight, expected.unsqueeze(1) * signs)
    assert "bag.feature_weights" in model.state_dict() and not model.bag.feature_weights.requires_grad


def test_random_table_init_sets_the_weights_and_keeps_the_random_table():
    config = SentimentBagConfig(
        vocab_size=50,
        embedding_dim=6,
        ngram_size=2,
        num_buckets=32,
        table_init="random",
        id2label=dict(enumerate("abc")),
    )
    model = SentimentBagForSequenceClassification(config)
    table = model.bag.embeddings.weight.clone()
    ratios = torch.randn(3, 82)
    model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(0))
    expected = ratios.abs().amax(dim=0)
    expected[config.pad_token_id] = 0
    assert torch.equal(model.bag.feature_weights, expected) and torch.equal(model.bag.embeddings.weight, table)


@pytest.mark.parametrize(
    ("classes", "table_init", "starts"),
    [
        (2, "auto", ["naive_bayes"]),
        (3, "auto", ["naive_bayes", "random"]),
        (5, "auto", ["naive_bayes", "random"]),
        (3, "naive_bayes", ["naive_bayes"]),
        (2, "random", ["random"]),
    ],
)
def test_table_starts_follow_table_init_and_the_classes(classes, table_init, starts):
    config = SentimentBagConfig(table_init=table_init, id2label={index: f"c{index}" for index in range(classes)})
    assert config.table_starts() == starts


def test_unknown_table_init_is_refused():
    with pytest.raises(ValueError, match="table_init must be one of auto, naive_bayes, random, got 'zeros'"):
        SentimentBagConfig(table_init="zeros")


def test_feature_weights_scale_each_row(model):
    scale = model.bag.feature_weights.clone()
    with torch.no_grad():
        model.bag.feature_weights.fill_(1.0)
        model.bag.embeddings.weight.mul_(scale.unsqueeze(1))
    unweighted = exact_pool(model, IDS, OFFSETS)
    with torch.no_grad():
        model.bag.embeddings.weight.div_(torch.where(scale == 0, 1.0, scale).unsqueeze(1))
        model.bag.feature_weights.copy_(scale)
    torch.testing.assert_close(exact_pool(model, IDS, OFFSETS), unweighted)


def test_sqrt_pooling_divides_by_the_ngram_count_root(model):
    sqrt_pooled = model.bag.bag_pool(IDS, OFFSETS)
    model.config.pooling = "mean"
    counts = torch.tensor([3 + 2 + 1, 0, 1, 4 + 3 + 2]).clamp(min=1).unsqueeze(1)  # words, bigrams, trigrams
    torch.testing.assert_close(model.bag.bag_pool(IDS, OFFSETS), sqrt_pooled / counts.sqrt())


def test_config_defaults_are_the_trained_recipe():
    from sentiment_batch.train.arguments import ModelArguments
    from sentiment_batch.train.configuration import config_defaults

    config = SentimentBagConfig()
    assert (config.vocab_size, config.pooling, config.feature_weighting, config.distinct_ngrams) == (
        50000,
        "sqrt",
        True,
        True,
    )
    arguments = ModelArguments()
    for name, default in config_defaults().items():
        if hasattr(arguments, name):
            assert getattr(arguments, name) == (list(default) if isinstance(default, tuple) else default), name


def test_base_model_prefix_names_the_bag(model):
    assert model.base_model is model.bag and model.base_model_prefix == "bag"
    features = model.bag(IDS, OFFSETS).features
    assert torch.equal(model(IDS, OFFSETS).logits, model.classifier(features))


def test_padded_ids_with_attention_mask_answer_like_flat_ids(model):
    flat = model(IDS, OFFSETS).logits
    # Pipelines pad on the right with the pad id; the mask, not the id, says what is padding.
    padded = torch.zeros(4, 5, dtype=torch.long)
    mask = torch.zeros(4, 5, dtype=torch.long)
    for row, (start, end) in enumerate(zip(OFFSETS.tolist(), [*OFFSETS.tolist()[1:], len(IDS)], strict=True)):
        padded[row, : end - start] = IDS[start:end]
        mask[row, : end - start] = 1
    torch.testing.assert_close(model(padded, attention_mask=mask).logits, flat, rtol=0, atol=0)


def test_soft_labels_give_the_cross_entropy_of_probabilities(model):
    targets = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.0, 1.0], [0.3, 0.7]])
    output = model(IDS, OFFSETS, labels=targets)
    expected = -(targets * torch.log_softmax(output.logits, dim=-1)).sum(dim=1).mean()
    torch.testing.assert_close(output.loss, expected)


def test_languages_that_are_not_iso_codes_are_refused_when_parsed():
    from sentiment_batch.train.arguments import ModelArguments

    with pytest.raises(ValueError, match="languages must be ISO 639-1 codes"):
        ModelArguments(languages=["english"])
    with pytest.raises(ValueError, match="languages must be language codes"):
        SentimentBagConfig(languages=[])


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling"):
        SentimentBagConfig(pooling="max")


def test_text_classification_pipeline_answers_like_the_bundle(tiny_model_dir, tiny_bundle):
    from transformers import pipeline

    from helpers import probabilities
    from sentiment_batch import Scorer

    texts = ["A wonderful, moving film.", "Terrible. The plot makes no sense.", "great great great"]
    classifier = pipeline("text-classification", model=str(tiny_model_dir), trust_remote_code=True, top_k=None)
    answers = classifier(texts)
    expected = probabilities(Scorer.from_bundle(tiny_bundle), texts)
    for answer, probs in zip(answers, expected, strict=True):
        by_label = {entry["label"]: entry["score"] for entry in answer}
        assert by_label == pytest.approx({"negative": probs[0], "positive": probs[1]}, abs=1e-5)


def negation_config(window: int = 3) -> SentimentBagConfig:
    # ids: 5 "not" (a cue), 9 "," (a scope end), the others words.
    return SentimentBagConfig(
        vocab_size=50, ngram_size=2, num_buckets=32, negation_window=window, negation_cue_ids=[5], scope_end_ids=[9]
    )


def test_words_after_a_negation_cue_read_their_own_rows_until_the_scope_ends():
    from sentiment_batch.train.modeling import negation_scope, token_roles

    config = negation_config()
    # Reviews: "not 11 12 13 14", "11 not , 12", and "13" right after a review ending in "not".
    ids = torch.tensor([5, 11, 12, 13, 14, 11, 5, 9, 12, 5, 13])
    offsets = torch.tensor([0, 5, 9, 10])
    scoped = negation_scope(token_roles(ids, config), bag_index(offsets, len(ids)), config)
    assert scoped.tolist() == [False, True, True, True, False, False, False, True, False, False, False]
    rows = ngram_rows(ids, offsets, config).rows[:, 0]
    multiplier = config.ngram_hash_multiplier
    assert rows[1].item() == (11 * multiplier + 50) % 32 + 50  # "11" negated: a bigram of 11 and the id 50
    assert rows[5].item() == 11 and rows[0].item() == 5  # outside a scope, and the cue itself: words as they are
    assert torch.equal(ngram_rows(ids, offsets, negation_config(window=0)).rows[:, 0], ids)


def test_negation_scopes_survive_save_and_load(tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = SentimentBagForSequenceClassification(negation_config()).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert (loaded.config.negation_window, loaded.config.negation_cue_ids, loaded.config.scope_end_ids) == (3, [5], [9])
    ids, offsets = torch.tensor([5, 11, 12, 13, 14]), torch.tensor([0])
    torch.testing.assert_close(loaded(ids, offsets).logits, model(ids, offsets).logits, rtol=0, atol=1e-9)


def neutral_model(neutral: list[int], distinct: bool = True) -> SentimentBagForSequenceClassification:
    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=50,
        embedding_dim=4,
        hidden_dims=[8],
        ngram_size=3,
        num_buckets=64,
        distinct_ngrams=distinct,
        negation_window=2,
        negation_cue_ids=[5],
        neutral_token_ids=neutral,
    )
    model = SentimentBagForSequenceClassification(config).eval()
    model.bag.init_from_naive_bayes(torch.randn(config.num_embeddings), torch.Generator().manual_seed(0))
    return model


@pytest.mark.parametrize("distinct", [True, False])
def test_neutral_words_weigh_nothing_alone_or_in_an_ngram(distinct):
    neutral, plain = neutral_model([20, 21], distinct).config, neutral_model([], distinct).config
    # "11 20 12 13", "5 21 14": 20 and 21 neutral, 21 inside the negation scope of the cue 5.
    ids, offsets = torch.tensor([11, 20, 12, 13, 5, 21, 14]), torch.tensor([0, 4])
    rows, weights, _ = ngram_rows(ids, offsets, neutral)
    reference, _, _ = ngram_rows(ids, offsets, plain)
    touched = torch.zeros(7, 3, dtype=torch.bool)  # n-grams that start at a token and hold 20 or 21
    for position in (1, 5):
        for n in range(3):
            touched[max(position - n, 0) : position + 1, n] = True
    assert (rows[touched] == 0).all() and (weights[touched] == 0).all()
    assert torch.equal(rows[~touched], reference[~touched])


def test_swapping_one_neutral_word_for_another_leaves_the_score_and_the_count():
    model = neutral_model([20, 21, 22])
    # The same review with 20, with 21 and 22 (a two-word identity), and with the neutral words left out.
    texts = [[11, 20, 12, 13], [11, 21, 22, 12, 13]]
    ids = torch.tensor([token for text in texts for token in text])
    logits = model(ids, torch.tensor([0, 4])).logits
    assert torch.allclose(logits[0], logits[1])
    alone = model(torch.tensor([20, 21]), torch.tensor([0])).logits  # nothing but neutral words: an empty bag
    assert torch.allclose(alone, model(torch.tensor([], dtype=torch.long), torch.tensor([0])).logits)


def test_neutral_rows_are_zero_and_stay_zero_through_training():
    model = neutral_model([20, 21])
    table = model.bag.embeddings.weight
    assert torch.equal(table[[20, 21]], torch.zeros(2, 4))
    assert torch.equal(model.bag.feature_weights[[20, 21]], torch.zeros(2))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.tensor([20, 11, 21, 12, 5, 20, 13])
    model(ids, torch.tensor([0, 2, 4]), labels=torch.tensor([0, 1, 0])).loss.backward()
    optimizer.step()
    assert torch.equal(table[[0, 20, 21]], torch.zeros(3, 4))
    assert not torch.equal(table[11], neutral_model([20, 21]).bag.embeddings.weight[11])  # what is read does learn


def test_a_flipped_negated_word_reads_its_own_row_against_its_lean():
    config = SentimentBagConfig(
        vocab_size=50, ngram_size=2, num_buckets=32, negation_window=2, negation_cue_ids=[5], negation_flip=True
    )
    # "11 5 11 12 13": the second 11 and 12 are negated, 13 is past the scope; the first 11 is no repeat of it.
    ids, offsets = torch.tensor([11, 5, 11, 12, 13]), torch.tensor([0])
    rows, weights, _ = ngram_rows(ids, offsets, config)
    assert rows[:, 0].tolist() == [11, 5, 11, 12, 13]
    assert weights[:, 0].tolist() == [1.0, 1.0, -1.0, -1.0, 1.0]
    torch.manual_seed(0)
    model = SentimentBagForSequenceClassification(config).eval()
    table = model.bag.embeddings.weight
    pooled = model.bag.bag_pool(ids, offsets)
    words = table[11] + table[5] - table[11] - table[12] + table[13]
    assert torch.allclose(pooled[0], (words + table[rows[:, 1]].sum(0)) / 9**0.5)  # 5 words, 4 bigrams counted
