"""The bundle loader: a valid bundle loads, every kind of broken bundle is a one-line UserError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import save_self_contained
from sentiment_batch.bundle import MANIFEST_FILE, Manifest, load_bundle, sha256_file
from sentiment_batch.errors import UserError
from sentiment_batch.scorer import Scorer


def edit_manifest(folder, **changes):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def assert_one_line_error(folder, match):
    with pytest.raises(UserError, match=match) as raised:
        load_bundle(folder)
    assert "\n" not in str(raised.value)


def test_valid_bundle_loads(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert bundle.labels == ("negative", "positive")
    assert bundle.model_path == tiny_bundle / "model.onnx"
    assert bundle.tokenizer_path == tiny_bundle / "tokenizer.json"
    assert bundle.manifest.model_sha256 == sha256_file(bundle.model_path)
    assert bundle.data_path == tiny_bundle / "model.onnx.data"
    assert bundle.manifest.data_sha256 == sha256_file(bundle.data_path)


def test_files_and_sha256_name_the_whole_bundle(bundle_copy, tiny_bundle):
    bundle = load_bundle(bundle_copy)
    assert {path.name for path in bundle.files} == {path.name for path in tiny_bundle.iterdir()}
    assert bundle.sha256() == load_bundle(tiny_bundle).sha256()  # the content, wherever the folder is
    with bundle.tokenizer_path.open("a") as handle:  # the one file the manifest holds no hash of
        handle.write(" ")
    assert load_bundle(bundle_copy).sha256() != load_bundle(tiny_bundle).sha256()


def test_bundle_with_weights_inside_model_file_still_loads(bundle_copy, tiny_bundle):
    """Bundles exported before the weights moved to model.onnx.data hold them in model.onnx and name no data file."""
    model_path = bundle_copy / "model.onnx"
    save_self_contained(model_path, model_path)
    (bundle_copy / "model.onnx.data").unlink()
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    del manifest["data_file"], manifest["data_sha256"]
    manifest["model_sha256"] = sha256_file(model_path)
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    texts = ["a wonderful film", "dull and far too long", ""]
    inline = Scorer.from_bundle(bundle_copy).probabilities(texts)
    assert inline.tolist() == Scorer.from_bundle(tiny_bundle).probabilities(texts).tolist()


def test_missing_folder(tmp_path):
    assert_one_line_error(tmp_path / "nowhere", "does not exist")


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    assert_one_line_error(tmp_path / "model.onnx", "not a folder")


def test_missing_manifest(bundle_copy):
    (bundle_copy / MANIFEST_FILE).unlink()
    assert_one_line_error(bundle_copy, "bundle.json is missing")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_invalid_manifest(bundle_copy, text):
    (bundle_copy / MANIFEST_FILE).write_text(text)
    assert_one_line_error(bundle_copy, "not valid JSON|JSON object")


@pytest.mark.parametrize("version", [None, 2, "1"])
def test_unknown_format_version(bundle_copy, version):
    edit_manifest(bundle_copy, format_version=version)
    assert_one_line_error(bundle_copy, "unknown format_version")


@pytest.mark.parametrize("labels", [None, ["only"], ["a", "a"], ["a", 3]])
def test_bad_labels(bundle_copy, labels):
    edit_manifest(bundle_copy, labels=labels)
    assert_one_line_error(bundle_copy, "labels must be")


@pytest.mark.parametrize("name", ["model.onnx", "model.onnx.data", "tokenizer.json"])
def test_incomplete_bundle(bundle_copy, name):
    (bundle_copy / name).unlink()
    assert_one_line_error(bundle_copy, f"incomplete: {name}")


def test_member_outside_bundle(bundle_copy):
    edit_manifest(bundle_copy, model_file="../model.onnx")
    assert_one_line_error(bundle_copy, "file name inside the bundle")


def test_sha256_mismatch(bundle_copy):
    with (bundle_copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert_one_line_error(bundle_copy, "does not match model_sha256")
    assert load_bundle(bundle_copy, verify_sha256=False).labels == ("negative", "positive")


def test_weights_sha256_mismatch(bundle_copy):
    data = bytearray((bundle_copy / "model.onnx.data").read_bytes())
    data[-1] ^= 1  # one flipped bit in the last weight
    (bundle_copy / "model.onnx.data").write_bytes(bytes(data))
    assert_one_line_error(bundle_copy, "does not match data_sha256")


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
        ({"data_sha256": 3}, "data_sha256 must be"),
        ({"tokenizer_file": ["x"]}, "tokenizer_file must be"),
    ],
)
def test_malformed_manifest_fields(bundle_copy, change, match):
    edit_manifest(bundle_copy, **change)
    assert_one_line_error(bundle_copy, match)


def test_manifest_without_model_hash(bundle_copy):
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    del manifest["model_sha256"]
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert_one_line_error(bundle_copy, "model_sha256 is missing")
