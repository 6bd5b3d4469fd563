"""The data settings saved with a model: `export` and `verify` carve the splits `train` carved, no flag repeated."""

import json

import pandas as pd
import pytest

from sentiment_batch.cli import main
from sentiment_batch.train.data_settings import SETTINGS_FILE, DataSettings

TINY_MODEL_FLAGS = [
    "--vocab_size", "300", "--min_frequency", "1", "--embedding_dim", "8", "--hidden_dims", "8",
    "--num_buckets", "256", "--per_device_train_batch_size", "8", "--num_train_epochs", "2", "--report_to", "none",
    "--num_teachers", "0",
]  # fmt: skip
WORDS = {
    "negative": ["awful", "broken", "refund", "terrible", "worst", "dull"],
    "positive": ["superb", "lovely", "perfect", "delight", "best", "great"],
}


def two_sources(folder):
    """A shop and a hotel source, of 90 and 70 reviews, their classes unbalanced."""
    paths = []
    for name, counts in {"shop": (30, 60), "hotel": (40, 30)}.items():
        rows = [
            {"text": f"{name} {' '.join(WORDS[label][(n + k) % 6] for k in range(3))} {n}", "label": label}
            for label, count in zip(WORDS, counts, strict=True)
            for n in range(count)
        ]
        paths.append(folder / f"{name}.csv")
        pd.DataFrame(rows).to_csv(paths[-1], index=False)
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained on two sources with a seed, validation size and cap of their own, and its bundle, exported
    with the recorded datasets' validation reviews."""
    folder = tmp_path_factory.mktemp("settings")
    sources = two_sources(folder)
    flags = ["--seed", "7", "--validation-size", "0.2", "--max-rows-per-source", "30", *TINY_MODEL_FLAGS]
    model, bundle = folder / "model", folder / "bundle"
    assert main(["train", "--dataset", *map(str, sources), "--output", str(model), *flags]) == 0
    assert main(["export", "--model", str(model), "--output", str(bundle), "--dataset"]) == 0
    return sources, model, bundle


def verify(capsys, model, bundle, *extra):
    capsys.readouterr()
    assert main(["verify", "--model", str(model), "--bundle", str(bundle), "--split", "validation", *extra]) in (0, 1)
    return json.loads(capsys.readouterr().out)


def test_verify_scores_the_validation_split_train_reported(trained, capsys, monkeypatch, tmp_path):
    sources, model, bundle = trained
    results = json.loads((model / "all_results.json").read_text())
    rows = sum(map(sum, results["eval_confusion_matrix"]))
    monkeypatch.chdir(tmp_path)  # the recorded paths are absolute: any working folder reads them
    for extra in ((), ("--dataset", *map(str, sources))):
        report = verify(capsys, model, bundle, *extra)
        assert report["rows"] == rows and report["pytorch"]["accuracy"] == results["eval_accuracy"]
    # A flag given still wins over the recorded setting.
    assert verify(capsys, model, bundle, "--validation-size", "0.4")["rows"] > rows


def test_the_settings_file_records_the_run(trained):
    sources, model, _ = trained
    saved = json.loads((model / SETTINGS_FILE).read_text())
    assert saved["dataset"] == [str(path.resolve()) for path in sources]
    assert saved["validation_size"] == 0.2 and saved["validation_seed"] == 7 and saved["max_rows_per_source"] == [30]
    assert saved["labels"] == ["negative", "positive"] and saved["grouping"] == {"shop": "random", "hotel": "random"}
    assert (
        DataSettings.read(model).labelled().splits["validation"]["text"]
        == (
            DataSettings(dataset=[str(path) for path in sources], validation_size=0.2, validation_seed=7)
            .labelled()
            .splits["validation"]["text"]
        )
    )


def test_export_reads_the_recorded_datasets(trained):
    from sentiment_batch.export.parity import builtin_texts

    _, model, bundle = trained
    parity = json.loads((bundle / "bundle.json").read_text())["parity"]
    validation = DataSettings.read(model).labelled().splits["validation"]
    assert parity["texts"] == len(builtin_texts()) + len(validation)


def test_a_model_without_settings_needs_the_dataset(tiny_bundle, tiny_model_dir, capsys):
    assert main(["verify", "--model", str(tiny_model_dir), "--bundle", str(tiny_bundle)]) == 2
    assert "records no training data" in capsys.readouterr().err
