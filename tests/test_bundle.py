"""The bundle loader and the bundle's session: a valid bundle loads, every kind of broken, edited or malformed bundle
is a one-line UserError, and no edit to any one of its files goes unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import probabilities, save_self_contained
from sentiment_batch.bundle import (
    GRAPH_DATA_FILE,
    GRAPH_DATA_SHA256,
    GRAPH_LABELS,
    GRAPH_TOKENIZER_SHA256,
    MANIFEST_FILE,
    MAX_MANIFEST_BYTES,
    Manifest,
    load_bundle,
    open_bundle_session,
    sha256_file,
)
from sentiment_batch.errors import UserError
from sentiment_batch.scorer import Scorer

TEXTS = ["a wonderful film", "dull and far too long", "great", "awful"]


def edit_manifest(folder, **changes):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def drop_manifest_keys(folder, *keys):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    for key in keys:
        del manifest[key]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def set_graph_metadata(folder, **entries):
    """Rewrite model.onnx's sentiment_batch metadata (None removes an entry) and re-hash it in the manifest, as a
    forger editing two files would."""
    import onnx

    from sentiment_batch.export.onnx_graph import write_graph_metadata

    model_path = folder / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=False)
    kept = [entry for entry in model.metadata_props if entry.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(model_path))
    write_graph_metadata(model_path, {key: value for key, value in entries.items() if value is not None})
    edit_manifest(folder, model_sha256=sha256_file(model_path))


def assert_one_line_error(folder, match):
    with pytest.raises(UserError, match=match) as raised:
        load_bundle(folder)
    assert "\n" not in str(raised.value)


def assert_session_refused(folder, match, verify_sha256=True):
    """The bundle loads (every file matches its hash) but its graph's session is refused, in one line."""
    bundle = load_bundle(folder, verify_sha256=verify_sha256)
    with pytest.raises(UserError, match=match) as raised:
        open_bundle_session(bundle)
    assert "\n" not in str(raised.value)


def test_valid_bundle_loads(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert bundle.labels == ("negative", "positive")
    assert bundle.model_path == tiny_bundle / "model.onnx"
    assert bundle.tokenizer_path == tiny_bundle / "tokenizer.json"
    assert bundle.manifest.model_sha256 == sha256_file(bundle.model_path)
    assert bundle.manifest.tokenizer_sha256 == sha256_file(bundle.tokenizer_path)
    assert bundle.data_path == tiny_bundle / "model.onnx.data"
    assert bundle.manifest.data_sha256 == sha256_file(bundle.data_path)


def test_files_and_sha256_name_the_whole_bundle(bundle_copy, tiny_bundle):
    bundle = load_bundle(bundle_copy)
    assert {path.name for path in bundle.files} == {path.name for path in tiny_bundle.iterdir()}
    assert bundle.sha256() == load_bundle(tiny_bundle).sha256()  # the content, wherever the folder is
    manifest = Manifest.read(bundle_copy)  # any change to any file changes the manifest that hashes it
    Manifest(**{**manifest.__dict__, "info": {**manifest.info, "note": "re-exported"}}).write(bundle_copy)
    assert load_bundle(bundle_copy).sha256() != load_bundle(tiny_bundle).sha256()


def test_graph_metadata_ties_the_graph_to_labels_tokenizer_and_weights(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    metadata = open_bundle_session(bundle).get_modelmeta().custom_metadata_map
    assert metadata == {
        GRAPH_LABELS: '["negative", "positive"]',
        GRAPH_TOKENIZER_SHA256: bundle.manifest.tokenizer_sha256,
        GRAPH_DATA_FILE: "model.onnx.data",
        GRAPH_DATA_SHA256: bundle.manifest.data_sha256,
    }


def test_bundle_with_weights_inside_model_file_loads(bundle_copy, tiny_bundle):
    """A graph with every weight inline (as small models are exported) names no data file, here or in its metadata."""
    model_path = bundle_copy / "model.onnx"
    save_self_contained(model_path, model_path)
    (bundle_copy / "model.onnx.data").unlink()
    drop_manifest_keys(bundle_copy, "data_file", "data_sha256")
    set_graph_metadata(bundle_copy, **{GRAPH_DATA_FILE: None, GRAPH_DATA_SHA256: None})
    inline = probabilities(Scorer.from_bundle(bundle_copy), TEXTS)
    assert inline.tolist() == probabilities(Scorer.from_bundle(tiny_bundle), TEXTS).tolist()


def test_missing_folder(tmp_path):
    assert_one_line_error(tmp_path / "nowhere", "does not exist")


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    assert_one_line_error(tmp_path / "model.onnx", "not a folder")


def test_missing_manifest(bundle_copy):
    (bundle_copy / MANIFEST_FILE).unlink()
    assert_one_line_error(bundle_copy, "bundle.json is missing")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting too deep to parse
        ('{"format_version": 2, "x": ' + "9" * 10_000 + "}", "not valid JSON"),  # an integer too long to convert
        ("\udcff", "not valid JSON"),
    ],
)
def test_invalid_manifest(bundle_copy, text, match):
    (bundle_copy / MANIFEST_FILE).write_bytes(text.encode("utf-8", "surrogateescape"))
    assert_one_line_error(bundle_copy, match)


def test_huge_manifest_is_refused_unread(bundle_copy):
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps({**manifest, "padding": "x" * MAX_MANIFEST_BYTES}))
    assert_one_line_error(bundle_copy, "larger than")


@pytest.mark.parametrize("version", [None, 1, 3, "2", 2.0, True, [2], 10**40])
def test_unknown_format_version(bundle_copy, version):
    edit_manifest(bundle_copy, format_version=version)
    assert_one_line_error(bundle_copy, "unknown format_version .* export the bundle again from its model folder")


@pytest.mark.parametrize(
    "labels",
    [
        None,
        "negative,positive",
        ["only"],
        ["a", "a"],
        ["a", 3],
        ["a", ""],
        ["a", "b\nc"],
        ["x"] * 1001,
    ],
)
def test_bad_labels(bundle_copy, labels):
    edit_manifest(bundle_copy, labels=labels)
    with pytest.raises(UserError, match="labels must be") as raised:
        load_bundle(bundle_copy)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 400  # a huge value is cut, not echoed


@pytest.mark.parametrize("name", ["model.onnx", "model.onnx.data", "tokenizer.json"])
def test_incomplete_bundle(bundle_copy, name):
    (bundle_copy / name).unlink()
    assert_one_line_error(bundle_copy, f"incomplete: {name}")


@pytest.mark.parametrize("name", ["model.onnx", "model.onnx.data", "tokenizer.json", "bundle.json"])
def test_unreadable_member_is_one_line(bundle_copy, name):
    (bundle_copy / name).unlink()
    (bundle_copy / name).mkdir()  # unreadable as a file whoever runs the test, root included
    assert_one_line_error(bundle_copy, "incomplete|missing")


@pytest.mark.parametrize(
    "name",
    [
        "../model.onnx",
        "/etc/passwd",
        "",
        ".",
        "..",
        "bundle.json",
        "tokenizer.json",
        "x" * 300,
        "a\0b",
        "a\nb",
        7,
        None,
    ],
)
def test_member_outside_bundle(bundle_copy, name):
    edit_manifest(bundle_copy, model_file=name)
    assert_one_line_error(bundle_copy, "model_file must|must name different files")


def test_sha256_mismatch(bundle_copy):
    model_path = bundle_copy / "model.onnx"
    model_path.write_bytes(model_path.read_bytes().replace(b"pytorch", b"pytorcx"))  # the graph's producer name
    assert_one_line_error(bundle_copy, "does not match model_sha256")
    assert load_bundle(bundle_copy, verify_sha256=False).labels == ("negative", "positive")


def test_weights_sha256_mismatch(bundle_copy):
    data = bytearray((bundle_copy / "model.onnx.data").read_bytes())
    data[-1] ^= 1  # one flipped bit in the last weight
    (bundle_copy / "model.onnx.data").write_bytes(bytes(data))
    assert_one_line_error(bundle_copy, "does not match data_sha256")


def swap_two_vocabulary_ids(folder):
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[5:7]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")


# Edits of one file each, the manifest included, that would otherwise change the answers silently.
def swap_labels(folder):
    edit_manifest(folder, labels=["positive", "negative"])


def drop_data_keys_and_flip_a_weight(folder):
    drop_manifest_keys(folder, "data_file", "data_sha256")
    data = bytearray((folder / "model.onnx.data").read_bytes())
    data[-1] ^= 1
    (folder / "model.onnx.data").write_bytes(bytes(data))


def null_data_keys(folder):
    edit_manifest(folder, data_file=None, data_sha256=None)


def drop_data_hash_only(folder):
    drop_manifest_keys(folder, "data_sha256")


def rename_the_data_file(folder):
    (folder / "model.onnx.data").rename(folder / "weights.bin")
    edit_manifest(folder, data_file="weights.bin")


def other_tokenizer_hash(folder):
    edit_manifest(folder, tokenizer_sha256="0" * 64)


def drop_tokenizer_hash(folder):
    drop_manifest_keys(folder, "tokenizer_sha256")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (swap_two_vocabulary_ids, "tokenizer.json does not match tokenizer_sha256"),
        (drop_data_hash_only, "data_file and data_sha256 go together"),
        (other_tokenizer_hash, "does not match tokenizer_sha256"),
        (drop_tokenizer_hash, "tokenizer_sha256 missing"),
    ],
)
def test_no_edit_of_one_file_goes_unnoticed(bundle_copy, edit, match):
    edit(bundle_copy)
    assert_one_line_error(bundle_copy, match)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (swap_labels, "disagree on sentiment_batch.labels"),
        (drop_data_keys_and_flip_a_weight, "reads its weights from model.onnx.data, which bundle.json does not name"),
        (null_data_keys, "reads its weights from model.onnx.data, which bundle.json does not name"),
        (rename_the_data_file, "reads its weights from model.onnx.data, not from weights.bin"),
    ],
)
def test_no_edit_the_hashes_miss_goes_unnoticed_by_the_session(bundle_copy, edit, match):
    edit(bundle_copy)
    assert_session_refused(bundle_copy, match)


def test_the_graph_vouches_for_the_tokenizer_and_labels_even_when_the_manifest_is_rehashed(bundle_copy):
    swap_two_vocabulary_ids(bundle_copy)
    edit_manifest(bundle_copy, tokenizer_sha256=sha256_file(bundle_copy / "tokenizer.json"), labels=["neg", "pos"])
    assert_session_refused(bundle_copy, "disagree on sentiment_batch.labels")
    edit_manifest(bundle_copy, labels=["negative", "positive"])
    assert_session_refused(bundle_copy, "disagree on sentiment_batch.tokenizer_sha256")
    # the graph's metadata is checked even without hashing
    assert_session_refused(bundle_copy, "disagree", verify_sha256=False)


def test_graph_without_metadata_is_refused(bundle_copy):
    set_graph_metadata(
        bundle_copy, **dict.fromkeys([GRAPH_LABELS, GRAPH_TOKENIZER_SHA256, GRAPH_DATA_FILE, GRAPH_DATA_SHA256])
    )
    assert_session_refused(bundle_copy, "disagree on sentiment_batch")


@pytest.mark.parametrize("content", [b"", b"not an onnx graph", b"\x0a\xff\xff\xff\xff\x0f", b"\x72\x05\x0a\x09"])
def test_graph_that_is_not_onnx_is_refused_in_one_line(bundle_copy, content):
    (bundle_copy / "model.onnx").write_bytes(content)
    assert_session_refused(bundle_copy, "cannot load", verify_sha256=False)


def test_default_bundle_is_package_data_and_loads():
    import sentiment_batch

    bundle = load_bundle()
    assert bundle.path == Path(sentiment_batch.__file__).parent / "default_bundle"
    assert bundle.labels == ("negative", "positive")


def test_manifest_round_trips_and_keeps_unknown_keys(bundle_copy):
    manifest = Manifest.read(bundle_copy)
    assert manifest.info["opset"] and "parity" in manifest.info
    before = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    manifest.write(bundle_copy)
    assert json.loads((bundle_copy / MANIFEST_FILE).read_text()) == before


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model_sha256": None}, "model_sha256 must be"),
        ({"model_sha256": "z" * 64}, "model_sha256 must be"),
        ({"model_sha256": {"nested": [[["deep"]]]}}, "model_sha256 must be"),
        ({"tokenizer_sha256": 10**30}, "tokenizer_sha256 must be"),
        ({"data_sha256": 3}, "data_sha256 must be"),
        ({"data_sha256": "A" * 64}, "data_sha256 must be"),
        ({"data_file": False}, "data_file must be"),
        ({"tokenizer_file": ["x"]}, "tokenizer_file must be"),
        ({"model_file": "model.onnx" * 100_000}, "model_file must be"),
    ],
)
def test_malformed_manifest_fields(bundle_copy, change, match):
    edit_manifest(bundle_copy, **change)
    with pytest.raises(UserError, match=match) as raised:
        load_bundle(bundle_copy)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 400


def test_a_manifest_written_before_0_3_0_says_to_export_again(bundle_copy):
    drop_manifest_keys(bundle_copy, "languages", "vocab_size")  # what a 0.2.0 bundle.json lacks
    assert_one_line_error(bundle_copy, "languages, vocab_size missing .* export the bundle again from its model folder")


@pytest.mark.parametrize("key", ["labels", "model_file", "model_sha256", "tokenizer_file", "tokenizer_sha256"])
def test_manifest_without_a_required_key(bundle_copy, key):
    drop_manifest_keys(bundle_copy, key)
    assert_one_line_error(bundle_copy, f"{key} missing")


def reseal(folder):
    """Rehash the graph in the manifest, as a forger editing the graph would."""
    edit_manifest(folder, model_sha256=sha256_file(folder / "model.onnx"))


def point_weights_at(folder, location):
    import onnx

    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(folder / "model.onnx"))
    reseal(folder)


def test_a_graph_reading_weights_from_another_file_is_refused(bundle_copy):
    """The other file holds edited weights; every file the manifest names still matches its hash."""
    data = bytearray((bundle_copy / "model.onnx.data").read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"  # an infinite weight
    (bundle_copy / "other.bin").write_bytes(bytes(data))
    point_weights_at(bundle_copy, "other.bin")
    assert_session_refused(bundle_copy, "reads its weights from other.bin, not from model.onnx.data")
    for location in ("../bundle_copy/model.onnx.data", str(bundle_copy / "model.onnx.data")):
        point_weights_at(bundle_copy, location)
        assert_session_refused(bundle_copy, "reads its weights from .*, not from model.onnx.data")


def graph_with_a_subgraph(folder, location):
    """A bundle graph of the right inputs, outputs and metadata whose only weight sits in an `If` branch, stored in
    `location` (None: inside the graph)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import set_external_data

    weights = numpy_helper.from_array(np.full((1, 2), 0.5, np.float32), "w")
    if location is not None:
        (folder / location).write_bytes(weights.raw_data)
        set_external_data(weights, location, 0, len(weights.raw_data))
        weights.ClearField("raw_data")
    branch = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 2])],
        [weights],
    )
    other = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(np.zeros((1, 2), np.float32)))],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 2])],
    )
    nodes = [
        helper.make_node("Constant", [], ["yes"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("If", ["yes"], ["logits"], then_branch=branch, else_branch=other),
        helper.make_node("Softmax", ["logits"], ["probabilities"]),
    ]
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["n"]) for name in ("input_ids", "offsets")]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 2]) for name in ("logits", "probabilities")
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 18)]
    )
    for key, value in Manifest.read(folder).graph_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(folder / "model.onnx"))
    reseal(folder)


@pytest.mark.parametrize("location", ["other.bin", "model.onnx.data"])
def test_weights_in_a_subgraph_come_from_nowhere_but_the_manifests_file(bundle_copy, location):
    graph_with_a_subgraph(bundle_copy, None)
    open_bundle_session(load_bundle(bundle_copy))  # the same graph with its weight inside it loads
    graph_with_a_subgraph(bundle_copy, location)
    assert_session_refused(bundle_copy, "cannot load", verify_sha256=False)


def test_a_forged_tokenizer_id_is_refused_in_one_line_with_bounded_memory(bundle_copy, tmp_path):
    """Every hash and the graph's metadata agree: only the tokenizer's id is out of the graph's table."""
    import subprocess
    import sys

    tokenizer = json.loads((bundle_copy / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["model"]["vocab"]["great"] = 2_000_000_000
    (bundle_copy / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    tokenizer_sha256 = sha256_file(bundle_copy / "tokenizer.json")
    set_graph_metadata(bundle_copy, **{GRAPH_TOKENIZER_SHA256: tokenizer_sha256})
    edit_manifest(bundle_copy, tokenizer_sha256=tokenizer_sha256)
    (tmp_path / "in.csv").write_text("text\ngreat film\n")
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(tmp_path / "in.csv"), "--output"]
    command += [str(tmp_path / "out.csv"), "--bundle", str(bundle_copy), "--no-progress"]
    wrapper = "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    wrapper += "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "cannot load the tokenizer" in line and "token id 2000000000 is not between 0 and" in line
    assert int(result.stdout) < 600 * 1024  # kB: well under the 7.9 GB a table that high would take
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda tok: tok["model"]["vocab"].update({"great": 200_000_000}), "token id 200000000 is not between 0"),
        (lambda tok: tok["model"]["vocab"].update({"great": -1}), "token id -1 is not between 0"),
        (lambda tok: tok["model"]["vocab"].update({"great": "7"}), "token id '7' is not between 0"),
        (lambda tok: tok["model"]["vocab"].pop("[UNK]"), "its unknown token '[UNK]' is not in its vocabulary"),
        (lambda tok: tok["model"].update(unk_token=None), "its unknown token None is not in its vocabulary"),
        (lambda tok: tok["model"].update(type="BPE"), "its model is 'BPE', not the WordLevel model"),
        (lambda tok: tok["added_tokens"][0].update(id=10**9), "token id 1000000000 is not between 0"),
    ],
)
def test_load_bundle_refuses_a_tokenizer_unfit_for_the_graph_in_one_line(bundle_copy, edit, match):
    import re

    tokenizer = json.loads((bundle_copy / "tokenizer.json").read_text(encoding="utf-8"))
    edit(tokenizer)
    (bundle_copy / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    with pytest.raises(UserError, match=f"cannot load the tokenizer .*tokenizer.json: {re.escape(match)}") as raised:
        load_bundle(bundle_copy, verify_sha256=False)  # no Scorer: the bundle's own check refuses it
    assert "\n" not in str(raised.value)


def test_the_manifests_vocab_size_bounds_the_tokenizers_ids(bundle_copy):
    vocab = json.loads((bundle_copy / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    edit_manifest(bundle_copy, vocab_size=max(vocab.values()))  # one row short
    with pytest.raises(UserError, match=f"token id {max(vocab.values())} is not between 0 and"):
        load_bundle(bundle_copy, verify_sha256=False)
    edit_manifest(bundle_copy, vocab_size="many")
    with pytest.raises(UserError, match="vocab_size must be a positive integer"):
        load_bundle(bundle_copy, verify_sha256=False)
