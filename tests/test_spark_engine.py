"""`sentiment-batch score --engine spark` end to end: Spark's output layout, the local engine's rows, refusals
before the job, and a failed job that publishes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sentiment_batch import cli, spark_engine
from sentiment_batch.errors import UserError
from sentiment_batch.formats import FileFormat

pytest.importorskip("pyspark", reason="the spark extra is not installed")

TEXTS = ["great film, loved it", None, "", "   ", "awful, boring", 'said "wow"\nthen left', "ok"]


def write_reviews(path: Path) -> Path:
    df = pd.DataFrame({"id": range(len(TEXTS)), "text": pd.Series(TEXTS, dtype=object), "note": "n"})
    df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_parquet(path, index=False)
    return path


def score(capsys, *args):
    """The real dispatcher (in this process, on the tests' SparkSession); returns (exit code, stderr lines)."""
    code = cli.main(["score", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err.strip().splitlines()


def read_folder(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*"))
    if parts[0].name.endswith(".csv"):
        frames = [pd.read_csv(part, dtype=str, keep_default_na=False) for part in parts]
    else:
        frames = [pq.read_table(part).to_pandas() for part in parts]
    df = pd.concat(frames, ignore_index=True)
    return df.assign(id=df["id"].astype(int)).sort_values("id", ignore_index=True)


def read_file(path: Path) -> pd.DataFrame:
    df = (
        pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.suffix == ".csv"
        else pq.read_table(path).to_pandas()
    )
    return df.assign(id=df["id"].astype(int))


@pytest.mark.parametrize(("source", "target"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_spark_engine_writes_spark_layout_with_the_local_engines_rows(
    spark, tmp_path, capsys, tiny_bundle, source, target
):
    path = write_reviews(tmp_path / f"in{source}")
    out = tmp_path / f"out{target}"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--engine", "spark")
    assert code == 0, err
    assert (out / "_SUCCESS").is_file() and list(out.glob("part-*"))
    assert err[-1].startswith(f"scored {len(TEXTS) - 3} of {len(TEXTS)} rows from 1 file(s) into {out}: 3 unscorable")
    assert err[-1].endswith("rows/s")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no staging left behind
    local = tmp_path / f"local{target}"
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", local)[0] == 0
    spark_rows, local_rows = read_folder(out), read_file(local)
    assert list(spark_rows.columns) == list(local_rows.columns)
    exact = ["id", "text", "label", "error"]  # as text: CSV has no types and no nulls
    assert (
        spark_rows[exact].fillna("").astype(str).values.tolist()
        == local_rows[exact].fillna("").astype(str).values.tolist()
    )
    for name in ("score", "prob_negative", "prob_positive"):
        spark_values = pd.to_numeric(spark_rows[name].replace("", None)).astype(float)
        local_values = pd.to_numeric(local_rows[name].replace("", None)).astype(float)
        assert ((spark_values - local_values).abs().fillna(0) <= 1e-5).all()

    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--engine", "spark")
    assert code == 2 and err == [
        f"sentiment-batch score: error: {out} already exists and replacing it was not asked "
        "for; pass --overwrite to replace it"
    ]
    (out / "stale.txt").write_text("from the run before")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--engine", "spark", "--overwrite")
    assert code == 0 and not (out / "stale.txt").exists() and (out / "_SUCCESS").is_file()


def test_a_failed_job_publishes_nothing_and_gives_the_executors_reason(spark, tmp_path, capsys, tiny_bundle):
    (tmp_path / "bad.csv").write_text("id,text\n1,good\n2,too,many\n")
    out = tmp_path / "out.parquet"
    code, err = score(capsys, tmp_path / "bad.csv", "--bundle", tiny_bundle, "--output", out, "--engine", "spark")
    assert code == 1
    assert err[-1].startswith("sentiment-batch score: error: the Spark job failed: ")
    assert "Malformed CSV record: 2,too,many" in err[-1]
    assert sorted(os.listdir(tmp_path)) == ["bad.csv"]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--threads", "2"], "--threads is for --engine local"),
        (["--conf", "no-equals-sign"], "--conf takes KEY=VALUE"),
        (["--output", "out.arrow"], "Spark has no arrow reader or writer"),
        (["--text-column", "review"], "has no column 'review'"),
        (["--column-prefix", ""], None),  # the input already has `label`: refused, see below
    ],
)
def test_refused_in_one_line_before_the_scoring_job(spark, tmp_path, capsys, tiny_bundle, extra, match):
    path = tmp_path / "in.parquet"
    pd.DataFrame({"text": ["fine"], "label": ["mine"]}).to_parquet(path)
    output = [] if "--output" in extra else ["--output", tmp_path / "out.parquet"]
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--engine", "spark", *output, *extra)
    assert code == 2 and len(err) == 1, err
    assert (match or "already has column(s) ['label']") in err[0]
    assert sorted(os.listdir(tmp_path)) == ["in.parquet"]


def test_corrupt_bundle_and_mixed_formats_are_refused_before_spark_starts(tmp_path, capsys, bundle_copy):
    write_reviews(tmp_path / "a.csv")
    write_reviews(tmp_path / "b.parquet")
    code, err = score(
        capsys, tmp_path / "a.csv", tmp_path / "b.parquet", "--output", tmp_path / "o.parquet", "--engine", "spark"
    )
    assert code == 2 and "the inputs mix formats" in err[0]
    with (bundle_copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    code, err = score(
        capsys, tmp_path / "a.csv", "--bundle", bundle_copy, "--output", tmp_path / "o.parquet", "--engine", "spark"
    )
    assert code == 2 and len(err) == 1 and "does not match model_sha256" in err[0]


def test_the_console_script_starts_its_own_local_spark(tmp_path, tiny_bundle, spark):
    path = write_reviews(tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    command = [Path(sys.executable).with_name("sentiment-batch"), "score", path, "--output", out]
    command += ["--bundle", tiny_bundle, "--engine", "spark", "--master", "local[1]"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYSPARK_")}
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"scored {len(TEXTS) - 3} of {len(TEXTS)} rows from 1 file(s) into {out}")
    )
    assert "Traceback" not in result.stderr and " WARN " not in result.stderr and "log level" not in result.stderr
    errors = read_folder(out)["error"].fillna("").tolist()
    assert errors == ["", "null text", "empty text", "whitespace-only text", "", "", ""]


def test_a_folder_of_parts_is_an_input(spark, tmp_path, capsys, tiny_bundle):
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_reviews(folder / "part-1.parquet")
    write_reviews(folder / "part-2.parquet")
    (folder / "_SUCCESS").touch()
    out = tmp_path / "out.csv"
    code, err = score(capsys, folder, "--bundle", tiny_bundle, "--output", out, "--engine", "spark")
    assert code == 0, err
    assert err[-1].startswith(
        f"scored {2 * len(TEXTS) - 6} of {2 * len(TEXTS)} rows from 2 file(s) into {out}: 6 unscorable"
    )
    assert len(read_folder(out)) == 2 * len(TEXTS)


def plan(tmp_path, *inputs, output="out.parquet", local_fs=True, overwrite=False):
    output = output if "://" in output else str(tmp_path / output)
    return spark_engine.plan_job([str(value) for value in inputs], output, overwrite, local_fs)


def test_plans_name_the_format_and_refuse_what_cannot_be_read(tmp_path):
    write_reviews(tmp_path / "a.csv")
    (tmp_path / "mixed").mkdir()
    write_reviews(tmp_path / "mixed" / "b.csv")
    write_reviews(tmp_path / "mixed" / "c.parquet")
    assert plan(tmp_path, tmp_path / "*.csv").input_format == FileFormat("csv")
    inputs = ("s3a://lake/reviews/", "hdfs:///x/y.parquet/", "/lake/z.parquet")
    remote = plan(tmp_path, *inputs, output="s3a://lake/scored.csv", local_fs=False)
    assert [location.local for location in remote.inputs] == [None, None, None]
    assert (remote.output.uri, remote.output.local, remote.output_format) == (
        "s3a://lake/scored.csv",
        None,
        FileFormat("csv"),
    )
    assert (
        remote.input_format == FileFormat("parquet") and remote.inputs[2].uri == "/lake/z.parquet"
    )  # the cluster's file system
    with pytest.raises(UserError, match="inputs mix formats"):
        plan(tmp_path, "s3a://lake/reviews/", "hdfs:///x/y.csv/", local_fs=False)
    for inputs, match in [
        ([tmp_path / "*.json"], "no file matches"),
        ([tmp_path / "missing.csv"], "does not exist"),
        ([tmp_path / "mixed"], "cannot tell which format"),
        ([f"file://{tmp_path}/missing.parquet"], "does not exist"),
    ]:
        with pytest.raises(UserError, match=match):
            plan(tmp_path, *inputs)
    (tmp_path / "taken.parquet").mkdir()
    write_reviews(tmp_path / "taken.parquet" / "part-0.parquet")
    with pytest.raises(UserError, match="is also an input"):
        plan(tmp_path, tmp_path / "taken.parquet", output="taken.parquet", overwrite=True)
    with pytest.raises(UserError, match="already exists"):
        plan(tmp_path, tmp_path / "a.csv", output="taken.parquet")
    assert plan(tmp_path, tmp_path / "a.csv", output="taken.parquet", overwrite=True).output_format == FileFormat(
        "parquet"
    )


def test_a_hive_lake_into_a_folder_without_suffix_in_the_named_format(spark, tmp_path, capsys, tiny_bundle):
    import json

    for zip_code in ("01234", "98765"):
        (tmp_path / "lake" / f"zip={zip_code}").mkdir(parents=True)
        write_reviews(tmp_path / "lake" / f"zip={zip_code}" / "part-0.parquet")
    out, summary = tmp_path / "scored", tmp_path / "summary.json"
    args = ["--bundle", tiny_bundle, "--engine", "spark", "--summary", summary]
    code, err = score(capsys, tmp_path / "lake", "-o", out, "--output-format", "jsonl", *args)
    assert code == 0, err
    rows = [json.loads(line) for part in sorted(out.glob("part-*.json")) for line in part.read_text().splitlines()]
    assert sorted({row["zip"] for row in rows}) == ["01234", "98765"]  # partition values stay text
    counts = json.loads(summary.read_text())
    assert counts["rows"] == len(rows) == 2 * len(TEXTS) and counts["errors"]["null text"] == 2
    code, err = score(capsys, tmp_path / "lake", "-o", tmp_path / "none", "--text-column", "id", *args)
    assert code == 3 and "no row could be scored" in err[-1]
    assert not (tmp_path / "none").exists()
