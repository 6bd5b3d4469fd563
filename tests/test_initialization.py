"""Starting a model from a trained one (`train --init-from`): what is read, what is kept, what is refused."""

import hashlib
import json
import shutil

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from onnx import numpy_helper

from helpers import REVIEWS
from sentiment_batch.bundle import MANIFEST_FILE, TOKENIZER_FILE, load_bundle
from sentiment_batch.cli import main
from sentiment_batch.errors import UserError
from sentiment_batch.train.arguments import ModelArguments
from sentiment_batch.train.initialization import read_start_model, start_arguments
from sentiment_batch.train.labels import LabelSet
from sentiment_batch.train.model_folder import load_model
from sentiment_batch.train.training import model_config, new_model

TINY_FLAGS = ["--per_device_train_batch_size", "8", "--num_train_epochs", "1", "--report_to", "none"]


def bundle_table(bundle) -> np.ndarray:
    """The table of a bundle's scoring graph, read by onnx itself."""
    graph = onnx.load(str(bundle / "model.onnx")).graph  # external data resolved beside the graph
    return next(numpy_helper.to_array(tensor) for tensor in graph.initializer if tensor.name == "table")


def started_model(start, labels=("bad", "fine", "good"), **settings):
    model_args = start_arguments(start, ModelArguments(**settings))
    return new_model(model_config(model_args, start.tokenizer, LabelSet(list(labels))), "random", None, 0, start)


def test_the_initialized_models_table_is_the_bundles_table(tiny_bundle, tiny_model_dir):
    start = read_start_model(str(tiny_bundle))
    model = started_model(start, added_columns=0)
    table = bundle_table(tiny_bundle)
    assert torch.equal(model.bag.scaled_table(), torch.from_numpy(table.astype(np.float32)))
    assert model.bag.feature_weights is None  # the start's weights are folded into its table
    trained = load_model(tiny_model_dir)
    torch.testing.assert_close(model.bag.scaled_table(), trained.bag.scaled_table(), atol=2e-3, rtol=1e-3)
    for name in ("ngram_size", "num_buckets", "embedding_dim", "distinct_ngrams", "pooling", "negation_window"):
        assert getattr(model.config, name) == getattr(trained.config, name), name
    # The blocks come with the table (the graph's Linear, BatchNorm folded in); the output layer is new.
    folded = trained.bag.mlp[1].weight / torch.sqrt(trained.bag.mlp[1].running_var + trained.bag.mlp[1].eps)
    torch.testing.assert_close(model.bag.mlp[0].weight, trained.bag.mlp[0].weight * folded.unsqueeze(1))
    assert model.classifier.out_features == 3 and model.config.id2label == {0: "bad", 1: "fine", 2: "good"}


def test_a_model_folder_start_keeps_table_and_blocks_exactly(tiny_model_dir):
    trained = load_model(tiny_model_dir)
    model = started_model(read_start_model(str(tiny_model_dir)), added_columns=0)
    assert torch.equal(model.bag.scaled_table(), trained.bag.scaled_table())
    for (name, kept), (_, original) in zip(
        model.bag.mlp.state_dict().items(), trained.bag.mlp.state_dict().items(), strict=True
    ):
        assert torch.equal(kept, original), name


def test_other_hidden_widths_keep_the_table_and_drop_the_blocks(tiny_model_dir):
    start = read_start_model(str(tiny_model_dir))
    model_args = start_arguments(start, ModelArguments(hidden_dims=[4]))
    model = new_model(model_config(model_args, start.tokenizer, LabelSet(["a", "b"])), "random", None, 0, start)
    assert model.config.hidden_dims == [4] and torch.equal(
        model.bag.scaled_table()[:, : start.table.shape[1]], start.table
    )


def test_added_columns_widen_the_table_beside_the_starts_columns(tiny_model_dir):
    start = read_start_model(str(tiny_model_dir))
    width = start.table.shape[1]
    model = started_model(start, added_columns=5)
    table = model.bag.scaled_table()
    assert model.config.embedding_dim == width + 5 and table.shape == (start.table.shape[0], width + 5)
    assert torch.equal(table[:, :width], start.table)
    # The added columns start at zero, so the started features are the start's own; they still learn, since the
    # fresh first layer passes them a gradient.
    assert not table[:, width:].any()
    model.train()
    ids, offsets = torch.tensor([5, 6, 7, 5]), torch.tensor([0, 2])
    model(ids, offsets, labels=torch.tensor([0, 1])).loss.backward()
    assert model.bag.embeddings.weight.grad[5, width:].abs().sum() > 0
    # The first block reads the start's columns with the start's weights, the added ones with fresh weights.
    first = model.bag.mlp[0]
    assert first.in_features == width + 5 and torch.equal(first.weight[:, :width], start.blocks["0.weight"])
    assert torch.equal(first.bias, start.blocks["0.bias"]) and first.weight[:, width:].any()


def test_the_shipped_bundle_is_a_start():
    start = read_start_model("shipped")
    assert start.table.shape == (start.tokenizer.get_vocab_size() + start.settings["num_buckets"], 2)
    assert start.settings["ngram_size"] == 2 and start.hidden_dims == [16]


def rehash(bundle, member: str, hash_key: str) -> None:
    """Write the manifest again with `member`'s new hash, as an editor covering their tracks would."""
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest[hash_key] = hashlib.sha256((bundle / member).read_bytes()).hexdigest()
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))


def other_kind_tokenizer(folder) -> None:
    """The folder's tokenizer with its lowercasing dropped: the same words, another tokenizer."""
    tokenizer = json.loads((folder / TOKENIZER_FILE).read_text())
    tokenizer["normalizer"]["normalizers"] = tokenizer["normalizer"]["normalizers"][:-1]
    (folder / TOKENIZER_FILE).write_text(json.dumps(tokenizer))


def test_refusals_are_one_line(bundle_copy, tiny_model_dir, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    other_kind_tokenizer(model_dir)
    with pytest.raises(UserError, match="has another tokenizer than the word-level one"):
        read_start_model(str(model_dir))
    with pytest.raises(UserError, match="neither a bundle .* nor a trained model"):
        read_start_model(str(tmp_path))
    start = read_start_model(str(tiny_model_dir))
    with pytest.raises(UserError, match="ngram_size 2 was asked but the start model .* has 3"):
        start_arguments(start, ModelArguments(ngram_size=2))
    other_kind_tokenizer(bundle_copy)
    with pytest.raises(UserError, match="tokenizer.json does not match tokenizer_sha256"):
        read_start_model(str(bundle_copy))
    rehash(bundle_copy, TOKENIZER_FILE, "tokenizer_sha256")  # the graph still names the first tokenizer
    with pytest.raises(UserError, match="disagree on sentiment_batch.tokenizer_sha256"):
        read_start_model(str(bundle_copy))


def three_class_reviews(path):
    """The conftest reviews, relabelled into three classes, repeated: words the tiny tokenizer knows."""
    labels = {0: "negative", 1: "positive"}
    rows = [
        {"text": f"{text} {n}", "label": "neutral" if n % 3 == 0 else labels[positive]}
        for n in range(12)
        for text, positive in REVIEWS
    ]
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_train_from_a_bundle_of_other_labels_exports_and_verifies(tiny_bundle, tmp_path, capsys):
    dataset = three_class_reviews(tmp_path / "reviews.parquet")
    model_dir, bundle = tmp_path / "model", tmp_path / "bundle"
    train = ["train", "--dataset", str(dataset), "--output", str(model_dir), *TINY_FLAGS]
    assert main([*train, "--init-from", str(tiny_bundle)]) == 0
    config = json.loads((model_dir / "config.json").read_text())
    assert list(config["id2label"].values()) == ["negative", "neutral", "positive"]
    assert config["feature_weighting"] is False and config["ngram_size"] == 3 and config["num_buckets"] == 64
    start_width = read_start_model(str(tiny_bundle)).table.shape[1]
    assert config["embedding_dim"] == start_width + ModelArguments().added_columns  # widened, exported, verified
    assert (model_dir / TOKENIZER_FILE).read_text() == (tiny_bundle / TOKENIZER_FILE).read_text()
    assert main(["export", "--model", str(model_dir), "--output", str(bundle)]) == 0
    assert load_bundle(bundle).labels == ("negative", "neutral", "positive")
    capsys.readouterr()
    assert main(["verify", "--model", str(model_dir), "--bundle", str(bundle), "--dataset", str(dataset),
                 "--split", "validation"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["passed"] is True
    # The exported bundle of a started model starts a model in turn.
    assert read_start_model(str(bundle)).settings["ngram_size"] == 3


@pytest.mark.parametrize("damage", ["weights", "tokenizer", "settings"])
def test_train_refuses_a_bad_start_in_one_line_and_writes_nothing(bundle_copy, tmp_path, capsys, damage):
    if damage == "weights":
        data = bundle_copy / "model.onnx.data"
        data.write_bytes(data.read_bytes()[:-1] + b"\x01")
    elif damage == "tokenizer":
        other_kind_tokenizer(bundle_copy)
    dataset = three_class_reviews(tmp_path / "reviews.parquet")
    output_dir = tmp_path / "out"
    extra = ["--ngram_size", "2"] if damage == "settings" else []
    train = ["train", "--dataset", str(dataset), "--output", str(output_dir), *TINY_FLAGS, *extra]
    assert main([*train, "--init-from", str(bundle_copy)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("sentiment-batch train: error: "), stderr
    assert not output_dir.exists() and not list(tmp_path.glob(".out*"))
