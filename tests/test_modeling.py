"""The model: both input forms, both bag implementations, n-gram hashing, loss, save → load."""

import subprocess
import sys

import pytest
import torch

from train import SentimentBagConfig, SentimentBagForSequenceClassification
from train.modeling import bag_index, ngram_rows


@pytest.fixture
def model():
    torch.manual_seed(0)
    config = SentimentBagConfig(vocab_size=50, embedding_dim=8, hidden_dims=[16, 8], ngram_size=3, num_buckets=32)
    return SentimentBagForSequenceClassification(config).eval()


IDS = torch.tensor([5, 6, 7, 8, 9, 10, 11, 12])
OFFSETS = torch.tensor([0, 3, 3, 4])  # reviews of 3, 0, 1 and 4 tokens


def test_bag_index_handles_empty_reviews():
    assert bag_index(OFFSETS, len(IDS)).tolist() == [0, 0, 0, 2, 3, 3, 3, 3]
    assert bag_index(torch.tensor([0, 0]), 0).tolist() == []


def test_ngrams_never_cross_reviews():
    config = SentimentBagConfig(vocab_size=50, ngram_size=3, num_buckets=32)
    rows, weights = ngram_rows(IDS, OFFSETS, config)
    assert rows.shape == weights.shape == (8, 3)
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
    rows, weights = ngram_rows(torch.tensor([7]), torch.tensor([0]), config)
    assert rows.shape == (1, 3) and weights.tolist() == [[1, 0, 0]]
    rows, weights = ngram_rows(torch.zeros(0, dtype=torch.long), torch.tensor([0, 0]), config)
    assert rows.shape == weights.shape == (0, 3)


def test_flat_and_padded_inputs_agree(model):
    padded = torch.tensor([[5, 6, 7, 0], [0, 0, 0, 0], [8, 0, 0, 0], [9, 10, 11, 12]])
    flat_logits = model(IDS, OFFSETS).logits
    assert flat_logits.shape == (4, 2)
    torch.testing.assert_close(model(padded).logits, flat_logits, rtol=0, atol=0)


def test_embedding_bag_and_prefix_sum_means_agree(model):
    torch.testing.assert_close(model.segment_mean(IDS, OFFSETS), model.bag_mean(IDS, OFFSETS), rtol=1e-6, atol=1e-7)
    # a batch with a review of 20,000 tokens: float32 EmbeddingBag sums drift only slightly from the block prefix sums
    long_ids = torch.randint(0, 50, (20_000 + len(IDS),), generator=torch.Generator().manual_seed(0))
    long_offsets = torch.cat([OFFSETS, torch.tensor([len(IDS)])])
    torch.testing.assert_close(
        model.segment_mean(long_ids, long_offsets), model.bag_mean(long_ids, long_offsets), rtol=1e-4, atol=1e-5
    )


def test_training_uses_embedding_bag_and_inference_the_exported_form(model):
    assert torch.equal(model(IDS, OFFSETS).logits, model.classify(model.segment_mean(IDS, OFFSETS)))
    model.train()
    torch.manual_seed(1)
    training_logits = model(IDS, OFFSETS).logits
    torch.manual_seed(1)
    assert torch.equal(training_logits, model.classify(model.bag_mean(IDS, OFFSETS)))


def test_empty_review_pools_to_zero(model):
    assert torch.equal(model.bag_mean(IDS, OFFSETS)[1], torch.zeros(8))


def test_padding_row_stays_zero_through_training(model):
    assert torch.equal(model.embeddings.weight[model.config.pad_token_id], torch.zeros(8))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(IDS, OFFSETS, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    optimizer.step()
    assert torch.equal(model.embeddings.weight[model.config.pad_token_id], torch.zeros(8))


@pytest.mark.parametrize("num_tokens", [63, 64, 65, 1000])
def test_prefix_blocks_any_batch_length(model, num_tokens):
    # Batch lengths on both sides of a block boundary, reviews ending exactly at one.
    ids = torch.randint(1, 50, (num_tokens,), generator=torch.Generator().manual_seed(num_tokens))
    offsets = torch.tensor(sorted({0, 1, min(64, num_tokens), num_tokens // 2, num_tokens - 1}))
    torch.testing.assert_close(model.segment_mean(ids, offsets), model.bag_mean(ids, offsets), rtol=1e-6, atol=1e-6)


def test_loss_is_cross_entropy_and_table_gradient_is_sparse(model):
    model.train()
    labels = torch.tensor([0, 1, 0, 1])
    output = model(IDS, OFFSETS, labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    output.loss.backward()
    assert model.embeddings.weight.grad.is_sparse


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
    kept = model._drop_features(weights).sum().item()
    assert 350 < kept < 650
    model.eval()
    assert torch.equal(model._drop_features(weights), weights)


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
    # A fresh interpreter in which `import train` fails: only the folder's own code can build the model.
    script = f"""
import sys, torch
sys.modules["train"] = None
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
logits = model(torch.tensor({IDS.tolist()}), torch.tensor({OFFSETS.tolist()})).logits
assert torch.equal(logits, torch.load({str(tmp_path / "expected.pt")!r})), (logits,)
print(type(model).__module__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "transformers_modules" in result.stdout
