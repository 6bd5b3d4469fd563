"""`sentiment-batch train` end to end: files written, tracking, reproducibility, config files, bad input."""

import json
import math
import os
import subprocess
import sys
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from helpers import REAL_TARBALL, REVIEWS, TINY_ACLIMDB
from sentiment_batch.cli import main
from sentiment_batch.errors import UserError
from sentiment_batch.publish import TEMP_SUFFIX
from sentiment_batch.train import train
from sentiment_batch.train.splits import load_splits

TINY_MODEL_FLAGS = [
    "--vocab_size", "300", "--min_frequency", "1", "--embedding_dim", "8", "--hidden_dims", "8",
    "--num_buckets", "256", "--per_device_train_batch_size", "8", "--num_train_epochs", "2", "--logging_steps", "1",
]  # fmt: skip


@pytest.fixture
def reviews_parquet(tmp_path):
    """96 labelled reviews (text, label) in one Parquet file: variations of the conftest reviews."""
    rows = [
        {"text": f"{text} Review number {n}.", "label": "pos" if positive else "neg"}
        for n in range(12)
        for text, positive in REVIEWS
    ]
    path = tmp_path / "reviews.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def train_cli(dataset, output_dir, *extra):
    return main(["train", "--dataset", str(dataset), "--output", str(output_dir), *TINY_MODEL_FLAGS, *extra])


def test_train_writes_a_complete_model_folder(tmp_path, make_tiny_aclimdb, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no wandb login of the machine's user either
    aclimdb = make_tiny_aclimdb(tmp_path, test=True)
    output_dir = tmp_path / "model"
    assert train_cli(aclimdb, output_dir, "--validation_size", "0.25") == 0

    names = {path.name for path in output_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    assert {"train_results.json", "eval_results.json", "all_results.json", "test_results.json"} <= names
    assert not any(name.startswith("checkpoint-") for name in names)
    assert not list(tmp_path.glob(f".model.*{TEMP_SUFFIX}"))  # the staging folder became the model folder
    results = json.loads((output_dir / "all_results.json").read_text())
    assert_saved_metrics_are_the_models(output_dir, results, load_splits(str(aclimdb), 0.25, 42))
    card = (output_dir / "README.md").read_text()
    assert "test_accuracy" in card and str(aclimdb) in card

    # W&B ran offline (no account here) and left a run folder to `wandb sync`.
    runs = list((output_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    out = capsys.readouterr().out
    assert f"wandb sync {runs[0]}" in out and ".sentiment-batch.tmp" not in out  # the final path, not staging's
    log = next(runs[0].glob("*.wandb")).read_bytes()  # the run's records: config, curves, summary
    for key in (b"num_buckets", b"train/loss", b"eval/accuracy", b"final/test_accuracy", b"final/eval_f1"):
        assert key in log, key
    [matrix] = runs[0].glob("files/media/table/confusion_matrix*.table.json")
    cells = json.loads(matrix.read_text())["data"]
    test_reviews = len(TINY_ACLIMDB["test", "pos"]) + len(TINY_ACLIMDB["test", "neg"])
    assert sum(count for _, _, count in cells) == test_reviews  # the matrix is about the reported test split

    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    encoded = tokenizer(["a wonderful film", "a boring mess"], add_special_tokens=False, padding=True)
    logits = model(torch.tensor(encoded["input_ids"])).logits
    assert logits.shape == (2, 2)
    # the naive Bayes ratios of the training reviews were saved with the model, padding row zero
    weights = model.bag.feature_weights
    assert weights[model.config.pad_token_id] == 0 and weights.min() < 0 < weights.max()


def assert_saved_metrics_are_the_models(output_dir, results, splits):
    """The saved validation and test figures are those of the saved model on those splits."""
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    for split, prefix in (("validation", "eval"), ("test", "test")):
        labels = np.asarray(splits[split]["label"])
        encoded = tokenizer(list(splits[split]["text"]), add_special_tokens=False, padding=True, return_tensors="pt")
        with torch.no_grad():
            predicted = model(encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits.argmax(-1).numpy()
        true_positives = np.sum((predicted == 1) & (labels == 1))
        assert results[f"{prefix}_accuracy"] == pytest.approx(np.mean(predicted == labels)), prefix
        assert results[f"{prefix}_f1"] == pytest.approx(2 * true_positives / (np.sum(predicted) + np.sum(labels)))


STUDENT = ("--num_train_epochs", "1", "--student_epochs", "2")


def test_distillation_trains_teachers_on_the_unlabelled_reviews(tmp_path, make_tiny_aclimdb, monkeypatch):
    from sentiment_batch.train import training

    monkeypatch.setenv("WANDB_MODE", "offline")
    teachers = []  # what the teacher phase returned: probabilities on unlabelled and validation reviews, best figures
    original = training.train_teachers
    monkeypatch.setattr(training, "train_teachers", lambda *args: teachers.append(original(*args)) or teachers[-1])
    aclimdb = make_tiny_aclimdb(tmp_path, unsup=True)
    output_dir = tmp_path / "student"
    assert train_cli(aclimdb, output_dir, "--validation_size", "0.25", "--num_teachers", "2", *STUDENT) == 0
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["epoch"] == 2.0  # the student's epochs, not the teachers'
    assert results["teachers"] == 2 and results["unlabeled_reviews"] == len(TINY_ACLIMDB["train", "unsup"])
    [(on_unlabeled, on_validation, best)] = teachers
    assert [probabilities.shape for probabilities in on_unlabeled] == [(3, 2), (3, 2)]
    labels = np.asarray(load_splits(str(aclimdb), 0.25, 42)["validation"]["label"])
    ensemble = np.mean(on_validation, axis=0).argmax(axis=1)
    assert results["teacher_ensemble_eval_accuracy"] == np.mean(ensemble == labels)
    assert results["teacher_eval_accuracy"] == np.mean(best) and len(best) == 2
    assert "Distilled: 2 teachers" in (output_dir / "README.md").read_text()
    assert not list(output_dir.glob("teacher-*"))  # the teachers' own folders are gone
    [run] = (output_dir / "wandb").glob("offline-run-*")
    log = next(run.glob("*.wandb")).read_bytes()
    for key in (b"teacher_0/loss", b"teacher_1/eval_accuracy", b"teachers/unlabeled_reviews", b"train/loss"):
        assert key in log, key  # one run holds the teacher phase and the student's


def test_without_unlabelled_reviews_the_recipe_is_the_plain_one(tmp_path, make_tiny_aclimdb):
    aclimdb = make_tiny_aclimdb(tmp_path, unsup=True)
    flags = ("--report_to", "none", "--validation_size", "0.25")
    assert train_cli(aclimdb, tmp_path / "none", *flags, "--unlabeled", "none") == 0
    plain = make_tiny_aclimdb(tmp_path / "plain")  # the same reviews without train/unsup
    assert train_cli(plain, tmp_path / "auto", *flags) == 0
    first, second = (json.loads((tmp_path / name / "all_results.json").read_text()) for name in ("none", "auto"))
    assert "teachers" not in first and first["eval_loss"] == second["eval_loss"]
    assert "Trained on the labelled training reviews only." in (tmp_path / "none" / "README.md").read_text()


def test_same_seed_same_metrics_and_config_file_equals_flags(tmp_path, reviews_parquet, caplog):
    flags = ["--report_to", "none", "--seed", "7"]
    assert train_cli(reviews_parquet, tmp_path / "a", *flags) == 0
    assert "no movie ids" not in caplog.text  # reviews of no movie: no warning about movies
    config = {"dataset": str(reviews_parquet), "output_dir": str(tmp_path / "b"), "report_to": "none", "seed": 7}
    config.update((flag[2:], json.loads(value)) for flag, value in zip(*[iter(TINY_MODEL_FLAGS)] * 2, strict=True))
    config["hidden_dims"] = [config["hidden_dims"]]
    config_path = tmp_path / "train.json"
    config_path.write_text(json.dumps(config))
    assert main(["train", str(config_path)]) == 0

    first, second = (json.loads((tmp_path / name / "eval_results.json").read_text()) for name in "ab")
    assert first["eval_loss"] == second["eval_loss"] and first["eval_accuracy"] == second["eval_accuracy"]
    weights = [AutoModelForSequenceClassification.from_pretrained(tmp_path / name).state_dict() for name in "ab"]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_python_entry_point_trains_like_the_cli(tmp_path, reviews_parquet):
    settings = dict(zip([flag[2:] for flag in TINY_MODEL_FLAGS[::2]], TINY_MODEL_FLAGS[1::2], strict=True))
    settings = {name: json.loads(value) for name, value in settings.items()}
    settings["hidden_dims"] = [settings["hidden_dims"]]
    metrics = train(dataset=reviews_parquet, output_dir=tmp_path / "api", report_to="none", seed=7, **settings)
    assert train_cli(reviews_parquet, tmp_path / "cli", "--report_to", "none", "--seed", "7") == 0
    saved = json.loads((tmp_path / "cli" / "all_results.json").read_text())
    assert metrics["eval_accuracy"] == saved["eval_accuracy"] and metrics["eval_loss"] == saved["eval_loss"]
    with pytest.raises(ValueError, match="no_such_setting"):
        train(dataset=reviews_parquet, output_dir=tmp_path / "bad", no_such_setting=1)
    with pytest.raises(ValueError, match="already exists"):
        train(dataset=reviews_parquet, output_dir=tmp_path / "api", report_to="none")
    assert not (tmp_path / "bad").exists()


def bad_input_cases(tmp_path, reviews_parquet):
    not_aclimdb = tmp_path / "photos"
    (not_aclimdb / "2024").mkdir(parents=True)
    no_label = tmp_path / "no_label.csv"
    pd.DataFrame({"text": ["fine"], "stars": [5]}).to_csv(no_label, index=False)
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=int)}).to_parquet(empty)
    null_label = tmp_path / "null_label.jsonl"
    null_label.write_text('{"text": "ok", "label": 3}\n{"text": "meh", "label": null}\n')
    one_class = tmp_path / "one_class.csv"
    pd.DataFrame({"text": [f"great {n}" for n in range(20)], "label": ["positive"] * 20}).to_csv(one_class, index=False)
    latin1 = tmp_path / "latin1" / "aclImdb"
    for label in ("pos", "neg"):
        (latin1 / "train" / label).mkdir(parents=True)
        (latin1 / "train" / label / "0_8.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    blank = tmp_path / "blank.csv"
    pd.DataFrame({"text": ["", "  ", "\t"] * 4, "label": ["pos", "neg"] * 6}).to_csv(blank, index=False)
    return {
        "are all blank": blank,
        "does not exist": tmp_path / "missing",
        "is not a dataset folder": not_aclimdb,
        "lacks column(s) label": no_label,
        "holds no reviews": empty,
        "has reviews without a label": null_label,
        "one class only ('positive')": one_class,
        "is not valid UTF-8": latin1,
    }


def test_bad_input_gives_one_line_and_leaves_nothing(tmp_path, reviews_parquet, capsys):
    for expected, dataset in bad_input_cases(tmp_path, reviews_parquet).items():
        output_dir = tmp_path / f"out-{dataset.name}"
        assert train_cli(dataset, output_dir, "--report_to", "none") == 2, expected
        stderr = capsys.readouterr().err
        error = stderr.strip().splitlines()[-1]  # progress bars may come before it
        assert error.startswith("sentiment-batch train: error: ") and expected in error, stderr
        assert stderr.count("error:") == 1 and "Traceback" not in stderr
        assert not output_dir.exists() and not list(tmp_path.glob(".out-*"))


def test_non_empty_output_dir_needs_overwrite(tmp_path, reviews_parquet, capsys):
    output_dir = tmp_path / "model"
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("precious")
    assert train_cli(reviews_parquet, output_dir, "--report_to", "none") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (output_dir / "keep.txt").read_text() == "precious"
    assert train_cli(reviews_parquet, output_dir, "--report_to", "none", "--overwrite") == 0
    assert not (output_dir / "keep.txt").exists() and (output_dir / "model.safetensors").exists()


def test_an_output_that_holds_the_dataset_is_refused(tmp_path, reviews_parquet, capsys):
    assert train_cli(reviews_parquet, tmp_path, "--report_to", "none", "--overwrite") == 2
    assert capsys.readouterr().err.strip().endswith(f"holds the input {reviews_parquet}; write somewhere else")
    assert reviews_parquet.is_file()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--learning_rate", "-1"], "learning_rate must be greater than 0, got -1.0"),
        (["--learning_rate", "nan"], "learning_rate must be a finite number, got nan"),
        (["--seed", "-1"], "seed must be between 0 and 4294967295, got -1"),
        (["--per_device_train_batch_size", "0"], "per_device_train_batch_size must be at least 1, got 0"),
        (["--max_train_samples", "-5"], "max_train_samples must be at least 1, got -5"),
        (["--validation_size", "inf"], "validation_size must be a finite number, got inf"),
        (["--student_epochs", "nan"], "student_epochs must be a finite number, got nan"),
    ],
)
def test_numeric_settings_are_range_checked_before_reading_data(tmp_path, flags, expected, capsys):
    # The dataset does not exist: the settings are refused before it is looked for.
    assert train_cli(tmp_path / "missing.csv", tmp_path / "model", "--report_to", "none", *flags) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"sentiment-batch train: error: {expected}"]


def test_a_run_whose_weights_diverge_fails_and_saves_nothing(tmp_path, reviews_parquet, capsys):
    output_dir = tmp_path / "model"
    flags = ["--report_to", "none", "--num_teachers", "0", "--learning_rate", "1e30"]
    assert train_cli(reviews_parquet, output_dir, *flags) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("sentiment-batch train: error: training diverged")
    assert not output_dir.exists() and not list(tmp_path.glob(f".model.*{TEMP_SUFFIX}"))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("embedding_dim: eight", "setting embedding_dim takes a whole number, got 'eight'"),
        ("hidden_dims: [8, wide]", "setting hidden_dims takes a whole number, got 'wide'"),
        ("embedding_dim: [8]", "setting embedding_dim takes one value, got a list: [8]"),
        ("calibrate: maybe", "setting calibrate takes true or false, got 'maybe'"),
        ("seed: null", "setting seed needs a value"),
        ("learning_rate: .nan", "learning_rate must be a finite number, got nan"),
    ],
)
def test_a_settings_file_value_of_the_wrong_kind_is_one_line_naming_it(tmp_path, setting, expected, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(f"dataset: {tmp_path / 'missing.csv'}\noutput_dir: {tmp_path / 'model'}\n{setting}\n")
    assert main(["train", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"sentiment-batch train: error: {expected}"]


def test_a_settings_file_is_parsed_as_the_flags_are(tmp_path, reviews_parquet):
    config = tmp_path / "train.yaml"
    settings = {"dataset": str(reviews_parquet), "output_dir": str(tmp_path / "model"), "report_to": "none"}
    settings |= {"num_teachers": 0, "hidden_dims": 5, "calibrate": "false", "embedding_dim": "8", "seed": 7}
    config.write_text(json.dumps(settings))  # JSON is YAML
    assert main(["train", str(config)]) == 0
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["hidden_dims"] == [5] and saved["embedding_dim"] == 8 and saved["calibration_temperature"] == 1.0


def test_stdout_holds_only_the_commands_line_and_no_tracker_is_mentioned(tmp_path, reviews_parquet):
    script = (
        "import sys; from sentiment_batch.cli import main; code = main(sys.argv[1:]); "
        "open(sys.argv[-1] + '.modules', 'w').write(' '.join(sorted(sys.modules))); sys.exit(code)"
    )
    output_dir = tmp_path / "model"
    command = ["train", "--dataset", str(reviews_parquet), *TINY_MODEL_FLAGS, "--report-to", "none"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    result = subprocess.run(
        [sys.executable, "-c", script, *command, "--num_teachers", "0", "--output", str(output_dir)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"Model saved to {output_dir} (eval_accuracy ")
    assert "wandb" not in result.stderr.lower() and "w&b" not in result.stderr.lower()
    assert "wandb" not in (tmp_path / "model.modules").read_text().split()


def test_unreachable_hub_says_to_pass_a_local_copy(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    command = [sys.executable, "-m", "sentiment_batch.cli", "train", "--output", str(tmp_path / "m")]
    result = subprocess.run([*command, "--report_to", "none"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "stanfordnlp/imdb" in result.stderr and "aclImdb" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def extract_real_reviews(tarball, destination, every):
    """Every `every`-th review of each class from the real IMDb tarball (so many movies), with the url lists."""
    with tarfile.open(tarball) as archive:
        for member in archive:
            parts = member.name.split("/")  # aclImdb/train/pos/ID_RATING.txt or aclImdb/train/urls_pos.txt
            if len(parts) < 3 or parts[1] != "train":
                continue
            is_review = len(parts) == 4 and parts[2] in ("pos", "neg") and int(parts[3].split("_")[0]) % every == 0
            if is_review or parts[2] in ("urls_pos.txt", "urls_neg.txt"):
                archive.extract(member, destination, filter="data")
    return destination / "aclImdb"


@pytest.mark.slow
@pytest.mark.skipif(not REAL_TARBALL.exists(), reason=f"real IMDb reviews not found at {REAL_TARBALL}")
def test_train_on_a_few_hundred_real_reviews(tmp_path):
    aclimdb = extract_real_reviews(REAL_TARBALL, tmp_path, every=60)  # 209 reviews per class
    output_dir = tmp_path / "model"
    flags = ["--report_to", "none", "--num_train_epochs", "10", "--validation_size", "0.2"]
    assert main(["train", "--dataset", str(aclimdb), "--output", str(output_dir), *flags]) == 0
    results = json.loads((output_dir / "all_results.json").read_text())
    # a few hundred training reviews are enough to beat chance clearly with the default model
    assert results["eval_accuracy"] >= 0.6, results


def test_validation_seed_carves_the_split_apart_from_the_training_seed(tmp_path, reviews_parquet):
    from sentiment_batch.train.arguments import DataArguments
    from sentiment_batch.train.data_settings import DataSettings
    from sentiment_batch.train.training import read_data

    def validation(data_args, seed):
        return read_data(DataSettings.of_arguments(data_args, seed)).splits["validation"]["text"]

    expected = load_splits(str(reviews_parquet), 0.1, 3)["validation"]["text"]
    assert validation(DataArguments(dataset=str(reviews_parquet), validation_seed=3), seed=11) == expected
    assert validation(DataArguments(dataset=str(reviews_parquet)), seed=3) == expected
    assert load_splits(str(reviews_parquet), 0.1, 11)["validation"]["text"] != expected


def separable_reviews(path, per_class: int = 60, seed: int = 0):
    """Reviews of four words each, drawn from two disjoint word lists: a set any model that learns gets right."""
    import random

    words = {
        1: ["good", "great", "superb", "lovely", "fine", "wonderful", "brilliant", "nice"],
        0: ["bad", "awful", "poor", "dull", "ugly", "weak"],
    }
    generator = random.Random(seed)
    rows = [
        {"text": " ".join(generator.choices(words[label], k=4)), "label": label}
        for _ in range(per_class)
        for label in (0, 1)
    ]
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_training_learns_a_separable_set(tmp_path):
    # No naive Bayes start (feature_weighting off) and no calibration: only the gradient steps can bring the loss
    # down from about log(2), where an untrained model starts.
    dataset = separable_reviews(tmp_path / "separable.parquet")
    settings = {"feature_weighting": False, "calibrate": False, "validation_size": 0.25, "report_to": "none"}
    settings.update(num_buckets=256, vocab_size=100, min_frequency=1, per_device_train_batch_size=8, num_train_epochs=4)
    metrics = train(dataset, tmp_path / "model", learning_rate=0.1, **settings)
    assert metrics["eval_accuracy"] == 1.0
    assert metrics["eval_loss"] < 0.5 * math.log(2), metrics["eval_loss"]
    untrained = train(dataset, tmp_path / "untrained", learning_rate=1e-9, **settings)
    assert untrained["eval_loss"] > 0.9 * math.log(2)  # the same run without learning stays where it starts


def write_aclimdb(root, per_class: int, unsup: int):
    """An aclImdb folder of `per_class` train reviews per class, one movie each, and `unsup` unlabelled ones."""
    texts = {"pos": "a wonderful moving film, superb acting", "neg": "a dull boring film, awful acting"}
    for label, text in texts.items():
        (root / "train" / label).mkdir(parents=True)
        for n in range(per_class):
            (root / "train" / label / f"{n}_{8 if label == 'pos' else 2}.txt").write_text(f"{text} {label}{n}")
        urls = [f"http://www.imdb.com/title/tt{n:07d}{label == 'pos':d}/usercomments" for n in range(per_class)]
        (root / "train" / f"urls_{label}.txt").write_text("\n".join(urls) + "\n")
    (root / "train" / "unsup").mkdir()
    for n in range(unsup):
        (root / "train" / "unsup" / f"{n}_0.txt").write_text(f"an unlabelled film review {n}")
    return root


def test_several_sources_train_with_per_source_metrics_calibration_and_licences(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    aclimdb = write_aclimdb(tmp_path / "aclImdb", per_class=20, unsup=5)
    rows = [
        {"text": f"{source} {word} {n}", "label": label, "source": source}
        for source, counts in {"shop": (12, 36), "hotel": (30, 20)}.items()
        for label, word, count in zip(
            ("negative", "positive"), ("broken refund", "lovely perfect"), counts, strict=True
        )
        for n in range(count)
    ]
    shop = tmp_path / "reviews.parquet"
    pd.DataFrame(rows).to_parquet(shop)
    licences = tmp_path / "licences.yaml"
    licences.write_text("shop: CC0-1.0\nimdb: research only\n")
    output_dir = tmp_path / "model"
    flags = ["--dataset", str(aclimdb), str(shop), "--dataset-weights", "2", "1", "--validation-size", "0.25"]
    flags += ["--source-licences", str(licences), "--num-teachers", "1", "--num_train_epochs", "1"]
    assert main(["train", *flags, "--output", str(output_dir), *TINY_MODEL_FLAGS[:-4]]) == 0

    results = json.loads((output_dir / "all_results.json").read_text())
    sources = ("imdb", "hotel", "shop")
    accuracies = [results[f"eval_{source}_accuracy"] for source in sources]
    assert results["eval_mean_source_accuracy"] == pytest.approx(sum(accuracies) / 3)
    for name in ("ece", "ece_uncalibrated", *(f"{source}_ece" for source in sources), "mean_source_ece"):
        assert f"eval_{name}" in results, name
    config = json.loads((output_dir / "config.json").read_text())
    assert config["calibration_temperature"] == results["temperature"] != 1.0
    card = (output_dir / "README.md").read_text()
    source_rows = [
        line.split("|") for line in card.splitlines() if line.startswith(tuple(f"| {s} | `" for s in sources))
    ]
    left_out = {cells[1].strip(): int(cells[9]) for cells in source_rows}
    assert left_out["shop"] >= 36 - 2 * 12 and left_out["hotel"] > 0  # balancing cut the larger classes
    assert results["unlabeled_reviews"] == 5 + sum(left_out.values())  # IMDb's unsup and what balancing left out

    assert "| shop | " in card and "CC0-1.0" in card and "| hotel | " in card and "not given" in card
    imdb_row = next(line for line in card.splitlines() if line.startswith("| imdb | `"))
    kept, weight, training = (cell.strip() for cell in imdb_row.split("|")[4:7])
    assert weight == "2" and int(training.replace(",", "")) == 2 * int(kept.replace(",", ""))
    assert "Validation split, per source" in card and "| **mean** |" in card
    assert f"temperature of {config['calibration_temperature']:.4f}" in card
    [run] = (output_dir / "wandb").glob("offline-run-*")
    log = next(run.glob("*.wandb")).read_bytes()
    for key in (b"eval/imdb_accuracy", b"eval/mean_source_accuracy", b"final/eval_shop_ece"):
        assert key in log, key


THREE_CLASS_WORDS = {
    "negative": ["awful", "broken", "refund", "terrible", "worst"],
    "neutral": ["okay", "average", "fine", "ordinary", "decent"],
    "positive": ["superb", "lovely", "perfect", "delight", "best"],
}


def labelled_words(path, words: dict, per_class: int = 40, seed: int = 0):
    """Reviews of four words each drawn from one word list per class, labelled with the list's key."""
    import random

    generator = random.Random(seed)
    rows = [
        {"text": " ".join(generator.choices(choices, k=4)), "label": label}
        for _ in range(per_class)
        for label, choices in words.items()
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("flags", "setting", "expected"),
    [
        (["--ngram-size", "0"], {"ngram_size": 0}, "ngram_size must be at least 1, got 0"),
        (["--embedding-dim", "0"], {"embedding_dim": 0}, "embedding_dim must be at least 1, got 0"),
        (
            ["--hidden-dims", "16", "0"],
            {"hidden_dims": [16, 0]},
            "every hidden_dims width must be at least 1, got [16, 0]",
        ),
        (
            ["--num-buckets", "0"],
            {"num_buckets": 0},
            "num_buckets must be at least 1 with n-grams (ngram_size > 1), got 0",
        ),
        (["--dropout", "1"], {"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
        (["--feature-dropout", "-0.1"], {"feature_dropout": -0.1}, "feature_dropout must be in [0, 1), got -0.1"),
        (["--pooling", "max"], {"pooling": "max"}, "pooling must be one of sqrt, mean, got 'max'"),
    ],
)
def test_bad_model_settings_give_one_line_before_reading_data(tmp_path, flags, setting, expected, capsys):
    output_dir = tmp_path / "model"
    # The dataset does not exist: the settings are refused before it is looked for.
    assert train_cli(tmp_path / "missing.csv", output_dir, "--report_to", "none", *flags) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines() == [f"sentiment-batch train: error: {expected}"], stderr
    assert not output_dir.exists()
    with pytest.raises(UserError) as raised:  # the same refusal from the Python entry point
        train(tmp_path / "missing.csv", output_dir, **setting)
    assert str(raised.value) == expected


LEARNING_FLAGS = ["--learning_rate", "0.1", "--num_train_epochs", "4", "--validation_size", "0.25"]


def test_three_classes_train_export_verify_and_score(tmp_path, capsys):
    from transformers import pipeline

    dataset = labelled_words(tmp_path / "tweets.csv", THREE_CLASS_WORDS)
    model_dir, bundle = tmp_path / "model", tmp_path / "bundle"
    assert train_cli(dataset, model_dir, "--report_to", "none", *LEARNING_FLAGS) == 0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"} and config["label_values"] is None
    results = json.loads((model_dir / "all_results.json").read_text())
    assert results["eval_accuracy"] == 1.0 and results["eval_macro_f1"] == 1.0 and "eval_f1" not in results
    # Both table starts trained, the better on validation kept (the naive Bayes one on a tie) and recorded.
    figures = {start: results[f"{start}_start_eval_accuracy"] for start in ("naive_bayes", "random")}
    assert config["table_init"] == ("random" if figures["random"] > figures["naive_bayes"] else "naive_bayes")
    matrix = results["eval_confusion_matrix"]
    validation = load_splits(str(dataset), 0.25, 42)["validation"]
    assert matrix == np.diag(np.bincount(validation["label"], minlength=3)).tolist()
    card = (model_dir / "README.md").read_text()
    assert "Validation confusion matrix" in card and "| true ↓ predicted → | negative | neutral | positive |" in card

    classifier = pipeline("text-classification", model=str(model_dir))
    assert [answer["label"] for answer in classifier(["superb lovely best", "average okay fine"])] == [
        "positive",
        "neutral",
    ]

    assert main(["export", "--model", str(model_dir), "--output", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["verify", "--model", str(model_dir), "--bundle", str(bundle), "--dataset", str(dataset),
                 "--split", "validation", "--validation-size", "0.25"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    for runtime in ("pytorch", "onnx"):
        assert report[runtime]["accuracy"] == 1.0 and report[runtime]["macro_f1"] == 1.0
        assert "f1" not in report[runtime]
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["worst refund ever", "a decent average day"]}).to_csv(texts, index=False)
    assert main(["score", str(texts), "--bundle", str(bundle), "--output", str(tmp_path / "scored.csv")]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["label"].tolist() == ["negative", "neutral"]
    probabilities = scored[["prob_negative", "prob_neutral", "prob_positive"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_star_ratings_are_ordinal_classes(tmp_path):
    words = {stars: [f"{stars}star{n}" for n in range(5)] for stars in (5, 1, 4, 2)}
    dataset = labelled_words(tmp_path / "stars.csv", words, per_class=20)
    assert train_cli(dataset, tmp_path / "model", "--report_to", "none", *LEARNING_FLAGS) == 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert list(config["id2label"].values()) == ["1", "2", "4", "5"] and config["label_values"] == [1, 2, 4, 5]
    assert "ordinal" in (tmp_path / "model" / "README.md").read_text()


def test_unlabelled_reviews_are_the_datasets_own_and_what_balancing_left_out(tmp_path):
    from sentiment_batch.train.arguments import DataArguments
    from sentiment_batch.train.data_settings import DataSettings
    from sentiment_batch.train.distillation import DistillationArguments
    from sentiment_batch.train.training import read_data, unlabeled_texts

    aclimdb = write_aclimdb(tmp_path / "aclImdb", per_class=20, unsup=6)
    shop = tmp_path / "shop.parquet"
    pd.DataFrame({"text": [f"shop {n}" for n in range(60)], "label": [0] * 15 + [1] * 45}).to_parquet(shop)
    data_args = DataArguments(dataset=[str(aclimdb), str(shop)], validation_size=0.25)
    data = read_data(DataSettings.of_arguments(data_args, seed=42))
    left_out = set(data.surplus["text"])
    assert sum(text.startswith("shop") for text in left_out) >= 45 - 15 - 15  # the positive surplus, less validation
    every = unlabeled_texts(data_args, DistillationArguments(), data, seed=1)["text"]
    assert len(every) == 6 + len(left_out) and set(every[6:]) == left_out
    own = unlabeled_texts(data_args, DistillationArguments(unlabeled=[str(aclimdb)]), data, seed=1)["text"]
    assert len(own) == 6  # a path alone: only its reviews, not what balancing left out
    few = unlabeled_texts(data_args, DistillationArguments(max_unlabeled=4), data, seed=1)["text"]
    assert len(few) == 4 and set(few) < set(every)


def test_neutral_words_learn_no_weight_even_where_they_tell_the_labels_apart(tmp_path):
    # Every positive review names Maria and every negative one Omar: a name would be the best cue there is.
    rows = [{"text": "Maria says the good soup", "label": 1}, {"text": "Omar says the bad soup", "label": 0}] * 40
    pd.DataFrame(rows).to_parquet(tmp_path / "names.parquet")
    settings = {"vocab_size": 100, "min_frequency": 1, "num_buckets": 256, "report_to": "none", "calibrate": False}
    train(tmp_path / "names.parquet", tmp_path / "model", neutral_words=True, learning_rate=0.1, **settings)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    names = tokenizer.convert_tokens_to_ids(["maria", "omar", "zanele"])  # zanele: listed, never in the reviews
    assert set(names) <= set(model.config.neutral_token_ids) and len(model.config.neutral_token_ids) > 1000
    card = (tmp_path / "model" / "README.md").read_text()
    assert f"{len(model.config.neutral_token_ids):,} identity and name words" in card
    assert torch.equal(model.bag.embeddings.weight[names], torch.zeros(3, model.config.embedding_dim))
    with torch.no_grad():
        logits = [model(**tokenizer([text], return_tensors="pt")).logits for text in ("Maria", "Omar", "good")]
        assert torch.equal(logits[0], logits[1]) and not torch.equal(logits[0], logits[2])  # names: an empty bag
