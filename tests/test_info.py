"""`sentiment-batch info`: a bundle's labels, settings, training data and measured accuracy, from its own files."""

from __future__ import annotations

import json

from sentiment_batch.bundle import MANIFEST_FILE, default_bundle_path
from sentiment_batch.cli import main as cli_main


def run_info(capsys, *args):
    code = cli_main(["info", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_info_json_of_the_shipped_bundle_gives_its_labels_and_each_sources_accuracy(capsys):
    code, stdout, _ = run_info(capsys, "--json")
    assert code == 0
    info = json.loads(stdout)
    manifest = json.loads((default_bundle_path() / MANIFEST_FILE).read_text(encoding="utf-8"))
    metrics = manifest["source"]["metrics"]
    assert info["shipped"] and info["labels"] == manifest["labels"] == ["negative", "positive"]
    sources = info["metrics"]["sources"]
    assert "imdb" in sources and len(sources) == len(info["training"]["sources"]) > 1
    for name, figures in sources.items():
        assert figures["accuracy"] == metrics[f"eval_{name}_accuracy"]
        assert figures["ece"] == metrics[f"eval_{name}_ece"]
    # The card's rows per source add up to the validation split that the manifest's confusion matrix counts.
    validation = info["metrics"]["validation"]
    assert sum(figures["rows"] for figures in sources.values()) == validation["rows"]
    assert (
        validation["rows"]
        == sum(map(sum, metrics["eval_confusion_matrix"]))
        == info["training"]["splits"]["validation"]
    )
    assert validation["accuracy"] == metrics["eval_accuracy"]
    assert info["settings"]["ngram_size"] >= 1 and info["tokenizer"]["vocab_size"] == manifest["vocab_size"]
    assert info["size_bytes"] == sum(path.stat().st_size for path in default_bundle_path().iterdir())


def test_info_text_names_labels_settings_and_every_source(capsys):
    code, stdout, _ = run_info(capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert "labels      negative, positive" in lines
    assert any(line.startswith("settings ") and "ngram_size 2" in line for line in lines)
    manifest = json.loads((default_bundle_path() / MANIFEST_FILE).read_text(encoding="utf-8"))
    imdb = manifest["source"]["metrics"]["eval_imdb_accuracy"]
    assert any(line.split()[:1] == ["imdb"] and f"{imdb:.4f}" in line for line in lines)


def test_info_of_a_bundle_without_a_card_gives_what_its_manifest_holds(tiny_bundle, capsys):
    code, stdout, _ = run_info(capsys, "--bundle", tiny_bundle, "--json")
    assert code == 0
    info = json.loads(stdout)
    assert info["bundle"] == str(tiny_bundle) and not info["shipped"]
    assert info["labels"] == ["negative", "positive"] and info["settings"] == {}
    assert info["metrics"]["sources"] == {} and info["training"]["sources"] == []
    code, text, _ = run_info(capsys, "--bundle", tiny_bundle)
    assert code == 0 and "language    not recorded" in text.splitlines()


def test_info_of_a_folder_that_is_no_bundle_is_one_line(tmp_path, capsys):
    code, stdout, stderr = run_info(capsys, "--bundle", tmp_path)
    assert code == 2 and stdout == ""
    assert stderr.splitlines() == [
        f"sentiment-batch info: error: {tmp_path} is not a bundle: {MANIFEST_FILE} is missing"
    ]
