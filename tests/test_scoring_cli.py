"""`sentiment-batch score` end to end: formats, order, multi-file input, summary, bad input and atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_batch import cli, local_engine, scoring_cli, writers
from sentiment_batch.bundle import MANIFEST_FILE
from sentiment_batch.publish import TEMP_SUFFIX

ADDED = ["label", "score", "prob_negative", "prob_positive", "error"]
TEXTS = ["great film, loved it", None, "", "   ", "awful, boring", 'said "wow"\nthen left', "ok"]


def frame(start=0):
    return pd.DataFrame(
        {
            "id": range(start, start + len(TEXTS)),
            "text": pd.Series(TEXTS, dtype=object),
            "note": [f"n{start + i}" for i in range(len(TEXTS))],
        }
    )


def write(df, path):
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def read(path):
    return pq.read_table(path).to_pandas() if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)


def score(capsys, *args):
    """Run the real dispatcher; returns (exit code, stderr lines)."""
    code = cli.main(["score", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("source", "target"), [(".csv", ".csv"), (".csv", ".parquet"), (".parquet", ".csv"), (".parquet", ".parquet")]
)
def test_formats_keep_rows_order_and_columns(tmp_path, capsys, tiny_bundle, source, target):
    path = write(frame(), tmp_path / f"in{source}")
    out = tmp_path / f"out{target}"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--batch-size", "2")
    assert code == 0
    scored = read(out)
    assert list(scored.columns) == ["id", "text", "note", *ADDED]
    assert scored["id"].astype(int).tolist() == list(range(len(TEXTS)))
    assert scored["note"].tolist() == frame()["note"].tolist()
    errors = [None if pd.isna(error) or error == "" else error for error in scored["error"]]
    null_reason = "null text" if source == ".parquet" else "empty text"  # CSV has no null, only empty
    assert errors == [None, null_reason, "empty text", "whitespace-only text", None, None, None]
    labels = [label for label, error in zip(scored["label"], errors, strict=True) if error is None]
    assert len(labels) == 4 and set(labels) <= {"negative", "positive"}
    assert err[-1].startswith(f"scored 4 of {len(TEXTS)} rows from 1 file(s)") and "3 unscorable" in err[-1]
    assert "rows/s" in err[-1]


def test_multi_file_and_glob_in_order(tmp_path, capsys, tiny_bundle):
    write(frame(0), tmp_path / "part-1.parquet")
    write(frame(100), tmp_path / "part-2.parquet")
    write(frame(200), tmp_path / "extra.parquet")
    out = tmp_path / "out.parquet"
    code, err = score(
        capsys, tmp_path / "extra.parquet", tmp_path / "part-*.parquet", "--bundle", tiny_bundle, "--output", out
    )
    assert code == 0
    ids = pq.read_table(out).column("id").to_pylist()
    assert ids == [*range(200, 207), *range(0, 7), *range(100, 107)]
    assert (
        "from 3 file(s)" in err[-1] and "9 unscorable (null text: 3, empty text: 3, whitespace-only text: 3)" in err[-1]
    )


def test_many_chunks_match_one_chunk(tmp_path, capsys, tiny_bundle, monkeypatch):
    path = write(pd.concat([frame(i * 10) for i in range(5)], ignore_index=True), tmp_path / "in.parquet")
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "one.parquet")[0] == 0
    monkeypatch.setattr(local_engine, "CHUNK_ROWS", 4)
    written = []
    original = writers.OutputWriter.write

    def spy(self, batch):
        written.append(batch.num_rows)
        original(self, batch)

    monkeypatch.setattr(writers.OutputWriter, "write", spy)
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "many.parquet", "--threads", "1")[0] == 0
    assert max(written) == 4 and sum(written) == 5 * len(TEXTS)  # streamed chunk by chunk, never whole
    many = pq.ParquetFile(tmp_path / "many.parquet")
    assert many.metadata.num_row_groups > 1
    # Equal up to float32 rounding: a review's sums round by its place in the batch's 64-row blocks.
    pd.testing.assert_frame_equal(many.read().to_pandas(), pq.read_table(tmp_path / "one.parquet").to_pandas())


def test_text_column_option_and_prefix(tmp_path, capsys, tiny_bundle):
    df = frame().rename(columns={"text": "review", "note": "label"})
    path = write(df, tmp_path / "in.parquet")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "x.csv")
    assert code == 2 and len(err) == 1 and "no column 'text'; its columns are ['id', 'review', 'label']" in err[0]
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "x.csv", "--text-column", "review")
    assert code == 2 and "already has column(s) ['label']" in err[0]
    out = tmp_path / "ok.parquet"
    assert (
        score(
            capsys,
            path,
            "--bundle",
            tiny_bundle,
            "--output",
            out,
            "--text-column",
            "review",
            "--column-prefix",
            "pred_",
        )[0]
        == 0
    )
    assert pq.read_schema(out).names == ["id", "review", "label", *(f"pred_{name}" for name in ADDED)]


def break_sha(folder):
    with (folder / "model.onnx").open("ab") as handle:
        handle.write(b"\0")


def drop_tokenizer(folder):
    (folder / "tokenizer.json").unlink()


def bad_version(folder):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps({**manifest, "format_version": 99}))


def swap_labels(folder):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps({**manifest, "labels": manifest["labels"][::-1]}))


def truncate_tokenizer(folder):
    path = folder / "tokenizer.json"
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (break_sha, "does not match model_sha256"),
        (drop_tokenizer, "incomplete"),
        (bad_version, "format_version"),
        (truncate_tokenizer, "does not match tokenizer_sha256"),
    ],
)
def test_broken_bundle_exits_2_without_output(tmp_path, capsys, bundle_copy, breakage, match, monkeypatch):
    from sentiment_batch import scorer

    monkeypatch.setattr(scorer, "_session", lambda bundle: pytest.fail("the model was loaded"))
    breakage(bundle_copy)
    path = write(frame(), tmp_path / "in.csv")
    code, err = score(capsys, path, "--bundle", bundle_copy, "--output", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and match in err[0]
    assert not (tmp_path / "out.csv").exists()


def test_a_graph_that_disagrees_with_the_manifest_is_refused_before_any_row(tmp_path, capsys, bundle_copy, monkeypatch):
    swap_labels(bundle_copy)  # every file matches its hash; the graph's own metadata names other labels
    monkeypatch.setattr(writers.OutputWriter, "write", lambda self, batch: pytest.fail("a row was scored"))
    path = write(frame(), tmp_path / "in.csv")
    code, err = score(capsys, path, "--bundle", bundle_copy, "--output", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and "disagree on sentiment_batch.labels" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle_copy", "in.csv"]


@pytest.mark.parametrize(
    ("name", "content", "output", "match"),
    [
        ("missing.csv", None, "out.csv", "does not exist"),
        ("quote.csv", b'id,text\n1,"never closed\n2,ok\n', "out.csv", "a quoted field is still open"),
        ("short.csv", b"id,text,note\n1,fine,x\n2,fine\n", "out.csv", "line 3: 2 field(s) where the header has 3"),
        ("dup.csv", b"id,text,text\n1,fine,x\n", "out.csv", "has 2 columns named 'text'"),
        ("fake.parquet", b"not parquet at all", "out.parquet", "as PARQUET"),
        ("in.csv", b"id,text\n1,fine\n", "out.xlsx", "unknown extension '.xlsx'"),
        ("in.csv", b"id,text\n1,fine\n", "no_such_dir/out.csv", "output folder"),
        ("in.csv", b"id,text\n1,fine\n", "in.csv", "is also an input"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, tiny_bundle, name, content, output, match):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = score(capsys, tmp_path / name, "--bundle", tiny_bundle, "--output", tmp_path / output)
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_spark_options_need_the_spark_engine(tmp_path, capsys, tiny_bundle):
    path = write(frame(), tmp_path / "in.csv")
    for option in (["--master", "local[2]"], ["--conf", "spark.task.cpus=1"]):
        code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "out.csv", *option)
        assert code == 2 and err == ["sentiment-batch score: error: --master and --conf are for --engine spark"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_malformed_row_late_in_file_leaves_no_output(tmp_path, capsys, tiny_bundle, monkeypatch):
    monkeypatch.setattr(local_engine, "CHUNK_ROWS", 2)
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,text\n1,good\n2,bad\n3,fine\n4,a,b\n5,ok\n")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "out.parquet")
    assert code == 2 and "line 5: 3 field(s) where the header has 2" in err[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.csv"]


def test_crash_mid_way_leaves_no_final_file(tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.setattr(local_engine, "CHUNK_ROWS", 3)
    original = writers.OutputWriter.write
    calls = []

    def write_then_crash(self, batch):
        calls.append(batch.num_rows)
        if len(calls) == 2:
            raise MemoryError("simulated crash")
        original(self, batch)

    monkeypatch.setattr(writers.OutputWriter, "write", write_then_crash)
    path = write(frame(), tmp_path / "in.parquet")
    with pytest.raises(MemoryError):
        scoring_cli.main(
            [str(path), "--bundle", str(tiny_bundle), "--output", str(tmp_path / "out.parquet"), "--no-progress"]
        )
    assert calls == [3, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_inputs_whose_columns_differ_meet_by_name(tmp_path, capsys, tiny_bundle):
    write(frame(), tmp_path / "a.parquet")
    write(frame(100).drop(columns="note")[["text", "id"]], tmp_path / "b.parquet")
    out = tmp_path / "o.parquet"
    code, err = score(capsys, tmp_path / "a.parquet", tmp_path / "b.parquet", "--bundle", tiny_bundle, "--output", out)
    assert code == 0, err
    scored = pq.read_table(out)
    assert scored.column_names == ["id", "text", "note", *ADDED]
    assert scored.column("id").to_pylist() == [*range(len(TEXTS)), *range(100, 100 + len(TEXTS))]
    assert scored.column("note").to_pylist() == frame()["note"].tolist() + [None] * len(TEXTS)


def test_missing_default_bundle_is_one_line(tmp_path, capsys, monkeypatch):
    from sentiment_batch import bundle

    monkeypatch.setattr(bundle, "default_bundle_path", lambda: tmp_path / "absent")
    path = write(frame(), tmp_path / "in.csv")
    code, err = score(capsys, path, "--output", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and "absent does not exist" in err[0]


def test_existing_output_is_replaced_only_with_overwrite(tmp_path, capsys, tiny_bundle):
    path = write(frame(), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    out.write_text("precious")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out)
    assert code == 2 and len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]
    assert out.read_text() == "precious"
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--overwrite")[0] == 0
    assert read(out)["id"].tolist() == list(range(len(TEXTS)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_output_that_is_a_folder_is_refused(tmp_path, capsys, tiny_bundle):
    path = write(frame(), tmp_path / "in.csv")
    (tmp_path / "x.csv").mkdir()
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "x.csv", "--overwrite")
    assert code == 2 and len(err) == 1 and "is a folder" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "x.csv"] and not any((tmp_path / "x.csv").iterdir())


def test_empty_input_gives_header_only_output(tmp_path, capsys, tiny_bundle):
    path = tmp_path / "empty.csv"
    path.write_text("id,text\n")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "out.parquet")
    assert code == 0 and "scored 0 of 0 rows" in err[-1]
    assert pq.read_schema(tmp_path / "out.parquet").names == ["id", "text", *ADDED]


def test_schema_of_output(tmp_path, capsys, tiny_bundle):
    path = write(frame(), tmp_path / "in.parquet")
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", tmp_path / "out.parquet")[0] == 0
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("score").type == pa.float32() and schema.field("label").type == pa.string()
    assert schema.field("id").type == pa.int64()


def test_a_text_column_of_numbers_fails_the_run_with_exit_3_and_no_output(tmp_path, capsys, tiny_bundle):
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    code, err = score(capsys, tmp_path / "ints.parquet", "--bundle", tiny_bundle, "--output", tmp_path / "out.parquet")
    assert code == 3
    assert err[-2].startswith("scored 0 of 2 rows") and "2 unscorable (non-string text (int): 2)" in err[-2]
    assert err[-1] == (
        "sentiment-batch score: error: no row could be scored (2 rows; non-string text (int): 2); nothing was published"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ints.parquet"]


def test_columns_csv_cannot_hold_exit_2_without_output(tmp_path, capsys, tiny_bundle):
    pq.write_table(pa.table({"text": ["a"], "tags": [[1, 2]]}), tmp_path / "nested.parquet")
    code, err = score(capsys, tmp_path / "nested.parquet", "--bundle", tiny_bundle, "--output", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and "cannot write these columns to CSV" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested.parquet"]


def test_same_file_twice_is_scored_twice(tmp_path, capsys, tiny_bundle):
    path = write(frame(), tmp_path / "in.parquet")
    code, err = score(capsys, path, path, "--bundle", tiny_bundle, "--output", tmp_path / "out.parquet")
    assert code == 0 and pq.read_table(tmp_path / "out.parquet").num_rows == 2 * len(TEXTS)


def test_readme_main_command_scores_the_sample_file_with_the_committed_bundle(tmp_path, capsys):
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "reviews.csv"
    output = tmp_path / "scored.csv"
    code, err = score(capsys, sample, "--output", output)  # no --bundle: the one shipped with the package
    assert code == 0
    scored, original = read(output), read(sample)
    assert scored["id"].tolist() == original["id"].tolist()
    assert scored["text"].tolist() == original["text"].tolist()
    assert set(scored.loc[scored["error"] == "", "label"]) == {"negative", "positive"}
    assert "of 300 rows" in err[-1]


def test_committed_bundle_reads_sentiment():
    from helpers import REVIEWS
    from sentiment_batch import Scorer

    predictions = Scorer.from_bundle().predict([text for text, _ in REVIEWS])
    assert [p["label"] for p in predictions] == ["positive" if positive else "negative" for _, positive in REVIEWS]


# Bytes no UTF-8 decoder accepts, overlong and surrogate forms included; each row's neighbours are scored.
BAD_BYTES = [b"caf\xe9", b"\xc0\xaf overlong", b"\xed\xa0\x80 surrogate", b"cut \xe2\x82"]


@pytest.mark.parametrize("target", [".parquet", ".csv"])
@pytest.mark.parametrize("source", [".parquet", ".csv"])
def test_invalid_utf8_rows_get_an_error_and_the_output_stays_valid_text(tmp_path, capsys, tiny_bundle, source, target):
    cells = [b"great film", *BAD_BYTES, b"awful film"]
    path = tmp_path / f"in{source}"
    if source == ".parquet":
        pq.write_table(
            pa.table({"id": range(len(cells)), "text": pa.array(cells, pa.binary()).view(pa.string())}), path
        )
    else:
        path.write_bytes(b"id,text\n" + b"".join(b"%d,%s\n" % (row, cell) for row, cell in enumerate(cells)))
    out = tmp_path / f"out{target}"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out)
    assert code == 0 and f"{len(BAD_BYTES)} unscorable (invalid UTF-8: {len(BAD_BYTES)})" in err[-1]
    if target == ".parquet":
        scored = pq.read_table(out)
        scored.validate(full=True)  # every string is UTF-8: any reader can read the file
        texts, errors = scored.column("text").to_pylist(), scored.column("error").to_pylist()
        labels = scored.column("label").to_pylist()
    else:
        scored = pd.read_csv(out, keep_default_na=False, encoding="utf-8")  # strict UTF-8
        texts, labels = scored["text"].tolist(), [label or None for label in scored["label"]]
        errors = [error or None for error in scored["error"]]
    # Each bad byte sequence is U+FFFD; the rest of the cell, and every other cell, as it was.
    assert texts == [cell.decode("utf-8", "replace") for cell in cells]
    assert errors == [None, *["invalid UTF-8"] * len(BAD_BYTES), None]
    assert labels[0] is not None and labels[-1] is not None and labels[1:-1] == [None] * len(BAD_BYTES)


def test_duplicate_text_column_in_parquet_is_one_line(tmp_path, capsys, tiny_bundle):
    table = pa.Table.from_arrays([pa.array([1]), pa.array(["a"]), pa.array(["b"])], names=["id", "text", "text"])
    pq.write_table(table, tmp_path / "dup.parquet")
    code, err = score(capsys, tmp_path / "dup.parquet", "--bundle", tiny_bundle, "--output", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and "has 2 columns named 'text'; keep one" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.parquet"]


@pytest.mark.parametrize("target", [".csv", ".parquet"])
def test_csv_header_names_come_out_exactly_as_they_came_in(tmp_path, capsys, tiny_bundle, target):
    path = tmp_path / "names.csv"
    path.write_bytes(b"id,text,,note,note\n1,great,x,a,b\n2,awful,y,c,d\n")
    out = tmp_path / f"out{target}"
    assert score(capsys, path, "--bundle", tiny_bundle, "--output", out)[0] == 0
    if target == ".csv":
        assert out.read_bytes().split(b"\n")[0].startswith(b'"id","text","","note","note","label"')
        rows = [line.split(b",")[:5] for line in out.read_bytes().split(b"\n")[1:3]]
        assert rows == [[b'"1"', b'"great"', b'"x"', b'"a"', b'"b"'], [b'"2"', b'"awful"', b'"y"', b'"c"', b'"d"']]
    else:
        table = pq.ParquetFile(out).read()
        assert table.schema.names == ["id", "text", "", "note", "note", *ADDED]
        assert [column.to_pylist() for column in table.columns[2:5]] == [["x", "y"], ["a", "c"], ["b", "d"]]


# Real processes. As root, capabilities are dropped (setpriv), so file permissions apply to the run as to any user;
# namespaces come from unshare, as root or, failing that, inside a user namespace.
def run_cli(*args, prefix=(), **kwargs):
    import subprocess
    import sys

    command = [*prefix, sys.executable, "-m", "sentiment_batch.cli", "score", *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


def first_working(prefixes, probe, reason):
    """The first command prefix under which `probe` (a shell command) succeeds; skip the test if none does."""
    import subprocess

    for prefix in prefixes:
        try:
            if subprocess.run([*prefix, "sh", "-c", probe], capture_output=True, timeout=60).returncode == 0:
                return list(prefix)
        except OSError:
            continue
    pytest.skip(reason)


def unprivileged():
    import os

    if os.geteuid() != 0:
        return []
    setpriv = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    return first_working([setpriv], "true", "running as root and setpriv cannot drop capabilities here")


def pid_namespace():
    return first_working([["unshare", "-pf"], ["unshare", "-Urpf"]], "true", "unshare cannot make a PID namespace here")


def locked_output_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    return folder / "out.csv"


def unreadable_input(tmp_path):
    (tmp_path / "in.csv").chmod(0)
    return tmp_path / "out.csv"


@pytest.mark.parametrize(
    ("setup", "match"),
    [(locked_output_folder, "cannot write .*out.csv: Permission denied"), (unreadable_input, "Permission denied")],
)
def test_permission_problems_are_one_line(tmp_path, tiny_bundle, setup, match):
    import re

    prefix = unprivileged()
    source = write(frame(), tmp_path / "in.csv")
    output = setup(tmp_path)
    result = run_cli(source, "--bundle", tiny_bundle, "--output", output, prefix=prefix)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and re.search(match, lines[0]), result.stderr
    assert not output.exists() and not list(output.parent.glob(".*"))


def test_unreadable_bundle_file_is_one_line(tmp_path, bundle_copy):
    prefix = unprivileged()
    (bundle_copy / "tokenizer.json").chmod(0)
    source = write(frame(), tmp_path / "in.csv")
    result = run_cli(source, "--bundle", bundle_copy, "--output", tmp_path / "out.csv", prefix=prefix)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "cannot read" in result.stderr and "tokenizer.json: Permission denied" in result.stderr


@pytest.fixture
def immutable():
    """`chattr +i` on paths for the test's length (needs CAP_LINUX_IMMUTABLE and a file system that has it)."""
    import subprocess

    locked = []

    def lock(path):
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here (needs root and ext4 or similar)")
        locked.append(path)

    yield lock
    for path in locked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_immutable_output_folder_fails_before_the_model_loads(tmp_path, capsys, tiny_bundle, immutable, monkeypatch):
    from sentiment_batch import scorer

    source = write(frame(), tmp_path / "in.csv")
    folder = tmp_path / "frozen"
    folder.mkdir()
    immutable(folder)
    monkeypatch.setattr(scorer, "_session", lambda bundle: pytest.fail("the model was loaded"))
    code, err = score(capsys, source, "--bundle", tiny_bundle, "--output", folder / "out.csv")
    assert code == 2 and len(err) == 1 and "cannot write" in err[0] and "Operation not permitted" in err[0]
    assert list(folder.iterdir()) == []


def test_immutable_output_with_overwrite_is_kept_and_one_line(tmp_path, capsys, tiny_bundle, immutable):
    source = write(frame(), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    out.write_text("precious")
    immutable(out)
    code, err = score(capsys, source, "--bundle", tiny_bundle, "--output", out, "--overwrite")
    assert code == 2 and len(err) == 1 and "Operation not permitted" in err[0]
    assert out.read_text() == "precious" and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


@pytest.mark.parametrize("target", [".csv", ".parquet"])
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, tiny_bundle, target):
    """A real full disk: a 16 kB tmpfs, mounted in a private mount namespace (needs root)."""
    import shlex
    import sys

    mount = f"mount -t tmpfs -o size=16k tmpfs {tmp_path}"
    namespace = first_working([["unshare", "-m"], ["unshare", "-Urm"]], mount, "mounting a tmpfs needs root here")
    source = write(pd.concat([frame(i * 10) for i in range(300)], ignore_index=True), tmp_path / "in.parquet")
    disk = tmp_path / "disk"
    disk.mkdir()
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(source), "--bundle", str(tiny_bundle)]
    command += ["--output", str(disk / f"out{target}"), "--no-progress"]
    script = f"mount -t tmpfs -o size=16k tmpfs {disk} && {shlex.join(command)}; echo exit=$?; ls -A {disk}"
    result = subprocess_run([*namespace, "sh", "-c", script])
    assert result.stdout.splitlines() == ["exit=2"], result.stdout  # and nothing left on the disk
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sentiment-batch score: error: cannot write") and "No space left on device" in line


def subprocess_run(command):
    import subprocess

    return subprocess.run(command, capture_output=True, text=True, timeout=300)


# Two runs as two containers would start them: each in its own PID namespace, so both are PID 1.
def race(tmp_path, bundle, overwrite):
    import os
    import subprocess
    import sys

    from helpers import PAUSING_CLI

    namespace = pid_namespace()
    runs = tmp_path / "runs"
    runs.mkdir()
    out = tmp_path / "out.parquet"
    processes = []
    for name, start in (("a", 0), ("b", 100)):
        source = write(
            pd.concat([frame(start + i * 10) for i in range(5)], ignore_index=True), tmp_path / f"{name}.parquet"
        )
        command = [*namespace, sys.executable, "-c", PAUSING_CLI, "publish", str(runs / name), "score"]
        command += [str(source), "--bundle", str(bundle), "--output", str(out), "--no-progress"]
        command += ["--overwrite"] if overwrite else []
        env = {**os.environ, "RUNS": "2"}
        processes.append(subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env))
    results = [(process.wait(timeout=300), process.stderr.read()) for process in processes]
    assert [(runs / name).read_text() for name in ("a", "b")] == ["1", "1"]  # both were PID 1
    ids = pq.read_table(out).column("id").to_pylist()  # a whole, readable Parquet file
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.parquet", "b.parquet", "out.parquet", "runs"]
    return results, ids


def test_two_runs_in_separate_pid_namespaces_cannot_mix_their_output(tmp_path, tiny_bundle):
    results, ids = race(tmp_path, tiny_bundle, overwrite=False)
    assert sorted(code for code, _ in results) == [0, 2]
    [(winner, _)] = [(index, err) for index, (code, err) in enumerate(results) if code == 0]
    [loser_err] = [err for code, err in results if code == 2]
    assert "appeared while it was being written; the new output was not published" in loser_err
    assert len(loser_err.strip().splitlines()) == 1
    start = (0, 100)[winner]
    assert ids == [start + i * 10 + row for i in range(5) for row in range(len(TEXTS))]


def test_two_runs_with_overwrite_leave_one_whole_output(tmp_path, tiny_bundle):
    results, ids = race(tmp_path, tiny_bundle, overwrite=True)
    assert [code for code, _ in results] == [0, 0]
    assert ids in (
        [i * 10 + row for i in range(5) for row in range(len(TEXTS))],
        [100 + i * 10 + row for i in range(5) for row in range(len(TEXTS))],
    )


def test_a_symlink_at_the_old_predictable_temp_name_is_ignored(tmp_path, tiny_bundle):
    """A name like `.NAME.PID.tmp` is guessable (every container's run is PID 1): links planted there change nothing."""
    namespace = pid_namespace()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (".out.csv.1.tmp", f".out.csv.1{TEMP_SUFFIX}", ".out.csv.tmp"):
        (tmp_path / name).symlink_to(victim)
    source = write(frame(), tmp_path / "in.csv")
    result = run_cli(source, "--bundle", tiny_bundle, "--output", tmp_path / "out.csv", prefix=namespace)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious" and read(tmp_path / "out.csv")["id"].tolist() == list(range(len(TEXTS)))


def test_the_local_engine_takes_keyword_arguments_and_returns_a_summary(tmp_path, tiny_bundle):
    from sentiment_batch.bundle import load_bundle

    source = write(frame(), tmp_path / "in.parquet")
    out = tmp_path / "out.csv"
    summary = local_engine.score_files(
        [source], out, bundle=load_bundle(tiny_bundle), text_column="text", batch_size=2, threads=1, progress=False
    )
    assert (summary.inputs, summary.rows, summary.scored) == ([str(source)], len(TEXTS), len(TEXTS) - 3)
    assert summary.errors == {"null text": 1, "empty text": 1, "whitespace-only text": 1}
    assert summary.line().startswith(f"scored 4 of {len(TEXTS)} rows from 1 file(s) into {out}: 3 unscorable")
    assert read(out)["id"].tolist() == list(range(len(TEXTS)))


# Issue 23: mixed inputs, encodings, closed stderr, odd names.
@pytest.mark.parametrize(
    ("first", "second", "column"),
    [
        (pa.table({"score_in": pa.array([0.1], pa.float32()), "text": ["a"]}), pa.array([1e300]), "score_in"),
        (pa.table({"id": pa.array([7], pa.int64()), "text": ["a"]}), "007", "id"),
    ],
    ids=["float32-then-float64", "int64-then-csv-text"],
)
def test_inputs_whose_column_types_cannot_meet_are_refused_before_anything_is_written(
    tmp_path, capsys, tiny_bundle, first, second, column
):
    pq.write_table(first, tmp_path / "a.parquet")
    if isinstance(second, str):
        (tmp_path / "b.csv").write_text(f"{column},text\n{second},b\n")
        other = tmp_path / "b.csv"
    else:
        pq.write_table(pa.table({column: second, "text": ["b"]}), tmp_path / "b.parquet")
        other = tmp_path / "b.parquet"
    code, err = score(
        capsys, tmp_path / "a.parquet", other, "--bundle", tiny_bundle, "--output", tmp_path / "o.parquet"
    )
    assert code == 2 and len(err) == 1
    assert f"{other}: column '{column}' holds" in err[0] and "a.parquet holds" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.parquet", other.name])


def test_inputs_are_widened_where_no_value_changes(tmp_path, capsys, tiny_bundle):
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "text": ["good", "bad"]}), tmp_path / "a.parquet")
    big = pa.table({"id": pa.array([2**40], pa.int64()), "text": pa.array(["fine"], pa.large_string())})
    pq.write_table(big, tmp_path / "b.parquet")
    out = tmp_path / "out.parquet"
    code, _ = score(capsys, tmp_path / "a.parquet", tmp_path / "b.parquet", "--bundle", tiny_bundle, "--output", out)
    scored = pq.read_table(out)
    assert code == 0 and scored.schema.field("id").type == pa.int64()
    assert scored.column("id").to_pylist() == [1, 2, 2**40] and scored.column("text").to_pylist() == [
        "good",
        "bad",
        "fine",
    ]


def test_csv_inputs_in_another_encoding(tmp_path, capsys, tiny_bundle):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,note,text\n1,Ñandú,great film\n2,ok,café <br /> awful\n".encode("latin-1"))
    out = tmp_path / "out.parquet"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out)
    assert code == 2 and len(err) == 1 and "line 2, column 'note': bytes that are not UTF-8" in err[0]
    assert not out.exists()
    code, err = score(capsys, path, "--bundle", tiny_bundle, "--output", out, "--encoding", "latin-1")
    scored = pq.read_table(out)
    assert code == 0 and scored.column("note").to_pylist() == ["Ñandú", "ok"]
    assert scored.column("text").to_pylist()[1] == "café <br /> awful" and scored.column("error").null_count == 2


def run_paused_or_plain(command, **kwargs):
    import subprocess

    return subprocess.run(command, capture_output=True, timeout=300, **kwargs)


def test_a_closed_stderr_changes_nothing(tmp_path, tiny_bundle):
    import shlex
    import sys

    source = write(pd.concat([frame(i * 10) for i in range(50)], ignore_index=True), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(source), "--output", str(out)]
    command += ["--bundle", str(tiny_bundle)]
    result = run_paused_or_plain(["sh", "-c", f"exec 2>&-; exec {shlex.join(command)}"])
    assert result.returncode == 0 and result.stdout == b""
    scored = pq.read_table(out)
    assert scored.num_rows == 50 * len(TEXTS) and scored.column("id").to_pylist()[:3] == [0, 1, 2]


def test_a_stderr_whose_reader_went_away_changes_nothing(tmp_path, tiny_bundle):
    import os
    import subprocess
    import sys

    source = write(pd.concat([frame(i * 10) for i in range(300)], ignore_index=True), tmp_path / "in.parquet")
    out = tmp_path / "out.csv"
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write to stderr fails with EPIPE
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(source), "--output", str(out)]
    command += ["--bundle", str(tiny_bundle), "--batch-size", "4"]  # the progress bar on, updated often
    process = subprocess.run(command, stderr=write_end, stdout=subprocess.PIPE, timeout=300)
    os.close(write_end)
    assert process.returncode == 0 and process.stdout == b""
    assert read(out)["id"].tolist()[-1] == 2990 + len(TEXTS) - 1


def test_a_244_byte_output_name_works(tmp_path, capsys, tiny_bundle):
    source = write(frame(), tmp_path / "in.csv")
    out = tmp_path / ("r" * 236 + ".parquet")
    assert len(out.name.encode()) == 244
    code, err = score(capsys, source, "--bundle", tiny_bundle, "--output", out)
    assert code == 0, err
    assert pq.read_table(out).num_rows == len(TEXTS) and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.csv",
        out.name,
    ]


def test_file_names_that_are_not_utf8_or_hold_a_newline_work_or_are_named_in_one_line(tmp_path, capsys, tiny_bundle):
    import os

    odd = os.fsdecode(b"caf\xe9 reviews.parquet")  # a Latin-1 name on a UTF-8 system
    with open(tmp_path / odd, "wb") as handle:  # pyarrow itself takes UTF-8 paths only
        frame().to_parquet(handle)
    out = tmp_path / os.fsdecode(b"scored \xff.parquet")
    code, err = score(capsys, tmp_path / odd, "--bundle", tiny_bundle, "--output", out)
    assert code == 0 and "\\xff" in err[-1]
    with open(out, "rb") as handle:
        assert pq.read_table(handle).num_rows == len(TEXTS)
    broken = tmp_path / os.fsdecode(b"broken \xe9.parquet")
    broken.write_bytes(b"not parquet")
    code, err = score(capsys, broken, "--bundle", tiny_bundle, "--output", tmp_path / "o.parquet")
    assert code == 2 and len(err) == 1 and "broken \\xe9.parquet as PARQUET" in err[0]
    code, err = score(capsys, tmp_path / "two\nlines.csv", "--bundle", tiny_bundle, "--output", tmp_path / "o.csv")
    assert code == 2 and len(err) == 1 and "two\\nlines.csv does not exist" in err[0]
    (tmp_path / "two\nlines.csv").write_text("id,text\n1,great\n")
    code, err = score(capsys, tmp_path / "two\nlines.csv", "--bundle", tiny_bundle, "--output", tmp_path / "a\nb.csv")
    assert code == 0 and len(err) == 1 and "a\\nb.csv" in err[0]


def with_null_texts(path, share, rows=200):
    """A Parquet file of `rows` reviews, `share` of them with a null text."""
    nulls = round(rows * share)
    texts = [None] * nulls + [f"a fine film, number {row}" for row in range(rows - nulls)]
    pq.write_table(pa.table({"id": range(rows), "text": texts}), path)
    return path


@pytest.mark.parametrize(("share", "expected"), [(0.2, 3), (0.05, 0)])
def test_max_error_rate_fails_the_run_beyond_it(tmp_path, capsys, tiny_bundle, share, expected):
    path = with_null_texts(tmp_path / "in.parquet", share)
    out = tmp_path / "out.parquet"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "-o", out, "--max-error-rate", "0.1")
    assert code == expected, err
    assert out.exists() == (expected == 0)
    if expected:
        assert "20.0% of rows could not be scored (null text: 40), more than the 10.0% allowed" in err[-1]
    result = run_cli(path, "--bundle", tiny_bundle, "-o", tmp_path / "sub.parquet", "--max-error-rate", "0.1")
    assert result.returncode == expected, result.stderr
    assert (tmp_path / "sub.parquet").exists() == (expected == 0)


def test_a_run_that_scores_nothing_exits_3_as_a_process_and_publishes_nothing(tmp_path, tiny_bundle):
    path = with_null_texts(tmp_path / "in.parquet", 1.0, rows=5)
    result = run_cli(path, "--bundle", tiny_bundle, "-o", tmp_path / "out.csv", "--summary", tmp_path / "s.json")
    assert result.returncode == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "s.json"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["rows"], summary["scored"], summary["errors"], summary["output"]) == (5, 0, {"null text": 5}, None)


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "nan"])
def test_a_max_error_rate_outside_0_to_1_is_refused(tmp_path, capsys, tiny_bundle, rate):
    path = with_null_texts(tmp_path / "in.parquet", 0.0, rows=3)
    code, err = score(capsys, path, "--bundle", tiny_bundle, "-o", tmp_path / "out.csv", "--max-error-rate", rate)
    assert code == 2 and "the maximum error rate must be a number from 0 to 1" in err[-1]


def test_the_summary_json_counts_what_the_output_holds(tmp_path, capsys, tiny_bundle):
    path = with_null_texts(tmp_path / "in.parquet", 0.05)
    out, summary_path = tmp_path / "out.parquet", tmp_path / "summary.json"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "-o", out, "--summary", summary_path)
    assert code == 0, err
    summary, scored = json.loads(summary_path.read_text()), pq.read_table(out)
    assert list(summary) == [
        "rows", "scored", "errors", "labels", "seconds", "rows_per_second", "inputs", "output", "bundle"
    ]  # fmt: skip
    errors = pd.Series(scored.column("error").to_pylist()).dropna().value_counts().to_dict()
    labels = pd.Series(scored.column("label").to_pylist()).dropna().value_counts().to_dict()
    assert summary["rows"] == scored.num_rows and summary["scored"] == sum(labels.values())
    assert summary["errors"] == errors and summary["labels"] == labels
    assert summary["inputs"] == [str(path)] and summary["output"] == str(out)
    manifest = json.loads((tiny_bundle / MANIFEST_FILE).read_text())
    assert summary["bundle"]["model_sha256"] == manifest["model_sha256"]
    assert summary["bundle"]["labels"] == manifest["labels"]
    provenance = json.loads(scored.schema.metadata[b"sentiment_batch"])
    assert provenance["model_sha256"] == manifest["model_sha256"]
    assert (provenance["text_column"], provenance["explain"], provenance["labels"]) == ("text", 0, manifest["labels"])


def test_stderr_in_a_file_gets_whole_lines_never_carriage_returns(tmp_path, tiny_bundle):
    import subprocess
    import sys

    path = with_null_texts(tmp_path / "in.parquet", 0.05, rows=2000)
    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(path), "--bundle", str(tiny_bundle)]
    with log.open("w") as stderr:  # no --no-progress: progress is on, as in a scheduled job
        result = subprocess.run([*command, "-o", str(tmp_path / "out.csv")], stderr=stderr, timeout=300)
    assert result.returncode == 0
    text = log.read_text()
    assert "\r" not in text and text.splitlines()[-1].startswith("scored 1900 of 2000 rows")


def test_version_is_0_3_0(capsys):
    import sentiment_batch

    assert cli.main(["--version"]) == 0
    assert (
        capsys.readouterr().out.strip() == "sentiment-batch 0.3.0" == f"sentiment-batch {sentiment_batch.__version__}"
    )


@pytest.mark.parametrize(
    ("encoding", "match"),
    [
        ("rot13", "'rot13' is not a text encoding"),
        ("base64", "'base64' is not a text encoding"),
        ("zlib", "'zlib' is not a text encoding"),
        ("idna", "'idna' is not a text encoding"),
        ("utf-16", "as CSV: UTF-16 stream does not start with BOM"),
        ("no-such-codec", "unknown encoding 'no-such-codec'"),
    ],
)
def test_an_encoding_the_reader_cannot_use_is_one_line_and_exit_2(tmp_path, capsys, tiny_bundle, encoding, match):
    path = write(frame(), tmp_path / "in.csv")
    code, err = score(capsys, path, "--bundle", tiny_bundle, "-o", tmp_path / "out.csv", "--encoding", encoding)
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    "header", [",".join(f"column{index}" for index in range(10_000)), "x" * 2_000_000], ids=["wide", "one-line"]
)
def test_messages_that_list_your_columns_stay_short(tmp_path, capsys, tiny_bundle, header):
    (tmp_path / "in.csv").write_text(header, encoding="utf-8")
    code, err = score(capsys, tmp_path / "in.csv", "--bundle", tiny_bundle, "-o", tmp_path / "out.csv")
    assert code == 2 and len(err) == 1 and "has no column 'text'" in err[0] and len(err[0]) < 500, err[0][:1000]
