"""ONNX bundle export: graph contract, PyTorch parity, manifest, torch-free loading, bad input, quantization."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
import torch

from helpers import VARIED_TEXTS, probabilities, save_self_contained
from sentiment_batch import Scorer
from sentiment_batch.bundle import load_bundle, open_session
from sentiment_batch.cli import main as cli_main
from sentiment_batch.export.exporter import export_bundle
from sentiment_batch.export.onnx_graph import PAGE_BYTES, move_weights_to_data_file
from sentiment_batch.export.parity import (
    MANY_BATCH_SIZE,
    MAX_LOGIT_DIFF,
    MAX_SINGLE_TEXTS,
    builtin_texts,
    onnx_scorer,
    parity_runs,
    score_texts,
    torch_scorer,
)
from sentiment_batch.export.quantize import HALF_MAX_LOGIT_DIFF, HALF_MIN_LABEL_AGREEMENT, quantize_in_place
from sentiment_batch.preprocessing import load_tokenizer

# Far longer than any review in the training set (and than IMDb's longest, about 2,500 words).
UNSEEN_LONG_REVIEW = " ".join(["a wonderful boring film , terrible acting but great score"] * 1_000)
PARITY_TEXTS = [*VARIED_TEXTS, UNSEEN_LONG_REVIEW, "great", ""]
BUNDLE_FILES = ["bundle.json", "explain.onnx", "model.onnx", "model.onnx.data", "tokenizer.json"]


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    import sentiment_batch.train  # noqa: F401  (registers the Auto classes)

    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()


@pytest.fixture(scope="module")
def manifest(tiny_bundle):
    return json.loads((tiny_bundle / "bundle.json").read_text(encoding="utf-8"))


def pytorch_and_onnx_logits(model, bundle, texts, batch_size):
    tokenizer = load_tokenizer(bundle)
    reference = score_texts(torch_scorer(model), tokenizer, texts, batch_size)
    candidate = score_texts(onnx_scorer(open_session(bundle / "model.onnx")), tokenizer, texts, batch_size)
    return reference, candidate


def test_graph_inputs_and_outputs_follow_the_bundle_contract(tiny_bundle):
    session = open_session(tiny_bundle / "model.onnx")
    inputs = {item.name: (item.type, len(item.shape)) for item in session.get_inputs()}
    outputs = {item.name: (item.type, len(item.shape)) for item in session.get_outputs()}
    assert inputs == {"input_ids": ("tensor(int64)", 1), "offsets": ("tensor(int64)", 1)}
    assert outputs == {"logits": ("tensor(float)", 2), "probabilities": ("tensor(float)", 2)}
    assert all(isinstance(item.shape[0], str) for item in session.get_inputs())  # dynamic, not traced sizes


def test_feature_weights_are_folded_into_the_one_table(tiny_bundle, tiny_model):
    initializers = {tensor.name: tensor for tensor in onnx.load(str(tiny_bundle / "model.onnx")).graph.initializer}
    rows = tiny_model.config.num_embeddings
    assert not [name for name, tensor in initializers.items() if list(tensor.dims) == [rows]]  # no weight vector
    [table] = [tensor for tensor in initializers.values() if list(tensor.dims) == [rows, 8]]
    expected = (tiny_model.bag.embeddings.weight * tiny_model.bag.feature_weights.unsqueeze(1)).detach().numpy()
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(table), expected)
    assert not np.array_equal(expected, tiny_model.bag.embeddings.weight.detach().numpy())  # the weights do scale


@pytest.mark.parametrize("batch_size", [1, 3, len(PARITY_TEXTS)])
def test_onnx_matches_pytorch_forward_on_varied_texts(tiny_model, tiny_bundle, batch_size):
    reference, candidate = pytorch_and_onnx_logits(tiny_model, tiny_bundle, PARITY_TEXTS, batch_size)
    assert reference.shape == candidate.shape == (len(PARITY_TEXTS), 2)
    np.testing.assert_allclose(candidate, reference, atol=MAX_LOGIT_DIFF, rtol=0)
    assert (candidate.argmax(axis=1) == reference.argmax(axis=1)).all()


def test_distinct_ngrams_export_with_parity(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    import sentiment_batch.train  # noqa: F401  (registers the Auto classes)

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, distinct_ngrams=True).eval()
    model.save_pretrained(tmp_path / "model")
    shutil.copy(tiny_model_dir / "tokenizer.json", tmp_path / "model")
    export_bundle(tmp_path / "model", tmp_path / "bundle")
    for batch_size in (1, len(PARITY_TEXTS)):
        reference, candidate = pytorch_and_onnx_logits(model, tmp_path / "bundle", PARITY_TEXTS, batch_size)
        np.testing.assert_allclose(candidate, reference, rtol=0, atol=MAX_LOGIT_DIFF)


def test_parity_takes_every_review_batched_and_the_first_ones_alone():
    texts = [f"review {n}" for n in range(MAX_SINGLE_TEXTS + 500)]
    [(one, alone), (many, batched)] = parity_runs(texts)
    assert (one, list(alone), many, batched) == (1, texts[:MAX_SINGLE_TEXTS], MANY_BATCH_SIZE, texts)
    assert [(size, list(run)) for size, run in parity_runs(texts[:3])] == [(1, texts[:3]), (3, texts[:3])]
    assert [(size, list(run)) for size, run in parity_runs(texts[:1])] == [(1, texts[:1])]


def test_the_bundle_carries_the_model_card(tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "README.md").write_text("# card\n\nsources and licences\n", encoding="utf-8")
    export_bundle(model, tmp_path / "bundle")
    assert (tmp_path / "bundle" / "README.md").read_text(encoding="utf-8") == "# card\n\nsources and licences\n"
    Scorer.from_bundle(tmp_path / "bundle").close()  # an unhashed card does not stop the bundle from loading


def test_empty_review_alone_and_between_others(tiny_model, tiny_bundle):
    session = open_session(tiny_bundle / "model.onnx")
    empty = np.zeros(0, dtype=np.int64)
    alone = session.run(["logits"], {"input_ids": empty, "offsets": np.array([0], dtype=np.int64)})[0]
    with torch.inference_mode():
        expected = tiny_model(input_ids=torch.from_numpy(empty), offsets=torch.tensor([0])).logits.numpy()
    np.testing.assert_allclose(alone, expected, atol=1e-6, rtol=0)
    between = session.run(["logits"], {"input_ids": np.array([5, 6, 7]), "offsets": np.array([0, 2, 2])})[0]
    np.testing.assert_allclose(between[1], alone[0], atol=1e-6, rtol=0)


def test_probabilities_are_the_softmax_of_the_logits(tiny_bundle):
    session = open_session(tiny_bundle / "model.onnx")
    logits, probabilities = session.run(None, {"input_ids": np.arange(2, 30), "offsets": np.array([0, 4, 4, 20])})
    expected = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-6, rtol=0)


def test_manifest_records_files_labels_and_parity(tiny_bundle, tiny_model_dir, manifest):
    model_bytes = (tiny_bundle / "model.onnx").read_bytes()
    assert manifest["format_version"] == 2
    assert manifest["model_sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert manifest["labels"] == ["negative", "positive"]
    assert (tiny_bundle / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()
    tokenizer_sha256 = hashlib.sha256((tiny_bundle / "tokenizer.json").read_bytes()).hexdigest()
    assert manifest["tokenizer_sha256"] == tokenizer_sha256
    assert manifest["preprocessing"]["add_special_tokens"] is False
    assert manifest["opset"] == onnx.load(str(tiny_bundle / "model.onnx")).opset_import[0].version
    assert set(manifest["versions"]) == {"torch", "onnx", "onnxruntime", "transformers", "sentiment_batch"}
    assert manifest["parity"]["texts"] == len(builtin_texts())
    assert manifest["parity"]["label_agreement"] == 1.0
    assert 0 <= manifest["parity"]["max_abs_logit_diff"] <= MAX_LOGIT_DIFF
    assert manifest["source"] == {"model_dir": tiny_model_dir.name, "metrics": {}}  # no path of this machine
    assert manifest["vocab_size"] == json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    assert manifest["quantized"] is False
    assert manifest["data_file"] == "model.onnx.data"
    assert manifest["data_sha256"] == hashlib.sha256((tiny_bundle / "model.onnx.data").read_bytes()).hexdigest()
    graph = {entry.key: entry.value for entry in onnx.load(str(tiny_bundle / "model.onnx")).metadata_props}
    assert graph == {
        "sentiment_batch.labels": '["negative", "positive"]',
        "sentiment_batch.tokenizer_sha256": tokenizer_sha256,
        "sentiment_batch.data_file": "model.onnx.data",
        "sentiment_batch.data_sha256": manifest["data_sha256"],
    }
    assert sorted(path.name for path in tiny_bundle.iterdir()) == BUNDLE_FILES
    assert tiny_bundle.stat().st_mode & 0o005 == 0o005  # readable by a scoring service running as another user
    # The explain graph: hashed, tied to the same labels, tokenizer and weights file, checked at export.
    assert manifest["explain_file"] == "explain.onnx"
    assert manifest["explain_sha256"] == hashlib.sha256((tiny_bundle / "explain.onnx").read_bytes()).hexdigest()
    explain = onnx.load(str(tiny_bundle / "explain.onnx"), load_external_data=False)
    assert {entry.key: entry.value for entry in explain.metadata_props} == graph
    assert manifest["explain_parity"]["passed"] and manifest["explain_parity"]["logits_identical"]


def test_builtin_parity_texts_cover_the_edge_cases():
    texts = builtin_texts()
    assert "" in texts
    assert any(len(text.split()) == 1 for text in texts)
    assert max(len(text.split()) for text in texts) > 5_000  # twice IMDb's longest review
    assert any(not text.isascii() for text in texts)
    assert any("<br />" in text for text in texts)


TORCH_FREE_SCORING = textwrap.dedent(
    """
    import json, sys

    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("torch", "transformers", "train", "export"):
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, BlockTorch())
    import onnxruntime
    from sentiment_batch.preprocessing import encode, load_tokenizer

    bundle = sys.argv[1]
    manifest = json.load(open(f"{bundle}/bundle.json", encoding="utf-8"))
    session = onnxruntime.InferenceSession(f"{bundle}/{manifest['model_file']}")
    input_ids, offsets = encode(load_tokenizer(f"{bundle}/{manifest['tokenizer_file']}"), json.loads(sys.argv[2]))
    logits, probabilities = session.run(None, {"input_ids": input_ids, "offsets": offsets})
    assert "torch" not in sys.modules
    print(json.dumps({"logits": logits.tolist(), "labels": [manifest["labels"][i] for i in logits.argmax(1)]}))
    """
)


def test_bundle_scores_in_a_process_without_torch(tiny_model, tiny_bundle):
    completed = subprocess.run(
        [sys.executable, "-c", TORCH_FREE_SCORING, str(tiny_bundle), json.dumps(PARITY_TEXTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    scored = json.loads(completed.stdout)
    reference = score_texts(torch_scorer(tiny_model), load_tokenizer(tiny_bundle), PARITY_TEXTS, len(PARITY_TEXTS))
    np.testing.assert_allclose(np.array(scored["logits"]), reference, atol=MAX_LOGIT_DIFF, rtol=0)
    assert scored["labels"] == [["negative", "positive"][i] for i in reference.argmax(axis=1)]


def run_export_cli(capsys, *args):
    code = cli_main(["export", *map(str, args)])
    return code, capsys.readouterr().err.strip()


def assert_refused(code, stderr):
    # Progress bars (loading weights) may come first; the error itself is one line, the last.
    errors = [line for line in stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert code == 2
    assert errors == [stderr.splitlines()[-1]], stderr
    assert errors[0].startswith("sentiment-batch export: error: ")


def test_refuses_a_folder_that_is_not_a_model(tmp_path, capsys):
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("hello", encoding="utf-8")
    code, stderr = run_export_cli(capsys, "--model", not_a_model, "--output", tmp_path / "bundle")
    assert_refused(code, stderr)
    assert "not a trained model" in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]


def test_refuses_an_unknown_model_type(tiny_model_dir, tmp_path, capsys):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "bert_like")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    (model_dir / "config.json").write_text(json.dumps({**config, "model_type": "bert"}), encoding="utf-8")
    code, stderr = run_export_cli(capsys, "--model", model_dir, "--output", tmp_path / "bundle")
    assert_refused(code, stderr)
    assert "'bert'" in stderr
    assert not (tmp_path / "bundle").exists()


def test_refuses_an_existing_output_without_overwrite(tiny_model_dir, tmp_path, capsys):
    existing = tmp_path / "bundle"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine", encoding="utf-8")
    code, stderr = run_export_cli(capsys, "--model", tiny_model_dir, "--output", existing)
    assert_refused(code, stderr)
    assert "--overwrite" in stderr
    assert [path.name for path in existing.iterdir()] == ["keep.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bundle"]


@pytest.mark.parametrize("opset", [onnx.defs.onnx_opset_version() + 1, 0])
def test_refuses_an_opset_onnx_cannot_write(tiny_model_dir, tmp_path, capsys, opset):
    code, stderr = run_export_cli(capsys, "--model", tiny_model_dir, "--output", tmp_path / "bundle", "--opset", opset)
    assert_refused(code, stderr)
    assert f"opset {opset}" in stderr
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_opset_the_exporter_silently_replaces_and_cleans_up(tiny_model_dir, tmp_path, capsys):
    # The dynamo exporter cannot go below its own opset for this graph and writes 18 instead of 11.
    code, stderr = run_export_cli(capsys, "--model", tiny_model_dir, "--output", tmp_path / "bundle", "--opset", 11)
    assert_refused(code, stderr)
    assert "opset 11" in stderr
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor the staging folder


def test_refuses_to_write_a_bundle_that_fails_parity(tiny_model_dir, tmp_path, monkeypatch):
    from sentiment_batch.errors import UserError

    monkeypatch.setattr("sentiment_batch.export.parity.MAX_LOGIT_DIFF", -1.0)  # no graph can pass a negative bound
    with pytest.raises(UserError, match="bundle not written"):
        export_bundle(tiny_model_dir, tmp_path / "bundle")
    assert list(tmp_path.iterdir()) == []


def self_contained_copy(tiny_bundle, model_path):
    """The bundle's model as the exporter has it before moving the weights out: one file."""
    save_self_contained(tiny_bundle / "model.onnx", model_path)
    return model_path.read_bytes()


def quantize_copy_of(tiny_bundle, tmp_path):
    model_path = tmp_path / "model.onnx"
    float_bytes = self_contained_copy(tiny_bundle, model_path)
    report = quantize_in_place(model_path, load_tokenizer(tiny_bundle), PARITY_TEXTS)
    return model_path, report, float_bytes


def test_weights_move_to_a_page_aligned_data_file(tiny_bundle, tmp_path):
    model_path = tmp_path / "model.onnx"
    self_contained_copy(tiny_bundle, model_path)
    reference = score_texts(onnx_scorer(open_session(model_path)), load_tokenizer(tiny_bundle), PARITY_TEXTS, 4)
    data_path = move_weights_to_data_file(model_path)
    assert data_path == tmp_path / "model.onnx.data"
    graph = onnx.load(str(model_path), load_external_data=False).graph
    moved = [tensor for tensor in graph.initializer if tensor.data_location == onnx.TensorProto.EXTERNAL]
    assert moved and all(len(tensor.raw_data) < PAGE_BYTES for tensor in graph.initializer)
    offsets = [int(next(e.value for e in tensor.external_data if e.key == "offset")) for tensor in moved]
    assert all(offset % PAGE_BYTES == 0 for offset in offsets)
    logits = score_texts(onnx_scorer(open_session(model_path)), load_tokenizer(tiny_bundle), PARITY_TEXTS, 4)
    np.testing.assert_array_equal(logits, reference)


def test_small_weights_stay_in_the_model_file(tmp_path, monkeypatch):
    model_path = tmp_path / "model.onnx"
    table = onnx.numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "table")
    node = onnx.helper.make_node("Gather", ["table", "rows"], ["out"])
    rows = onnx.helper.make_tensor_value_info("rows", onnx.TensorProto.INT64, [None])
    out = onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [None, 2])
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([node], "g", [rows], [out], [table])), str(model_path))
    assert move_weights_to_data_file(model_path) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]


def test_quantize_stores_the_embedding_table_in_float16(tiny_bundle, tiny_model, tmp_path):
    model_path, report, float_bytes = quantize_copy_of(tiny_bundle, tmp_path)
    assert report["kept"] is True
    assert report["quantized_bytes"] < report["float_bytes"] == len(float_bytes)
    assert report["label_agreement"] >= HALF_MIN_LABEL_AGREEMENT
    assert report["max_abs_logit_diff"] <= HALF_MAX_LOGIT_DIFF
    graph = onnx.load(str(model_path)).graph
    [table] = [tensor for tensor in graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT16]
    assert list(table.dims) == list(tiny_model.bag.embeddings.weight.shape)
    logits = score_texts(onnx_scorer(open_session(model_path)), load_tokenizer(tiny_bundle), PARITY_TEXTS, 4)
    reference = score_texts(torch_scorer(tiny_model), load_tokenizer(tiny_bundle), PARITY_TEXTS, 4)
    np.testing.assert_allclose(logits, reference, atol=HALF_MAX_LOGIT_DIFF, rtol=0)
    assert not np.array_equal(logits, reference)  # the table really is rounded
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]


def test_quantize_keeps_the_float_model_outside_the_bounds(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "sentiment_batch.export.quantize.HALF_MAX_LOGIT_DIFF", -1.0
    )  # no model can pass a negative bound
    model_path, report, float_bytes = quantize_copy_of(tiny_bundle, tmp_path)
    assert report["kept"] is False
    assert model_path.read_bytes() == float_bytes
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]


def made_up_reviews(count: int) -> list[str]:
    """`count` distinct reviews of the conftest's words (written here, not taken from a dataset)."""
    import random

    from helpers import REVIEWS

    words = " ".join(text for text, _ in REVIEWS).split()
    rng = random.Random(0)
    return [f"{index} " + " ".join(rng.choices(words, k=rng.randrange(1, 40))) for index in range(count)]


def write_reviews(path, texts):
    import pandas as pd

    if path.suffix == ".txt":
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    elif path.suffix == ".csv":
        pd.DataFrame({"id": range(len(texts)), "review": texts}).to_csv(path, index=False)
    else:
        pd.DataFrame({"id": range(len(texts)), "review": texts}).to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".parquet"])
def test_reviews_files_give_their_non_blank_reviews(tmp_path, suffix):
    from sentiment_batch.export.sample import read_texts

    texts = made_up_reviews(20)
    path = write_reviews(tmp_path / f"texts{suffix}", [*texts[:10], "", "  ", *texts[10:]])
    assert read_texts(path, "review") == texts


def test_export_cli_float16_checks_agreement_on_the_reviews_given(tiny_model_dir, tmp_path, capsys):
    texts = made_up_reviews(1000)
    texts_file = write_reviews(tmp_path / "texts.csv", [*texts[:500], "", *texts[500:]])  # a blank one, left out
    output = tmp_path / "half_bundle"
    args = [
        "--model",
        tiny_model_dir,
        "--output",
        output,
        "--texts",
        texts_file,
        "--float16",
        "--text-column",
        "review",
    ]
    assert cli_main(["export", *map(str, args)]) == 0
    printed = capsys.readouterr().out
    assert "float16:" in printed and "on 1,000 reviews" in printed and "kept float16" in printed
    manifest = json.loads((output / "bundle.json").read_text(encoding="utf-8"))
    assert manifest["quantized"] is True and manifest["quantization"]["rows"] == 1000
    assert manifest["parity"]["texts"] == len(builtin_texts()) + 1000  # the edge cases and the reviews
    # The tiny float16 table is under a page, so it stays in model.onnx: the bundle has no data file.
    assert "data_file" not in manifest and not (output / "model.onnx.data").exists()
    keys = {entry.key for entry in onnx.load(str(output / "model.onnx")).metadata_props}
    assert keys == {"sentiment_batch.labels", "sentiment_batch.tokenizer_sha256"}
    assert load_bundle(output).labels == ("negative", "positive")
    graph = onnx.load(str(output / "model.onnx"))
    del graph.metadata_props[:]  # added after the float16 table: they tie the graph to the bundle's other files
    assert manifest["quantization"]["quantized_bytes"] == graph.ByteSize()
    assert manifest["model_sha256"] == hashlib.sha256((output / "model.onnx").read_bytes()).hexdigest()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["half_bundle", texts_file.name]


def test_float16_refuses_fewer_than_1000_reviews_in_one_line(tiny_model_dir, tmp_path, capsys):
    flag = "--float16"
    texts_file = write_reviews(tmp_path / "texts.txt", made_up_reviews(999))
    args = ["--model", tiny_model_dir, "--output", tmp_path / "bundle", "--texts", texts_file, flag]
    code, stderr = run_export_cli(capsys, *args)
    assert_refused(code, stderr)
    assert "at least 1,000 real reviews; 999 given" in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["texts.txt"]
    code, stderr = run_export_cli(capsys, "--model", tiny_model_dir, "--output", tmp_path / "bundle", flag)
    assert_refused(code, stderr)
    assert "0 given" in stderr


def test_export_checks_parity_on_a_datasets_validation_split(tiny_model_dir, tmp_path, capsys, make_tiny_aclimdb):
    from sentiment_batch.train.splits import load_splits

    dataset = make_tiny_aclimdb(tmp_path)
    output = tmp_path / "bundle"
    args = ["--model", tiny_model_dir, "--output", output, "--dataset", dataset]
    assert cli_main(["export", *map(str, args)]) == 0
    validation = load_splits(str(dataset))["validation"]
    manifest = json.loads((output / "bundle.json").read_text(encoding="utf-8"))
    assert manifest["parity"]["texts"] == len(builtin_texts()) + len(validation) > len(builtin_texts())
    code, stderr = run_export_cli(capsys, *args[:3], tmp_path / "other", "--dataset", dataset, "--split", "nope")
    assert_refused(code, stderr)
    assert "has no 'nope' split" in stderr


@pytest.mark.parametrize("content", [None, "", "\n  \n"], ids=["missing", "empty", "blank"])
def test_refuses_a_texts_file_without_reviews(tiny_model_dir, tmp_path, capsys, content):
    texts_file = tmp_path / "texts.txt"
    if content is not None:
        texts_file.write_text(content, encoding="utf-8")
    args = ["--model", tiny_model_dir, "--output", tmp_path / "bundle", "--texts", texts_file]
    assert_refused(*run_export_cli(capsys, *args))
    assert not (tmp_path / "bundle").exists()


def test_overwrite_replaces_an_existing_bundle(tiny_model_dir, tiny_bundle, tmp_path):
    output = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    (output / "stale.txt").write_text("from an older export", encoding="utf-8")
    manifest = export_bundle(tiny_model_dir, output, overwrite=True, texts=["great", ""])
    assert sorted(path.name for path in output.iterdir()) == BUNDLE_FILES
    assert manifest.info["parity"]["texts"] == len(builtin_texts()) + 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bundle"]


def test_refuses_weights_too_large_for_one_onnx_file(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "sentiment_batch.export.onnx_graph.PROTOBUF_LIMIT_BYTES", 1024
    )  # the tiny model's table is larger
    assert_refused(*run_export_cli(capsys, "--model", tiny_model_dir, "--output", tmp_path / "bundle"))
    assert list(tmp_path.iterdir()) == []


def test_graph_has_no_scatter_nd(tiny_bundle):
    # onnxruntime's CPU ScatterND with reduction races between threads (onnxruntime#18048, #23396).
    operators = {node.op_type for node in onnx.load(str(tiny_bundle / "model.onnx")).graph.node}
    assert "ScatterND" not in operators


def test_scores_are_identical_across_runs_with_default_threads(tiny_bundle):
    session = open_session(tiny_bundle / "model.onnx")
    texts = PARITY_TEXTS * 30
    runs = [score_texts(onnx_scorer(session), load_tokenizer(tiny_bundle), texts, len(texts)) for _ in range(3)]
    assert all(np.array_equal(runs[0], run) for run in runs[1:])


def truncate_weights(model_dir):
    path = model_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:2000])


def edit_config(**changes):
    def edit(model_dir):
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        (model_dir / "config.json").write_text(json.dumps({**config, **changes}), encoding="utf-8")

    return edit


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (truncate_weights, "cannot load the model in .*: Error while deserializing header"),
        (edit_config(embedding_dim=4), r"config.json does not match the weights \(2 mismatched keys"),
        (edit_config(hidden_dims=[16, 16]), r"config.json does not match the weights \(7 missing keys"),
        (edit_config(ngram_size=0), "cannot load the model in .*: ngram_size must be at least 1"),
        (
            lambda folder: (folder / "config.json").write_text("[1, 2]"),
            "model type None .* is not one this package trains",
        ),
    ],
    ids=["truncated-weights", "embedding-dim", "hidden-dims", "bad-setting", "config-not-an-object"],
)
def test_export_and_verify_answer_a_damaged_model_folder_in_one_line(
    tiny_model_dir, tiny_bundle, tmp_path, capsys, damage, match
):
    import re

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "damaged")
    damage(model_dir)
    code, stderr = run_export_cli(capsys, "--model", model_dir, "--output", tmp_path / "bundle")
    assert_refused(code, stderr)
    assert re.search(match, stderr.splitlines()[-1]) and "Traceback" not in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged"]
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\ngreat,1\nawful,0\n", encoding="utf-8")
    code = cli_main(["verify", "--bundle", str(tiny_bundle), "--model", str(model_dir), "--dataset", str(reviews)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert re.search(match, captured.err.strip().splitlines()[-1]) and "Traceback" not in captured.err


def test_a_review_scores_bit_for_bit_alike_alone_and_in_a_batch_of_2000(tiny_bundle):
    from sentiment_batch import Scorer

    words = ["good", "bad", "great", "awful", "film", "plot", "not", "very", "<br />", "!", ",", "."]
    generator = np.random.default_rng(0)
    texts = []
    while len(texts) < 2_000:
        text = " ".join(generator.choice(words, size=generator.integers(1, 400)))
        if text.replace("<br />", "").strip():  # only line breaks: no words to score, an error row
            texts.append(text)
    with Scorer.from_bundle(tiny_bundle, threads=2, batch_size=2_000) as scorer:
        together = probabilities(scorer, texts)
    with Scorer.from_bundle(tiny_bundle, threads=1, batch_size=1) as scorer:
        alone = np.concatenate([probabilities(scorer, [text]) for text in texts[:200]])
    assert np.array_equal(alone.view(np.uint32), together[:200].view(np.uint32))


def test_the_explain_graph_reads_the_scoring_graphs_weights_from_the_one_file(tiny_bundle):
    from onnx.external_data_helper import uses_external_data

    def external(name):
        model = onnx.load(str(tiny_bundle / name), load_external_data=False)
        places = [{entry.key: entry.value for entry in tensor.external_data} for tensor in model.graph.initializer]
        return [
            place for place, tensor in zip(places, model.graph.initializer, strict=True) if uses_external_data(tensor)
        ]

    table = max(external("model.onnx"), key=lambda place: int(place["length"]))
    assert table in external("explain.onnx")  # the same bytes of model.onnx.data, not a copy
    assert {place["location"] for place in external("explain.onnx")} == {"model.onnx.data"}


@pytest.mark.parametrize("extra", [{}, {"negation_flip": True}, {"neutral": ["great", "film", "the"]}])
def test_negation_scopes_export_with_parity(tiny_model_dir, tmp_path, extra):
    from transformers import AutoModelForSequenceClassification

    import sentiment_batch.train  # noqa: F401  (registers the Auto classes)
    from sentiment_batch.train.tokenization import negation_ids, word_ids

    tokenizer = load_tokenizer(tiny_model_dir)
    cues, ends = negation_ids(tokenizer)
    settings = {"negation_window": 3, "negation_cue_ids": cues or [5], "scope_end_ids": ends}
    settings |= {"negation_flip": extra.get("negation_flip", False)}
    settings |= {"neutral_token_ids": word_ids(tokenizer, extra.get("neutral", []))}
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, **settings).eval()
    model.save_pretrained(tmp_path / "model")
    shutil.copy(tiny_model_dir / "tokenizer.json", tmp_path / "model")
    manifest = export_bundle(tmp_path / "model", tmp_path / "bundle")
    assert manifest.info["parity"]["passed"] and manifest.info["explain_parity"]["passed"]
    texts = [*PARITY_TEXTS, "not great, but not bad at all. Never boring!"]
    for batch_size in (1, len(texts)):
        reference, candidate = pytorch_and_onnx_logits(model, tmp_path / "bundle", texts, batch_size)
        np.testing.assert_allclose(candidate, reference, rtol=0, atol=MAX_LOGIT_DIFF)


def test_refuses_an_output_that_holds_the_model(tiny_model_dir, tmp_path, capsys):
    model = shutil.copytree(tiny_model_dir, tmp_path / "d" / "m")
    assert cli_main(["export", "--model", str(model), "--output", str(tmp_path / "d"), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"holds the input {model}; write somewhere else")
    assert (model / "model.safetensors").is_file()
