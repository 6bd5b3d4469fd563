"""Writing outputs: every format and compression, stdout, all or nothing, provenance metadata."""

from __future__ import annotations

import csv
import io
import json
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import etl_table
from sentiment_batch.errors import UserError
from sentiment_batch.formats import FileFormat
from sentiment_batch.publish import TEMP_SUFFIX
from sentiment_batch.writers import PROVENANCE_KEY, OutputWriter, output_format, provenance

OPEN = {"gzip": "gzip", "bz2": "bz2", "zstd": "zstd"}


def write(table, output, fmt, **options):
    with OutputWriter(output, table.schema, fmt, **options) as writer:
        for batch in table.to_batches(max_chunksize=128):
            writer.write(batch)


def decompressed(path, fmt):
    if fmt.compression is None:
        return path.read_bytes()
    with pa.input_stream(str(path), compression=fmt.compression) as stream:
        return stream.read()


def read_back(data: bytes, fmt: FileFormat):
    """The output as independent readers see it: Python's csv and json modules, pyarrow's Parquet and IPC."""
    if fmt.kind in ("csv", "tsv"):
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=fmt.delimiter))
        return rows[0], rows[1:]
    if fmt.kind == "jsonl":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    if fmt.kind == "parquet":
        return pq.read_table(pa.BufferReader(data))
    return pa.ipc.open_file(pa.BufferReader(data)).read_all()


def as_csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@pytest.mark.parametrize(
    "name", ["csv", "csv.gz", "csv.bz2", "csv.zst", "tsv", "jsonl", "ndjson.gz", "parquet", "arrow", "feather"]
)
def test_every_format_holds_every_row_and_value_in_order(tmp_path, name):
    table = etl_table()
    fmt = FileFormat.named(name)
    path = tmp_path / f"out.{name}"
    write(table, path, output_format(str(path), None))
    assert output_format(str(path), None) == fmt
    written = read_back(decompressed(path, fmt), fmt)
    if fmt.kind in ("csv", "tsv"):
        header, rows = written
        assert header == table.column_names
        expected = [[as_csv_cell(value) for value in row.values()] for row in table.to_pylist()]
        assert [row[:3] + row[4:] for row in rows] == [row[:3] + row[4:] for row in expected]
        assert [float(row[3]) if row[3] else None for row in rows] == table.column("price").to_pylist()
    elif fmt.kind == "jsonl":
        assert written == table.to_pylist()
    else:
        assert written.equals(table)
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]


def test_stdout_gets_the_whole_output_only_at_the_end(monkeypatch):
    table = etl_table(300)
    stdout = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=stdout))
    with OutputWriter("-", table.schema, FileFormat.named("parquet")) as writer:
        writer.write(table.to_batches()[0])
        assert stdout.getvalue() == b""
    assert pq.read_table(pa.BufferReader(stdout.getvalue())).equals(table)


def test_a_failed_run_writes_nothing_to_stdout(monkeypatch):
    table = etl_table(10)
    stdout = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=stdout))
    with pytest.raises(RuntimeError), OutputWriter("-", table.schema, FileFormat.named("csv")) as writer:
        writer.write(table.to_batches()[0])
        raise RuntimeError("the run failed")
    assert stdout.getvalue() == b""


def test_a_failed_run_publishes_no_file(tmp_path):
    table = etl_table(10)
    path = tmp_path / "out.csv.gz"
    with pytest.raises(RuntimeError), OutputWriter(path, table.schema, FileFormat.of(path)) as writer:
        writer.write(table.to_batches()[0])
        assert any(entry.name.endswith(TEMP_SUFFIX) for entry in tmp_path.iterdir())
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []


def test_stdout_and_names_without_extension_need_a_format(tmp_path):
    with pytest.raises(UserError, match="stdout .* name the output format"):
        output_format("-", None)
    with pytest.raises(UserError, match="unknown extension"):
        output_format(str(tmp_path / "scored"), None)
    assert output_format(str(tmp_path / "scored"), FileFormat.named("jsonl.gz")) == FileFormat("jsonl", "gzip")


@pytest.mark.parametrize("name", ["parquet", "arrow"])
def test_binary_outputs_carry_provenance(tmp_path, name):
    table = etl_table(10)
    path = tmp_path / f"out.{name}"
    metadata = provenance("ab" * 32, ["negative", "positive"], "text", 3)
    write(table, path, FileFormat.of(path), metadata=metadata)
    schema = read_back(path.read_bytes(), FileFormat.of(path)).schema
    record = json.loads(schema.metadata[PROVENANCE_KEY.encode()])
    assert record["model_sha256"] == "ab" * 32
    assert record["labels"] == ["negative", "positive"] and record["text_column"] == "text" and record["explain"] == 3
    import sentiment_batch

    assert record["version"] == sentiment_batch.__version__


def test_json_lines_hold_nan_as_null_and_nested_values_as_json(tmp_path):
    table = pa.table({"x": [float("nan"), 1.5], "e": [[{"phrase": "good", "weight": 1.0}], []]})
    path = tmp_path / "out.jsonl"
    write(table, path, FileFormat.of(path))
    assert read_back(path.read_bytes(), FileFormat.of(path)) == [
        {"x": None, "e": [{"phrase": "good", "weight": 1.0}]},
        {"x": 1.5, "e": []},
    ]


def test_a_named_delimiter_is_written(tmp_path):
    path = tmp_path / "out.csv"
    write(pa.table({"a": ["x;y", "z"], "b": [1, 2]}), path, FileFormat.of(path), delimiter=";")
    assert path.read_text(encoding="utf-8") == '"a";"b"\n"x;y";1\n"z";2\n'


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_atomic_writer_renames_on_success(tmp_path, suffix):
    batch = pa.record_batch({"id": [1, 2], "text": ["a", None]})
    path = tmp_path / f"out{suffix}"
    with OutputWriter(path, batch.schema, FileFormat.of(path)) as writer:
        writer.write(batch)
        writer.write(batch)
        [temp] = tmp_path.iterdir()
        assert not path.exists() and temp.name.startswith(f".{path.name}.") and temp.name.endswith(TEMP_SUFFIX)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert len(read_back(path.read_bytes(), FileFormat.of(path))[1 if suffix == ".csv" else 0]) == 4


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_atomic_writer_leaves_nothing_on_failure(tmp_path, suffix):
    batch = pa.record_batch({"text": ["a"]})
    path = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError), OutputWriter(path, batch.schema, FileFormat.of(path)) as writer:
        writer.write(batch)
        raise RuntimeError("crash mid-way")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_keeps_old_output_on_failure(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("previous run\n")
    with pytest.raises(RuntimeError), OutputWriter(path, pa.schema([("text", pa.string())]), FileFormat.of(path)):
        raise RuntimeError("crash")
    assert path.read_text() == "previous run\n"
