"""Tiny fixtures shared by the tests: a tokenizer, an untrained model folder, its bundle, a tiny aclImdb."""

from __future__ import annotations

import pytest

from helpers import REVIEWS, TINY_ACLIMDB, tiny_review_text


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from sentiment_batch.train.tokenization import train_tokenizer

    texts = [text for text, _ in REVIEWS]
    return train_tokenizer(iter([texts]), vocab_size=200, min_frequency=1, length=len(texts))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A saved, untrained model folder (config, weights, feature weights, tokenizer) of the default recipe's shape."""
    import torch

    from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
    from sentiment_batch.train.tokenization import save_tokenizer

    torch.manual_seed(0)
    config = SentimentBagConfig(
        vocab_size=tiny_tokenizer.get_vocab_size(),
        embedding_dim=8,
        hidden_dims=[16],
        ngram_size=3,
        num_buckets=64,
    )
    model = SentimentBagForSequenceClassification(config).eval()
    # Feature weights that are not all one, so the exported graph must fold them into the table.
    model.bag.init_from_naive_bayes(torch.randn(config.num_embeddings), torch.Generator().manual_seed(0))
    with torch.no_grad():  # running stats that are not the identity, so BatchNorm is really exercised
        model.bag.mlp[1].running_mean.uniform_(-0.1, 0.1)
        model.bag.mlp[1].running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    save_tokenizer(tiny_tokenizer, path)
    return path


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


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_model_dir):
    """An ONNX bundle (model.onnx, model.onnx.data, tokenizer.json, bundle.json) exported from `tiny_model_dir`."""
    from sentiment_batch.export.exporter import export_bundle

    path = tmp_path_factory.mktemp("tiny_bundle_parent") / "bundle"
    export_bundle(tiny_model_dir, path)
    return path


@pytest.fixture(scope="session")
def spark():
    """One `local[2]` SparkSession for every Spark test (a start takes seconds); skipped without pyspark or Java."""
    import os
    import shutil
    import sys

    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: Spark needs Java 17 or newer")
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        # The Python workers must run this interpreter, which has the package installed.
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("sentiment-batch tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()
