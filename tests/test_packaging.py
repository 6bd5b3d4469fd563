"""The product as users get it: a wheel built from the checkout, installed torch-free in a fresh virtual environment."""

from __future__ import annotations

import collections
import csv
import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from helpers import REVIEWS
from sentiment_batch import __version__
from sentiment_batch.bundle import CARD_FILE, DATA_FILE, EXPLAIN_FILE, MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "sample_data" / "reviews.csv"
MAX_WHEEL_BYTES = 25 * 2**20  # the default bundle is about 18 MB


def run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", folder, REPO])
    [built] = folder.glob("sentiment_batch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel and the runtime's dependencies only; returns its bin folder."""
    environment = tmp_path_factory.mktemp("venv")
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel])
    return bin_dir


def test_wheel_holds_only_the_sentiment_batch_namespace_and_the_default_bundle(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"sentiment_batch", f"sentiment_batch-{__version__}.dist-info"}
    packages = {name.rsplit("/", 1)[0] for name in names if name.endswith("/__init__.py")}
    assert packages == {"sentiment_batch", "sentiment_batch/train", "sentiment_batch/export"}
    bundle = {name.rsplit("/", 1)[1] for name in names if name.startswith("sentiment_batch/default_bundle/")}
    assert bundle == {MANIFEST_FILE, CARD_FILE, MODEL_FILE, DATA_FILE, TOKENIZER_FILE, EXPLAIN_FILE}
    assert "sentiment_batch/train/metrics.py" in names and "sentiment_batch/py.typed" in names
    assert wheel.stat().st_size < MAX_WHEEL_BYTES
    assert f"sentiment_batch-{__version__}.dist-info/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"sentiment_batch-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata.splitlines()


def score_file(bin_dir: Path, cwd: Path, source: Path, output: Path, *options: str) -> tuple[list[dict], str]:
    """The rows `sentiment-batch score` wrote, and its stderr."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = [bin_dir / "sentiment-batch", "score", source, "--output", output, "--no-progress", *options]
    result = run(command, cwd=cwd, env={**env, "HF_HUB_OFFLINE": "1"})
    with output.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle)), result.stderr


def score_sample(bin_dir: Path, cwd: Path, output: Path) -> list[dict]:
    rows, stderr = score_file(bin_dir, cwd, SAMPLE_CSV, output)
    assert "scored 292 of 300 rows" in stderr  # 4 blank, 4 in other languages
    return rows


def test_installed_wheel_scores_with_its_own_bundle_anywhere_without_torch(installed, tmp_path):
    assert run([installed / "sentiment-batch", "--version"]).stdout.strip() == f"sentiment-batch {__version__}"
    probe = "import importlib.util as u, sentiment_batch as s; print(u.find_spec('torch') is None, s.__file__)"
    no_torch, location = run([installed / "python", "-c", probe], cwd=tmp_path).stdout.split()
    assert no_torch == "True" and "site-packages" in location
    outside = score_sample(installed, tmp_path, tmp_path / "outside.csv")
    inside = score_sample(installed, REPO, tmp_path / "inside.csv")  # the README's command, in the checkout
    assert outside == inside
    assert {row["label"] for row in outside if not row["error"]} == {"negative", "positive"}


def test_installed_wheel_explains_with_its_shipped_bundle(installed, tmp_path):
    output = tmp_path / "explained.csv"
    run([installed / "sentiment-batch", "score", SAMPLE_CSV, "--output", output, "--explain", "2", "--no-progress"])
    with output.open(encoding="utf-8", newline="") as handle:
        scored = [row for row in csv.DictReader(handle) if not row["error"]]
    evidence = [(json.loads(row["evidence"]), row["text"]) for row in scored]
    assert scored and all(1 <= len(entries) <= 4 for entries, _ in evidence)  # 2 for the label, 2 against
    assert all(entry["phrase"] in text for entries, text in evidence for entry in entries)


def test_installed_wheel_describes_and_measures_its_bundle_without_torch(installed, tmp_path):
    info = json.loads(run([installed / "sentiment-batch", "info", "--json"], cwd=tmp_path).stdout)
    manifest = json.loads(Path(info["bundle"], MANIFEST_FILE).read_text(encoding="utf-8"))
    assert info["shipped"] and "site-packages" in info["bundle"] and info["labels"] == ["negative", "positive"]
    accuracies = {name: figures["accuracy"] for name, figures in info["metrics"]["sources"].items()}
    assert len(accuracies) > 1 and "imdb" in accuracies
    assert accuracies == {name: manifest["source"]["metrics"][f"eval_{name}_accuracy"] for name in accuracies}
    labelled = tmp_path / "labelled.csv"
    with labelled.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *((text, ("neg", "pos")[truth]) for text, truth in REVIEWS)])
    command = [installed / "sentiment-batch", "evaluate", "--dataset", labelled]
    report = json.loads(run(command, cwd=tmp_path).stdout)
    scored, _ = score_file(installed, tmp_path, labelled, tmp_path / "scored.csv", "--column-prefix", "predicted_")
    predicted = [row["predicted_label"] for row in scored]
    truths = [("negative", "positive")[truth] for _, truth in REVIEWS]
    confusion = collections.Counter(zip(truths, predicted, strict=True))
    assert report["rows"] == len(REVIEWS) and report["unscorable"] == 0
    assert report["confusion"] == {true: {guess: confusion[true, guess] for guess in info["labels"]} for true in truths}
    assert report["accuracy"] == sum(confusion[label, label] for label in info["labels"]) / len(REVIEWS)
    assert report["macro_f1"] == pytest.approx(f1_score(truths, predicted, average="macro"))


def test_training_commands_say_which_extra_they_need(installed, tmp_path):
    result = subprocess.run(
        [installed / "sentiment-batch", "train", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is missing; install the training extra: pip install 'sentiment-batch[train]'" in result.stderr


def test_the_spark_engine_says_which_extra_it_needs(installed, tmp_path):
    command = [installed / "sentiment-batch", "score", SAMPLE_CSV, "--output", tmp_path / "out.parquet"]
    result = subprocess.run([*command, "--engine", "spark"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pyspark is missing; install the spark extra: pip install 'sentiment-batch[spark]'" in result.stderr
    assert not (tmp_path / "out.parquet").exists()


# Where each folder's imports must be declared: the base requirements, plus the extra its modules need.
EXTRAS_OF = {"sentiment_batch": (), "train": ("train",), "export": ("train",)}
# Runtime modules that need an extra of their own, imported only by whoever uses them.
OPTIONAL_MODULES = {"spark.py": "spark", "spark_engine.py": "spark", "duckdb.py": "duckdb"}


def requirement_names(requirements) -> set[str]:
    return {normalized(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]) for requirement in requirements}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return {
        name for name in names if name not in sys.stdlib_module_names and name not in ("sentiment_batch", "__future__")
    }


def test_every_imported_package_is_declared_where_its_code_needs_it():
    import importlib.metadata

    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    distributions = importlib.metadata.packages_distributions()
    for folder, needed in EXTRAS_OF.items():
        for path in sorted((REPO / folder).glob("*.py")):
            requirements = [*project["dependencies"], *(req for extra in needed for req in extras[extra])]
            if path.name in OPTIONAL_MODULES:
                requirements += extras[OPTIONAL_MODULES[path.name]]
            declared = requirement_names(requirements)
            for module in third_party_imports(path):
                names = {normalized(name) for name in distributions.get(module, [module])}
                assert names & declared, f"{folder}/{path.name} imports {module}, which {needed or 'the base'} lacks"


def test_the_optional_neighbours_are_extras_that_the_tests_install():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert requirement_names(extras["duckdb"]) == {"duckdb"} and requirement_names(extras["polars"]) == {"polars"}
    assert {"duckdb", "polars"} <= set(re.search(r"\[(.*)\]", extras["dev"][0]).group(1).split(","))


def test_benchmark_tools_are_in_their_own_extra():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    tools = {"fasttext-wheel", "matplotlib", "psutil"}
    assert tools <= requirement_names(extras["bench"]) and not tools & requirement_names(extras["dev"])
