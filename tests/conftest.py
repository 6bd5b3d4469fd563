"""Tiny fixtures shared by the tests: reviews, a tokenizer and an untrained model folder."""

from __future__ import annotations

import pytest

REVIEWS = [
    ("A wonderful, moving film.<br /><br />The acting is superb and I loved every minute!", 1),
    ("Great story, great cast: a delight from start to finish.", 1),
    ("One of the best movies I have seen this year, brilliant and funny.", 1),
    ("Beautifully shot; the score is excellent. Highly recommended!!", 1),
    ("Terrible. The plot makes no sense and the acting is wooden.", 0),
    ("A boring, awful mess; I want my two hours back.", 0),
    ("Worst film of the decade: dull script, bad jokes, no ending.", 0),
    ("I fell asleep. Poorly written and badly directed.<br />Avoid.", 0),
]

VARIED_TEXTS = [
    "",
    "great",
    "Ein großartiger Film, wirklich sehr gut! Très bien, magnifique.",
    "😀😀 loved it 🎬 <b>bold</b> &amp; <br /><br />line breaks",
    "   \t\n  ",
    " ".join(["awful boring terrible great wonderful"] * 400),
]


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from train.tokenization import train_tokenizer

    texts = [text for text, _ in REVIEWS]
    return train_tokenizer(iter([texts]), vocab_size=200, min_frequency=1, length=len(texts))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A saved, untrained model folder (config, weights, tokenizer) with bigrams and trigrams on."""
    import torch

    from train import SentimentBagConfig, SentimentBagForSequenceClassification
    from train.tokenization import save_tokenizer

    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=tiny_tokenizer.get_vocab_size(), embedding_dim=8, hidden_dims=[16], ngram_size=3, num_buckets=64
    )
    model = SentimentBagForSequenceClassification(config).eval()
    with torch.no_grad():  # running stats that are not the identity, so BatchNorm is really exercised
        model.mlp[1].running_mean.uniform_(-0.1, 0.1)
        model.mlp[1].running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    save_tokenizer(tiny_tokenizer, path)
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_model_dir):
    """An ONNX bundle (model.onnx, tokenizer.json, bundle.json) exported from `tiny_model_dir`."""
    from export.exporter import export_bundle

    path = tmp_path_factory.mktemp("tiny_bundle_parent") / "bundle"
    export_bundle(tiny_model_dir, path)
    return path
