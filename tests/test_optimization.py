"""SparseAdagrad: torch's Adagrad arithmetic on sparse and dense gradients, with a faster sparse step."""

import pytest
import torch

from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.optimization import SparseAdagrad

IDS = torch.tensor([5, 6, 7, 8, 9, 10, 11, 12, 5, 6])
OFFSETS = torch.tensor([0, 3, 3, 4, 8])
LABELS = torch.tensor([0, 1, 0, 1, 1])


def trained(optimizer_class, steps=5):
    torch.sparse.check_sparse_tensor_invariants.disable()  # as SentimentTrainer does: no warning from torch's step
    torch.manual_seed(0)
    # No BatchNorm: the bias before it gets only rounding noise, which Adagrad scales up to full steps.
    config = SentimentBagConfig(vocab_size=50, embedding_dim=8, hidden_dims=[], ngram_size=2, num_buckets=32)
    model = SentimentBagForSequenceClassification(config).train()
    optimizer = optimizer_class(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        model(IDS, OFFSETS, labels=LABELS).loss.backward()
        optimizer.step()
    return model


def test_same_updates_as_torch_adagrad():
    ours, reference = trained(SparseAdagrad), trained(torch.optim.Adagrad)
    assert ours.bag.embeddings.weight.grad.is_sparse
    for (name, mine), theirs in zip(ours.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6, msg=name)
    # the table moved, on the rows the reviews touched only
    start = trained(SparseAdagrad, steps=0).bag.embeddings.weight
    moved = (ours.bag.embeddings.weight != start).any(dim=1)
    assert moved[IDS].all() and moved.sum() < ours.config.num_embeddings // 2


def test_refuses_weight_decay_and_bad_rates():
    parameter = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="weight decay"):
        SparseAdagrad([{"params": [parameter], "weight_decay": 0.01}])
    with pytest.raises(ValueError, match="positive"):
        SparseAdagrad([parameter], lr=0.0)
