"""`sentiment_batch.spark` on a real Spark: the single-process scorer's columns and values, on executors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from helpers import REVIEWS, VARIED_TEXTS
from sentiment_batch import Scorer
from sentiment_batch.bundle import MANIFEST_FILE, load_bundle
from sentiment_batch.errors import UserError
from sentiment_batch.readers import open_path
from sentiment_batch.scorer import DEFAULT_BATCH_SIZE

spark_api = pytest.importorskip("sentiment_batch.spark", reason="the spark extra is not installed")
from sentiment_batch.spark_engine import CSV_READ, failure_reason  # noqa: E402  (needs pyspark, checked above)

TEXTS = [text for text, _ in REVIEWS] + VARIED_TEXTS + [None, "great", 'a "quoted", comma\nand a line break']
ADDED = ["label", "score", "prob_negative", "prob_positive", "error"]


def reviews_file(tmp_path: Path, fmt: str) -> Path:
    import pandas as pd

    df = pd.DataFrame({"id": range(len(TEXTS)), "text": pd.Series(TEXTS, dtype=object), "note": "n"})
    path = tmp_path / f"reviews.{fmt}"
    df.to_parquet(path, index=False) if fmt == "parquet" else df.to_csv(path, index=False)
    return path


def spark_read(spark, path: Path):
    if path.suffix == ".csv":  # as the CLI reads CSV: all text, no nulls, as in the local engine
        return spark.read.options(**CSV_READ).csv(str(path)).na.fill("")
    return spark.read.parquet(str(path))


def local_engine(path: Path, bundle: Path) -> dict:
    """The rows as the local engine reads and scores them, by id."""
    with Scorer.from_bundle(bundle) as scorer:
        table = pa.Table.from_batches(list(scorer.score_batches(open_path(path).batches(), "text")))
    return {int(row["id"]): row for row in table.to_pylist()}


def assert_same_rows(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, row in expected.items():
        got = actual[key]
        assert list(got) == list(row)
        # Bit for bit: a review's probabilities do not depend on its partition or Arrow batch.
        assert got == row, key


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_spark_scores_equal_the_single_process_scorer(spark, tmp_path, tiny_bundle, fmt):
    path = reviews_file(tmp_path, fmt)
    df = spark_read(spark, path).repartition(3)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "4")  # several Arrow batches per partition
    try:
        scored = spark_api.score(df, bundle=tiny_bundle)
        assert scored.rdd.getNumPartitions() == 3
        rows = {int(row["id"]): row.asDict() for row in scored.collect()}
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert scored.columns == ["id", "text", "note", *ADDED]
    expected = local_engine(path, tiny_bundle)
    assert_same_rows(rows, expected)
    errors = [rows[key]["error"] for key in sorted(rows)]
    null = "null text" if fmt == "parquet" else "empty text"
    unscorable = {null, "empty text", "whitespace-only text", "not English (de)"}
    assert errors.count(None) == len(TEXTS) - 4 and unscorable <= set(errors)


def test_non_string_text_prefixes_and_case_insensitive_clashes(spark, tiny_bundle):
    df = spark.createDataFrame([(1, 5, "x"), (2, None, "y")], "id long, text long, Label string")
    with pytest.raises(UserError, match=r"already has column\(s\) \['label'\] \(Spark ignores the case"):
        spark_api.score(df, bundle=tiny_bundle)
    with pytest.raises(UserError, match="has no column 'review'"):
        spark_api.score(df, bundle=tiny_bundle, text_column="review")
    with pytest.raises(TypeError, match="bundle must be a str, Path or Bundle"):
        spark_api.score(df, bundle=3)
    # A Bundle that load_bundle already checked is taken as it is (the CLI checks it before Spark starts).
    rows = spark_api.score(df, bundle=load_bundle(tiny_bundle), column_prefix="sb_").orderBy("id").collect()
    assert rows[0].asDict() == {
        "id": 1,
        "text": 5,
        "Label": "x",
        **{f"sb_{name}": None for name in ADDED[:-1]},
        "sb_error": "non-string text (int)",
    }
    assert rows[1]["sb_error"] == "null text"


def test_a_corrupt_bundle_is_refused_before_any_job(spark, bundle_copy):
    with load_bundle(bundle_copy).data_path.open("r+b") as handle:
        handle.write(b"\xff\xff")
    df = spark.createDataFrame([(1, "great")], "id long, text string")
    tracker = spark.sparkContext.statusTracker()
    jobs = sorted(tracker.getJobIdsForGroup(None))
    with pytest.raises(UserError, match="does not match data_sha256") as raised:
        spark_api.score(df, bundle=bundle_copy)
    assert "\n" not in str(raised.value)
    with pytest.raises(UserError, match="does not match data_sha256"):
        spark_api.sentiment_udf(bundle_copy)
    assert sorted(tracker.getJobIdsForGroup(None)) == jobs


def test_sentiment_udf_in_select_and_sql_equals_score(spark, tiny_bundle):
    df = spark.createDataFrame(list(enumerate(TEXTS)), "id long, review string")
    expected = {
        row["id"]: row.asDict() for row in spark_api.score(df, bundle=tiny_bundle, text_column="review").collect()
    }
    udf = spark_api.sentiment_udf(tiny_bundle)
    spark.udf.register("sentiment", udf)
    df.createOrReplaceTempView("reviews")
    # The pandas UDF that pyspark before 4.1 gets, run here too.
    pandas_udf = spark_api._udf(
        spark_api._check_and_ship(spark, tiny_bundle)[0], udf.returnType, DEFAULT_BATCH_SIZE, arrow=False
    )
    results = [
        df.select("id", udf("review").alias("s")).collect(),
        spark.sql("SELECT id, sentiment(review) AS s FROM reviews").collect(),
        df.select("id", pandas_udf("review").alias("s")).collect(),
    ]
    for rows in results:
        actual = {row["id"]: {**expected[row["id"]], **row["s"].asDict()} for row in rows}
        assert_same_rows(actual, expected)


def test_evidence_on_spark_is_the_single_process_scorers(spark, tiny_bundle):
    df = spark.createDataFrame(list(enumerate(TEXTS)), "id long, text string").repartition(2)
    with Scorer.from_bundle(tiny_bundle) as scorer:
        expected = {index: result["evidence"] for index, result in enumerate(scorer.predict(TEXTS, explain=2))}
    scored = spark_api.score(df, bundle=tiny_bundle, explain=2)
    assert scored.columns[-2:] == ["evidence", "error"]
    rows = {row["id"]: row["evidence"] for row in scored.collect()}
    as_dicts = {key: None if value is None else [entry.asDict() for entry in value] for key, value in rows.items()}
    assert as_dicts == expected
    udf = spark_api.sentiment_udf(tiny_bundle, explain=2)
    struct = {row["id"]: row["s"]["evidence"] for row in df.select("id", udf("text").alias("s")).collect()}
    assert {key: None if value is None else [entry.asDict() for entry in value] for key, value in struct.items()} == (
        expected
    )


def test_executors_refuse_a_shipped_copy_that_is_not_the_drivers(spark, bundle_copy):
    from pyspark import SparkFiles

    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps({**manifest, "note": "shipped by this test only"}))
    shipped = spark_api._check_and_ship(spark, bundle_copy)[0]
    spark.sparkContext.parallelize([0], 1).count()  # a first task, which unpacks the archive for the executor
    executor_copy = Path(SparkFiles.get(shipped.archive))  # local mode: the executor's copy is on this machine
    assert executor_copy != bundle_copy and (executor_copy / MANIFEST_FILE).is_file()
    # A valid bundle, but not the driver's: the manifest without the note (another release's bundle, say).
    (executor_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert load_bundle(executor_copy).labels == load_bundle(bundle_copy).labels
    df = spark.createDataFrame([(1, "great")], "id long, text string")
    with pytest.raises(Exception) as raised:  # noqa: B017  (pyspark's PythonException)
        spark_api.score(df, bundle=bundle_copy).collect()
    reason = failure_reason(raised.value)
    assert reason.startswith(f"UserError: the bundle at {executor_copy} is not the driver's"), reason


LOCAL_CLUSTER_SCRIPT = """
import json, os, shutil, sys, time
from pathlib import Path
from pyspark.sql import SparkSession
from sentiment_batch import Scorer
from sentiment_batch.spark import _check_and_ship, score

bundle, texts = Path(sys.argv[1]), json.loads(sys.argv[2])
spark = SparkSession.builder.master("local-cluster[2,1,1024]").config("spark.ui.enabled", "false").getOrCreate()
context = spark.sparkContext
while context._jsc.sc().getExecutorIds().size() < 2:  # both executors up, so each gets a task
    time.sleep(0.2)
with Scorer.from_bundle(bundle) as scorer:
    expected = [row["label"] for row in scorer.predict(texts)]
df = spark.createDataFrame(list(enumerate(texts)), "id long, text string").repartition(2)
scored = score(df, bundle=bundle)
shipped = _check_and_ship(spark, bundle)[0]
shutil.rmtree(bundle)  # from here on the executors have the shipped copy only
labels = [row["label"] for row in scored.orderBy("id").collect()]

def probe(_):
    from pyspark import SparkFiles
    from sentiment_batch.spark import worker_scorer
    first, again = worker_scorer(shipped), worker_scorer(shipped)
    yield {"root": os.path.abspath(SparkFiles.getRootDirectory()), "bundle": str(first.bundle.path),
           "sha256": first.bundle.sha256(), "cached": first is again, "pid": os.getpid()}

found = context.parallelize(range(4), 4).mapPartitions(probe).collect()
print(json.dumps({"labels": labels, "expected": expected, "sha256": shipped.sha256, "probes": found,
                  "driver_root": os.path.abspath(__import__("pyspark").SparkFiles.getRootDirectory())}))
spark.stop()
"""


def test_local_cluster_executors_load_the_shipped_bundle(tmp_path, tiny_bundle, spark):
    import shutil

    bundle = shutil.copytree(tiny_bundle, tmp_path / "only_on_the_driver")
    texts = [text for text, _ in REVIEWS]
    (tmp_path / "job.py").write_text(textwrap.dedent(LOCAL_CLUSTER_SCRIPT))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    result = subprocess.run(
        [sys.executable, str(tmp_path / "job.py"), str(bundle), json.dumps(texts)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["labels"] == report["expected"]
    assert not bundle.exists()
    roots = {probe["root"] for probe in report["probes"]}
    assert len(roots) == 2 and report["driver_root"] not in roots  # two executors, neither the driver
    for probe in report["probes"]:
        assert probe["bundle"].startswith(probe["root"]) and probe["sha256"] == report["sha256"] and probe["cached"]
