"""`sentiment-batch upgrade`: a format-1 bundle becomes a format-2 one with the same files and the same answers."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest

from helpers import probabilities
from sentiment_batch import Scorer
from sentiment_batch.bundle import MANIFEST_FILE, load_bundle, open_bundle_session, sha256_file
from sentiment_batch.cli import main as cli_main
from sentiment_batch.errors import UserError
from sentiment_batch.export import upgrade_bundle

TEXTS = ["a wonderful film", "dull and far too long", "great", "awful <br /> 😀"]


@pytest.fixture
def format_1_bundle(tiny_bundle, tmp_path):
    """`tiny_bundle` as format 1 wrote it: no metadata in the graph, no tokenizer hash in the manifest."""
    folder = shutil.copytree(tiny_bundle, tmp_path / "format_1")
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    del model.metadata_props[:]
    onnx.save(model, str(folder / "model.onnx"))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    del manifest["tokenizer_sha256"]
    manifest |= {"format_version": 1, "model_sha256": sha256_file(folder / "model.onnx")}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def test_upgrade_keeps_every_file_and_every_probability(format_1_bundle, tiny_bundle, tmp_path):
    with pytest.raises(UserError, match="format_version 1 is not verified as a whole"):
        load_bundle(format_1_bundle)
    output = tmp_path / "format_2"
    manifest = upgrade_bundle(format_1_bundle, output)
    bundle = load_bundle(output)
    assert bundle.manifest == manifest and manifest.format_version == 2
    for name in ("model.onnx.data", "tokenizer.json"):
        assert (output / name).read_bytes() == (format_1_bundle / name).read_bytes()
    graph = onnx.load(str(output / "model.onnx"), load_external_data=False)
    assert open_bundle_session(bundle).get_modelmeta().custom_metadata_map == manifest.graph_metadata()
    del graph.metadata_props[:]
    assert graph.SerializeToString() == (format_1_bundle / "model.onnx").read_bytes()  # only metadata was added
    assert manifest.info["upgraded"]["from_format_version"] == 1 and "parity" in manifest.info
    upgraded = probabilities(Scorer.from_bundle(output, threads=1), TEXTS)
    assert upgraded.tolist() == probabilities(Scorer.from_bundle(tiny_bundle, threads=1), TEXTS).tolist()


def test_upgrade_command(format_1_bundle, tmp_path, capsys):
    output = tmp_path / "format_2"
    assert cli_main(["upgrade", "--bundle", str(format_1_bundle), "--output", str(output)]) == 0
    assert "format 2" in capsys.readouterr().out
    assert cli_main(["upgrade", "--bundle", str(format_1_bundle), "--output", str(output)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert cli_main(["upgrade", "--bundle", str(output), "--output", str(tmp_path / "again")]) == 2
    assert "already of format 2; there is nothing to upgrade" in capsys.readouterr().err


def test_upgrade_refuses_a_format_1_bundle_that_fails_its_own_hashes(format_1_bundle, tmp_path):
    data = bytearray((format_1_bundle / "model.onnx.data").read_bytes())
    data[-1] ^= 1
    (format_1_bundle / "model.onnx.data").write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match data_sha256"):
        upgrade_bundle(format_1_bundle, tmp_path / "format_2")
    assert not (tmp_path / "format_2").exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format_version": 7}, "unknown format_version"),
        ({"model_file": "../outside.onnx"}, "model_file must be a file name inside the bundle"),
        ({"labels": ["only"]}, "labels must be"),
    ],
)
def test_upgrade_refuses_malformed_manifests(format_1_bundle, tmp_path, change, match):
    manifest = json.loads((format_1_bundle / MANIFEST_FILE).read_text())
    (format_1_bundle / MANIFEST_FILE).write_text(json.dumps({**manifest, **change}))
    with pytest.raises(UserError, match=match):
        upgrade_bundle(format_1_bundle, tmp_path / "format_2")
    assert not (tmp_path / "format_2").exists()


def test_upgrade_never_writes_over_its_input(format_1_bundle):
    with pytest.raises(UserError, match="also an input"):
        upgrade_bundle(format_1_bundle, format_1_bundle, overwrite=True)


def test_upgrade_refuses_an_output_that_holds_the_bundle(format_1_bundle, capsys):
    parent = format_1_bundle.parent
    assert cli_main(["upgrade", "--bundle", str(format_1_bundle), "--output", str(parent), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"holds the input {format_1_bundle}; write somewhere else")
    assert (format_1_bundle / MANIFEST_FILE).is_file()
