"""The runtime stays light: `import sentiment_batch` and `score` never load torch or the training code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import requires

import pandas as pd

HEAVY = (
    *("torch", "transformers", "datasets", "evaluate", "onnx", "train", "export", "pyspark", "py4j"),
    *("polars", "duckdb"),  # optional neighbours, loaded only by whoever passes or registers one
)
RUNTIME_DEPS = {"numpy", "onnxruntime", "tokenizers", "pandas", "pyarrow", "tqdm"}

BLOCKER = f"""
import importlib.abc, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError(f"blocked import of {{name}}")

sys.meta_path.insert(0, Blocker())
"""


def run_python(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_base_install_requires_only_the_runtime():
    base = [req for req in requires("sentiment-batch") if "extra ==" not in req]
    names = {req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip() for req in base}
    assert names == RUNTIME_DEPS


def test_score_end_to_end_with_heavy_imports_blocked(tmp_path, tiny_bundle):
    pd.DataFrame({"id": [1, 2, 3], "text": ["great film", None, "awful"]}).to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out.csv"
    stdout = run_python(
        BLOCKER
        + f"""
import pandas as pd
from sentiment_batch import Scorer
from sentiment_batch.cli import main
code = main(["score", "in.parquet", "--bundle", {str(tiny_bundle)!r}, "--output", "out.csv", "--no-progress"])
assert code == 0, code
scorer = Scorer.from_bundle({str(tiny_bundle)!r})
assert len(scorer.score_dataframe(pd.DataFrame({{"text": ["great film"]}}))) == 1
pd.DataFrame({{"text": ["great film", "awful"], "label": ["pos", "neg"]}}).to_csv("labelled.csv", index=False)
assert main(["evaluate", "--bundle", {str(tiny_bundle)!r}, "--dataset", "labelled.csv"]) == 0
assert main(["info", "--json"]) == 0
print(scorer.predict(["great film"])[0]["label"])
""",
        tmp_path,
    )
    assert stdout.strip().splitlines()[-1] in {"negative", "positive"}
    assert len(pd.read_csv(out)) == 3


def test_no_heavy_module_loaded_after_scoring(tmp_path, tiny_bundle):
    pd.DataFrame({"text": ["great film", "awful"]}).to_csv(tmp_path / "in.csv", index=False)
    stdout = run_python(
        f"""
import sys
import sentiment_batch
assert not [name for name in {HEAVY!r} if name in sys.modules], "import sentiment_batch pulled in heavy modules"
from sentiment_batch.cli import main
assert main(["score", "in.csv", "--bundle", {str(tiny_bundle)!r}, "--output", "out.parquet", "--no-progress"]) == 0
print(sorted(name for name in sys.modules if name.split(".")[0] in {HEAVY!r}))
""",
        tmp_path,
    )
    assert stdout.strip() == "[]"
