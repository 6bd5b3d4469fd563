"""`sentiment-batch score` on the files ETL jobs hold: every format in and out, compressed, stdin and stdout,
folders, hive partitions, evolving columns; 1,000 rows from sample_data, every input column kept as it was."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import types

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from helpers import etl_table
from sentiment_batch import Scorer, cli
from sentiment_batch.formats import FileFormat
from sentiment_batch.readers import ReadOptions, conform, discover, open_source, unified_schema

ADDED = ["label", "score", "prob_negative", "prob_positive", "error"]


def score(capsys, *args):
    code = cli.main(["score", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err.strip().splitlines()


def read_output(path, fmt=None):
    """An output as the package reads it (each reader is checked against independent ones in test_readers)."""
    sources = [open_source(file) for file in discover([str(path)], ReadOptions(format=fmt))]
    schema = unified_schema(sources)
    batches = [conform(batch, schema, source) for source in sources for batch in source.batches()]
    return pa.Table.from_batches(batches, schema)


def as_text(table):
    """The table's cells as CSV writers write them (Python's csv module for inputs): text as written."""
    cells = [[("" if value is None else str(value)) for value in row.values()] for row in table.to_pylist()]
    return pa.table({name: [row[i] for row in cells] for i, name in enumerate(table.column_names)})


def write_input(table, path, name):
    """`table` in the format `name` names, written by libraries other than the package."""
    fmt = FileFormat.named(name)
    if fmt.kind in ("csv", "tsv"):
        text = io.StringIO(newline="")
        writer = csv.writer(text, delimiter=fmt.delimiter)
        writer.writerow(table.column_names)
        writer.writerows([list(row.values()) for row in as_text(table).to_pylist()])
        data = text.getvalue().encode()
    elif fmt.kind == "jsonl":
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist()).encode()
    elif fmt.kind == "parquet":
        pq.write_table(table, path, row_group_size=400)
        return as_kept(table, fmt)
    else:
        feather.write_feather(table, path, chunksize=400)
        return as_kept(table, fmt)
    if fmt.compression is not None:
        data = gzip.compress(data) if fmt.compression == "gzip" else _compressed(data, fmt.compression)
    path.write_bytes(data)
    return as_kept(table, fmt)


def _compressed(data, codec):
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, codec) as stream:
        stream.write(data)
    return sink.getvalue().to_pybytes()


def as_kept(table, fmt):
    """What the output must hold of the input's columns: CSV cells as text, JSON values as JSON types, the rest
    exactly."""
    if fmt.kind in ("csv", "tsv"):
        return as_text(table)
    if fmt.kind == "jsonl":
        return table.set_column(2, "stars", table.column("stars").cast(pa.int64()))
    return table


def sample_answers(texts):
    """`Scorer.predict`'s answers for texts, with the shipped bundle."""
    with Scorer.from_bundle() as scorer:
        return scorer.predict(texts)


def check_scored(scored, expected):
    """Every input column kept with its values and types, in order, and every row with a text scored."""
    assert scored.column_names == [*expected.column_names, *ADDED]
    kept = scored.select(expected.column_names)
    assert kept.schema.equals(expected.schema), (kept.schema, expected.schema)
    assert kept.equals(expected)
    # sample_data's few blank reviews and those in other languages only, as the API finds them
    unscorable = [answer["error"] is not None for answer in sample_answers(expected.column("text").to_pylist())]
    errors = [error not in ("", None) for error in scored.column("error").to_pylist()]
    assert errors == unscorable and 0 < sum(unscorable) < len(unscorable) / 10
    labels = [label for label, failed in zip(scored.column("label").to_pylist(), errors, strict=True) if not failed]
    assert set(labels) <= {"negative", "positive"} and len(labels) == scored.num_rows - sum(unscorable)


INPUTS = ["csv", "csv.gz", "csv.bz2", "csv.zst", "tsv", "tsv.gz", "jsonl", "jsonl.gz", "ndjson", "parquet", "arrow"]


@pytest.mark.parametrize("name", [*INPUTS, "feather"])
def test_every_input_format_round_trips_every_column_in_order(tmp_path, capsys, tiny_bundle, name):
    path = tmp_path / f"in.{name}"
    expected = write_input(etl_table(), path, name)
    out = tmp_path / "out.parquet"
    code, err = score(capsys, path, "--bundle", tiny_bundle, "-o", out)
    assert code == 0, err
    check_scored(pq.read_table(out), expected)


OUTPUTS = ["csv", "csv.gz", "tsv.bz2", "jsonl", "ndjson.zst", "parquet", "arrow", "feather"]


@pytest.mark.parametrize("name", OUTPUTS)
def test_every_output_format_holds_the_input_columns_in_order(tmp_path, capsys, tiny_bundle, name):
    table = etl_table()
    pq.write_table(table, tmp_path / "in.parquet")
    out = tmp_path / f"out.{name}"
    code, err = score(capsys, tmp_path / "in.parquet", "--bundle", tiny_bundle, "-o", out)
    assert code == 0, err
    scored = read_output(out)
    fmt = FileFormat.named(name)
    if fmt.kind in ("csv", "tsv"):  # floats and booleans as pyarrow writes them; the other cells exactly
        check_scored(scored.drop_columns(["price", "verified"]), as_text(table.drop_columns(["price", "verified"])))
        prices = [float(cell) if cell else None for cell in scored.column("price").to_pylist()]
        assert prices == table["price"].to_pylist()
        assert scored.column("verified").to_pylist() == [str(value).lower() for value in table["verified"].to_pylist()]
    else:
        check_scored(scored, as_kept(table, fmt))


def test_an_output_without_extension_takes_the_named_format(tmp_path, capsys, tiny_bundle):
    pq.write_table(etl_table(), tmp_path / "in.parquet")
    code, err = score(
        capsys, tmp_path / "in.parquet", "--bundle", tiny_bundle, "-o", tmp_path / "scored", "--output-format", "jsonl"
    )
    assert code == 0, err
    check_scored(read_output(tmp_path / "scored", FileFormat.named("jsonl")), as_kept(etl_table(), FileFormat("jsonl")))


@pytest.mark.parametrize("name", ["csv.gz", "jsonl", "parquet"])
def test_stdin_to_stdout(tmp_path, capsys, monkeypatch, tiny_bundle, name):
    path = tmp_path / f"in.{name}"
    expected = write_input(etl_table(), path, name)
    stdout = io.BytesIO()
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(path.read_bytes())))
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=stdout))
    code, err = score(
        capsys, "-", "--input-format", name, "--bundle", tiny_bundle, "-o", "-", "--output-format", "parquet"
    )
    assert code == 0, err
    assert "into stdout" in err[-1]
    check_scored(pq.read_table(pa.BufferReader(stdout.getvalue())), expected)


def test_a_folder_is_read_in_sorted_path_order(tmp_path, capsys, tiny_bundle):
    table = etl_table()
    folder = tmp_path / "in"
    folder.mkdir()
    for index, start in enumerate(range(0, 1000, 250)):  # part-0, part-1, part-2, part-3 ... named so 10 > 2
        pq.write_table(table.slice(start, 250), folder / f"part-{index:05d}.parquet")
    (folder / "_SUCCESS").write_text("")
    out = tmp_path / "out.parquet"
    code, err = score(capsys, folder, "--bundle", tiny_bundle, "-o", out)
    assert code == 0, err
    check_scored(pq.read_table(out), table)


def test_a_hive_partitioned_folder_keeps_its_partition_column(tmp_path, capsys, tiny_bundle):
    table = etl_table()
    lake = tmp_path / "lake"
    for source, start in (("amazon", 0), ("imdb", 500)):
        (lake / f"source={source}").mkdir(parents=True)
        pq.write_table(table.slice(start, 500), lake / f"source={source}" / "part-0.parquet")
    out = tmp_path / "out.parquet"
    code, err = score(capsys, f"{lake}/**/*.parquet", "--bundle", tiny_bundle, "-o", out)
    assert code == 0, err
    expected = table.append_column("source", pa.array(["amazon"] * 500 + ["imdb"] * 500))
    check_scored(pq.read_table(out), expected)


def test_reordered_and_evolving_columns_are_unified_by_name(tmp_path, capsys, tiny_bundle):
    table = etl_table()
    first, second = table.slice(0, 400), table.slice(400)
    pq.write_table(first.drop_columns(["note"]), tmp_path / "a.parquet")
    reordered = second.select(["note", "text", "day", "verified", "price", "stars", "id"])
    pq.write_table(reordered.set_column(5, "stars", reordered.column("stars").cast(pa.int64())), tmp_path / "b.parquet")
    out = tmp_path / "out.parquet"
    code, err = score(capsys, tmp_path / "a.parquet", tmp_path / "b.parquet", "--bundle", tiny_bundle, "-o", out)
    assert code == 0, err
    notes = [None] * 400 + second.column("note").to_pylist()
    expected = table.set_column(2, "stars", table.column("stars").cast(pa.int64())).drop_columns(["note"])
    expected = expected.append_column(pa.field("note", pa.string()), pa.array(notes, pa.string()))
    scored = pq.read_table(out)
    check_scored(scored, expected.cast(scored.select(expected.column_names).schema))


def test_keep_columns_and_a_delimiter(tmp_path, capsys, tiny_bundle):
    (tmp_path / "in.csv").write_text('id;text;secret\n1;"great; loved it";x\n2;awful;y\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    code, err = score(
        capsys, tmp_path / "in.csv", "--delimiter", ";", "--keep-columns", "id", "--bundle", tiny_bundle, "-o", out
    )
    assert code == 0, err
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == ";".join(f'"{name}"' for name in ["id", *ADDED])
    code, err = score(
        capsys,
        tmp_path / "in.csv",
        "--delimiter",
        ";",
        "--keep-columns",
        "nope",
        "--bundle",
        tiny_bundle,
        "-o",
        out,
        "--overwrite",
    )
    assert code == 2 and "no column(s) ['nope'] to keep" in err[-1]
