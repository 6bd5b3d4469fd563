"""Tiny fixtures shared by the tests: reviews, a tokenizer and an untrained model folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# The real IMDb training data, in the `shared/` folder beside the checkout (CI lays it out the same way).
REAL_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "imdb" / "aclImdb_train.tar.gz"

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
    """A saved, untrained model folder (config, weights, feature weights, tokenizer) with bigrams and trigrams on."""
    import torch

    from train import SentimentBagConfig, SentimentBagForSequenceClassification
    from train.tokenization import save_tokenizer

    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=tiny_tokenizer.get_vocab_size(),
        embedding_dim=8,
        hidden_dims=[16],
        ngram_size=3,
        num_buckets=64,
        pooling="sqrt",
        feature_weighting=True,
    )
    model = SentimentBagForSequenceClassification(config).eval()
    # Feature weights that are not all one, so the exported graph must fold them into the table.
    model.init_from_naive_bayes(torch.randn(config.num_embeddings), torch.Generator().manual_seed(0))
    with torch.no_grad():  # running stats that are not the identity, so BatchNorm is really exercised
        model.mlp[1].running_mean.uniform_(-0.1, 0.1)
        model.mlp[1].running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    save_tokenizer(tiny_tokenizer, path)
    return path


# A tiny aclImdb: (split, label) → [(review id, rating, movie id)]. Ids 10/11 check numeric (not text) order;
# movies tt0000001 and tt0000002 have reviews in both classes.
TINY_ACLIMDB = {
    ("train", "pos"): [(0, 10, "tt0000001"), (1, 8, "tt0000001"), (2, 7, "tt0000002"), (10, 9, "tt0000003")],
    ("train", "neg"): [(0, 1, "tt0000002"), (1, 4, "tt0000004"), (3, 2, "tt0000004"), (11, 3, "tt0000001")],
    ("test", "pos"): [(0, 9, "tt0000009"), (1, 7, "tt0000009")],
    ("test", "neg"): [(0, 2, "tt0000008")],
    ("train", "unsup"): [(0, 0, "tt0000005"), (2, 0, "tt0000006"), (1, 0, "tt0000005")],
}


def tiny_review_text(split: str, label: str, review_id: int) -> str:
    """The text of a TINY_ACLIMDB review: a conftest review of the right class, tagged so each text is unique."""
    texts = [text for text, positive in REVIEWS if positive == (label == "pos")] or [text for text, _ in REVIEWS]
    return f"{texts[review_id % len(texts)]} [{split}/{label}/{review_id}]"


@pytest.fixture
def make_tiny_aclimdb():
    """A function writing TINY_ACLIMDB under `parent/aclImdb` (train only unless test/unsup asked) and returning it."""

    def make(parent, test: bool = False, unsup: bool = False):
        root = parent / "aclImdb"
        for (split, label), reviews in TINY_ACLIMDB.items():
            if (split == "test" and not test) or (label == "unsup" and not unsup):
                continue
            (root / split / label).mkdir(parents=True, exist_ok=True)
            for review_id, rating, _ in reviews:
                path = root / split / label / f"{review_id}_{rating}.txt"
                path.write_text(tiny_review_text(split, label, review_id), encoding="utf-8")
            movies = {review_id: movie for review_id, _, movie in reviews}
            urls = [
                f"http://www.imdb.com/title/{movies.get(n, 'tt0999999')}/usercomments" for n in range(max(movies) + 1)
            ]
            (root / split / f"urls_{label}.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        (root / "imdb.vocab").write_text("the\nmovie\n", encoding="utf-8")
        (root / "train" / "labeledBow.feat").write_text("0 0:1\n", encoding="utf-8")
        return root

    return make


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    """A writable copy of `tiny_bundle`, for tests that break a bundle on purpose."""
    import shutil

    return shutil.copytree(tiny_bundle, tmp_path / "bundle_copy")


def save_self_contained(model_path: Path, destination: Path) -> None:
    """A bundle's model as one ONNX file holding every weight: as bundles were before model.onnx.data, and as the
    exporter has it before moving the weights out."""
    import onnx

    onnx.save(onnx.load(str(model_path)), str(destination))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_model_dir):
    """An ONNX bundle (model.onnx, model.onnx.data, tokenizer.json, bundle.json) exported from `tiny_model_dir`."""
    from export.exporter import export_bundle

    path = tmp_path_factory.mktemp("tiny_bundle_parent") / "bundle"
    export_bundle(tiny_model_dir, path)
    return path
