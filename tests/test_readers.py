"""Reading inputs: every format and compression, folders and hive partitions, stdin, unified columns, in order."""

from __future__ import annotations

import bz2
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
from sentiment_batch.errors import UserError
from sentiment_batch.formats import FileFormat
from sentiment_batch.readers import ReadOptions, conform, discover, open_source, unified_schema


def read_inputs(inputs, options=None, rows=100):
    """Every row of `inputs` as one table in the unified schema, read in batches of `rows`."""
    sources = [open_source(file, options) for file in discover([str(value) for value in inputs], options)]
    schema = unified_schema(sources)
    batches = [conform(batch, schema, source) for source in sources for batch in source.batches(rows, "text")]
    assert all(batch.num_rows <= rows for batch in batches)
    return pa.Table.from_batches(batches, schema)


def csv_cells(table, delimiter=","):
    """The table as CSV text, every cell as Python's csv module writes its str(), and those cells as strings."""
    cells = [[("" if value is None else str(value)) for value in row.values()] for row in table.to_pylist()]
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter)
    writer.writerow(table.column_names)
    writer.writerows(cells)
    as_strings = pa.table({name: [row[i] for row in cells] for i, name in enumerate(table.column_names)})
    return text.getvalue().encode("utf-8"), as_strings


def json_lines(table):
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist()).encode("utf-8")


COMPRESS = {
    None: lambda data: data,
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "zst": lambda data: pa.compress(data, "zstd", asbytes=True),
}


def zstd_frame(data):
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return sink.getvalue().to_pybytes()


COMPRESS["zst"] = zstd_frame


def expected_json(table):
    return table.set_column(2, "stars", table.column("stars").cast(pa.int64()))


@pytest.mark.parametrize("compression", [None, "gz", "bz2", "zst"])
@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "ndjson"])
def test_text_formats_read_every_row_as_written_in_order(tmp_path, kind, compression):
    table = etl_table()
    if kind in ("csv", "tsv"):
        data, expected = csv_cells(table, "\t" if kind == "tsv" else ",")
    else:
        data, expected = json_lines(table), expected_json(table)
    path = tmp_path / (f"in.{kind}" + (f".{compression}" if compression else ""))
    path.write_bytes(COMPRESS[compression](data))
    read = read_inputs([path])
    assert read.equals(expected)
    assert read.column("day").type == pa.string()  # a date-shaped text stays text


@pytest.mark.parametrize("name", ["in.parquet", "in.pq", "in.arrow", "in.feather", "stream.arrow"])
def test_binary_formats_keep_types_and_values(tmp_path, name):
    table = etl_table()
    path = tmp_path / name
    if name.endswith(("parquet", "pq")):
        pq.write_table(table, path, row_group_size=300)
    elif name == "stream.arrow":
        with pa.ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=250)
    else:
        feather.write_feather(table, path, chunksize=250)
    read = read_inputs([path])
    assert read.equals(table.replace_schema_metadata(read.schema.metadata))


def test_a_named_delimiter_and_format_read_any_file_name(tmp_path):
    path = tmp_path / "export.dat"
    path.write_text('id;text\n1;"good; really"\n2;bad\n', encoding="utf-8")
    with pytest.raises(UserError, match="unknown extension"):
        discover([str(path)])
    read = read_inputs([path], ReadOptions(format=FileFormat.named("csv"), delimiter=";"))
    assert read.to_pylist() == [{"id": "1", "text": "good; really"}, {"id": "2", "text": "bad"}]


def test_folders_are_read_recursively_in_sorted_order_with_hive_partitions_as_text(tmp_path):
    table = etl_table(40)
    lake = tmp_path / "lake"
    parts = {"source=b/zip=01234/part-1.parquet": (20, 40), "source=a/zip=00001/part-0.parquet": (0, 20)}
    for name, (start, stop) in parts.items():
        (lake / name).parent.mkdir(parents=True)
        pq.write_table(table.slice(start, stop - start), lake / name)
    (lake / "_SUCCESS").write_text("")
    (lake / "source=a" / "zip=00001" / ".part-0.parquet.crc").write_bytes(b"not parquet")
    (lake / "_temporary" / "0").mkdir(parents=True)
    pq.write_table(table, lake / "_temporary" / "0" / "part-9.parquet")
    (lake / "notes.txt").write_text("not data")
    files = discover([str(lake)])
    assert [file.partitions for file in files] == [
        (("source", "a"), ("zip", "00001")),
        (("source", "b"), ("zip", "01234")),
    ]
    read = read_inputs([lake])
    assert read.column("id").to_pylist() == list(range(40))
    assert read.schema.field("zip").type == pa.string()
    assert read.column("zip").to_pylist() == ["00001"] * 20 + ["01234"] * 20
    glob_read = read_inputs([f"{lake}/**/*.parquet"])
    assert glob_read.equals(read)


def test_folder_files_sort_by_path_not_by_discovery(tmp_path):
    for index in (10, 2, 1):
        pq.write_table(pa.table({"text": [f"t{index}"]}), tmp_path / f"f{index:02d}.parquet")
    assert read_inputs([tmp_path]).column("text").to_pylist() == ["t1", "t2", "t10"]


def test_reordered_and_evolving_columns_meet_by_name(tmp_path):
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "text": ["a", "b"]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"text": ["c"], "extra": [1.5], "id": pa.array([3], pa.int64())}), tmp_path / "2.parquet")
    read = read_inputs([tmp_path / "1.parquet", tmp_path / "2.parquet"])
    assert read.schema.names == ["id", "text", "extra"]
    assert read.schema.field("id").type == pa.int64()
    assert read.to_pylist() == [
        {"id": 1, "text": "a", "extra": None},
        {"id": 2, "text": "b", "extra": None},
        {"id": 3, "text": "c", "extra": 1.5},
    ]


def test_a_type_that_cannot_widen_is_refused_naming_both_files(tmp_path):
    pq.write_table(pa.table({"id": [1], "text": ["a"]}), tmp_path / "ints.parquet")
    (tmp_path / "texts.csv").write_text("text,id\nb,x\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"texts\.csv: column 'id' holds string where .*ints\.parquet holds int64"):
        read_inputs([tmp_path / "ints.parquet", tmp_path / "texts.csv"])


@pytest.mark.parametrize("name", ["csv.gz", "jsonl", "parquet", "arrow"])
def test_stdin_is_read_in_the_format_named(tmp_path, monkeypatch, name):
    table = etl_table(300)
    if name == "csv.gz":
        data, expected = csv_cells(table)
        data = gzip.compress(data)
    elif name == "jsonl":
        data, expected = json_lines(table), expected_json(table)
    else:
        sink = pa.BufferOutputStream()
        if name == "parquet":
            pq.write_table(table, sink)
        else:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        data, expected = sink.getvalue().to_pybytes(), table
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
    with pytest.raises(UserError, match="name the input format"):
        discover(["-"])
    read = read_inputs(["-"], ReadOptions(format=FileFormat.named(name)))
    assert read.equals(expected.replace_schema_metadata(read.schema.metadata))


def test_json_rows_that_change_shape_later_fail_in_one_line(tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [{"text": "a" * 1000}] * 20_000 + [{"text": "b", "late": 1}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(UserError, match=r"in\.jsonl as JSONL: a row has a field the file's first rows do not have"):
        read_inputs([path], rows=20_000)


@pytest.mark.parametrize("encoding", ["rot13", "base64", "zlib", "idna"])
def test_codecs_that_are_not_text_encodings_are_refused(tmp_path, encoding):
    (tmp_path / "in.csv").write_text("text\na\n", encoding="utf-8")
    with pytest.raises(UserError, match="is not a text encoding"):
        read_inputs([tmp_path / "in.csv"], ReadOptions(encoding=encoding))


def test_an_encoding_that_does_not_fit_the_file_is_a_read_error(tmp_path):
    (tmp_path / "in.csv").write_text("text\na\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"cannot read .*in\.csv as CSV: .*BOM"):
        read_inputs([tmp_path / "in.csv"], ReadOptions(encoding="utf-16"))
