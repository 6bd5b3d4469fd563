"""Reading inputs: every format and compression, folders and hive partitions, stdin, unified columns, in order."""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import json
import re
import sys
import types
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from helpers import etl_table
from sentiment_batch.errors import UserError
from sentiment_batch.formats import FileFormat
from sentiment_batch.readers import (
    ReadOptions,
    conform,
    discover,
    open_path,
    open_source,
    text_encoding,
    unified_schema,
    widened,
)


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


SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TRICKY_CSV = b'id,text,extra\n007,"quoted ""word"", comma\nand newline",x\n2,,y\n3,"",z\n4,   ,w\n'


def read_all(path, rows=2, text_column=None, encoding=None):
    source = open_path(path, ReadOptions(encoding=encoding))
    return pa.Table.from_batches(list(source.batches(rows, text_column)), schema=source.schema)


def test_inputs_are_read_in_the_order_given_each_glob_sorted_repeats_kept(tmp_path):
    for name in ("b.csv", "a.csv", "c.parquet"):
        (tmp_path / name).write_text("text\nx\n")
    files = discover([str(tmp_path / "c.parquet"), str(tmp_path / "*.csv"), str(tmp_path / "a.csv")])
    assert [file.path.name for file in files] == ["c.parquet", "a.csv", "b.csv", "a.csv"]
    with pytest.raises(UserError, match="does not exist"):
        discover([str(tmp_path / "missing.csv")])
    with pytest.raises(UserError, match="no file matches"):
        discover([str(tmp_path / "*.tsv")])


def test_csv_cells_are_text_and_quoting_is_honoured(tmp_path):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY_CSV)
    table = read_all(path)
    assert table.schema.types == [pa.string()] * 3
    assert table.column("id").to_pylist() == ["007", "2", "3", "4"]
    assert table.column("text").to_pylist() == ['quoted "word", comma\nand newline', "", "", "   "]
    assert table.column("extra").to_pylist() == list("xyzw")


def test_csv_is_read_in_chunks_in_order(tmp_path):
    path = tmp_path / "many.csv"
    pd.DataFrame({"id": range(10), "text": [f"review {i}" for i in range(10)]}).to_csv(path, index=False)
    batches = list(open_path(path).batches(rows=4))
    assert [batch.num_rows for batch in batches] == [4, 4, 2]
    assert pa.Table.from_batches(batches).column("id").to_pylist() == [str(i) for i in range(10)]


def test_parquet_is_read_in_chunks_in_order(tmp_path):
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"id": range(10), "text": [None if i == 3 else f"r{i}" for i in range(10)]}), path)
    source = open_path(path)
    assert source.num_rows == 10
    batches = list(source.batches(rows=3))
    assert [batch.num_rows for batch in batches] == [3, 3, 3, 1]
    assert pa.Table.from_batches(batches).column("text").to_pylist()[2:5] == ["r2", None, "r4"]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("quote.csv", b'id,text\n1,"never closed\n2,ok\n', "line 3: a quoted field is still open at the end"),
        ("stray_quote.csv", b'id,text\n1,"quoted"then more\n', "line 2: ',' expected after '\"'"),
        ("ragged.csv", b"id,text\n1,a\n2,b,c\n", "line 3: 3 field(s) where the header has 2"),
        ("extra.csv", b"id,text\n1,a,b\n", "line 2: 3 field(s) where the header has 2"),
        ("short.csv", b"id,text,note\n1,a,x\n2,b\n3,c,z\n", "line 3: 2 field(s) where the header has 3"),
        ("short_last.csv", b"id,text\n1,a\n2\n", "line 3: 1 field(s) where the header has 2"),
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\r\n", "the file is empty"),
        ("bad_header.csv", b"id,t\xffxt\n1,a\n", "header holds bytes that are not UTF-8"),
        ("fake.parquet", b"id,text\n1,a\n", "as PARQUET"),
    ],
)
def test_malformed_inputs_are_one_line_errors(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(match)) as raised:
        read_all(path)
    assert "\n" not in str(raised.value)
    assert str(path) in str(raised.value)


def test_csv_header_names_are_kept_exactly(tmp_path):
    path = tmp_path / "names.csv"
    path.write_bytes(b"\xef\xbb\xbf,text,text,,01\r\n1,a,b,c,d\r\n\r\n2,e,f,g,h\r\n")  # BOM, CRLF, a blank line
    table = read_all(path)
    assert table.schema.names == ["", "text", "text", "", "01"]  # never "Unnamed: 0", "text.1" or 1
    assert [column.to_pylist() for column in table.columns] == [
        ["1", "2"],
        ["a", "e"],
        ["b", "f"],
        ["c", "g"],
        ["d", "h"],
    ]


def test_csv_bytes_that_are_not_utf8_are_kept_exactly_in_the_text_column_for_the_scorer_to_report(tmp_path):
    path = tmp_path / "bytes.csv"
    cells = [b"caf\xe9", b"\xc0\xaf overlong slash", b"\xed\xa0\x80 surrogate", b"fine \xe2\x82"]
    path.write_bytes(b"id,text\n" + b"".join(b"%d,%s\n" % (row, cell) for row, cell in enumerate(cells)))
    text = read_all(path, text_column="text").column("text").combine_chunks()
    assert pa.types.is_string(text.type)
    assert text.cast(pa.binary()).to_pylist() == cells
    assert read_all(path, text_column="text").column("id").to_pylist() == ["0", "1", "2", "3"]


def test_csv_bytes_that_are_not_utf8_elsewhere_are_refused_naming_line_and_column(tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(b'id,note,text\n1,ok,fine\n2,"two\nlines",fine\n3,caf\xe9,fine\n')
    with pytest.raises(UserError, match=r"bytes.csv as CSV: line 5, column 'note': bytes that are not UTF-8$"):
        read_all(path, rows=1, text_column="text")


def test_a_declared_csv_encoding_is_read_and_comes_out_as_text(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,note,text\n1,Ñandú,café crème\n".encode("latin-1"))
    table = read_all(path, text_column="text", encoding="latin-1")
    assert table.column("note").to_pylist() == ["Ñandú"] and table.column("text").to_pylist() == ["café crème"]
    assert text_encoding("cp1252") == "cp1252" and text_encoding("UTF8") == "utf-8-sig"
    with pytest.raises(UserError, match="unknown encoding 'klingon'"):
        open_path(path, ReadOptions(encoding="klingon"))
    with pytest.raises(UserError, match="line 2, column 'note': bytes that are not UTF-8"):
        read_all(path, text_column="text")


def test_csv_fields_longer_than_the_csv_module_default_are_read(tmp_path):
    path = tmp_path / "long.csv"
    review = "word " * 100_000  # 500 kB, past the csv module's 128 kB default limit
    path.write_text(f'id,text\n1,"{review}"\n', encoding="utf-8")
    assert read_all(path).column("text").to_pylist() == [review]


def test_parquet_bytes_that_are_not_utf8_are_read_as_they_are_in_the_text_column_only(tmp_path):
    raw = [b"good", b"caf\xe9", b"\xc0\xaf"]
    path = tmp_path / "bytes.parquet"
    column = pa.array(raw, pa.binary()).view(pa.string())
    pq.write_table(pa.table({"text": column, "note": ["a", "b", "c"]}), path)
    assert read_all(path, text_column="text").column("text").combine_chunks().cast(pa.binary()).to_pylist() == raw
    with pytest.raises(
        UserError, match=r"bytes.parquet as PARQUET: column 'text' row 1 holds bytes that are not UTF-8"
    ):
        read_all(path, text_column="note")


def test_conform_casts_or_explains(tmp_path):
    pq.write_table(pa.table({"id": [1], "text": ["a"]}), tmp_path / "in.parquet")
    source = open_path(tmp_path / "in.parquet")
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    batch = pa.record_batch({"id": [1, 2], "text": ["a", "b"]})
    assert conform(batch, schema, source).column("id").to_pylist() == ["1", "2"]
    with pytest.raises(UserError, match=r"in\.parquet: its columns do not convert"):
        conform(
            pa.record_batch({"id": ["x"], "text": ["a"]}),
            pa.schema([("id", pa.int64()), ("text", pa.string())]),
            source,
        )


def test_sample_data_is_regenerated_exactly():
    # sample_data is not a package: load the generator from its file.
    spec = importlib.util.spec_from_file_location("make_reviews", SAMPLE_DATA / "make_reviews.py")
    make_reviews = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_reviews)
    frame = make_reviews.make_frame()
    assert len(frame) == 300 and frame["id"].is_unique
    assert pq.read_table(SAMPLE_DATA / "reviews.parquet").column("text").to_pylist() == frame["text"].tolist()
    csv = read_all(SAMPLE_DATA / "reviews.csv", rows=64).to_pandas()
    # CSV cannot tell null from empty: both read back as empty text.
    assert csv["text"].tolist() == frame["text"].fillna("").tolist()
    assert (SAMPLE_DATA / "reviews.csv").stat().st_size < 200_000


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.int64(), pa.int8(), pa.int64()),
        (pa.uint32(), pa.int64(), pa.int64()),
        (pa.uint16(), pa.uint64(), pa.uint64()),
        (pa.uint64(), pa.int64(), None),  # 2**63 fits neither
        (pa.string(), pa.large_string(), pa.large_string()),
        (pa.binary(), pa.large_binary(), pa.large_binary()),
        (pa.null(), pa.float32(), pa.float32()),
        (pa.dictionary(pa.int32(), pa.string()), pa.string(), pa.string()),
        (pa.float32(), pa.float64(), None),  # 0.1 would become 0.10000000149011612
        (pa.float16(), pa.float32(), None),
        (pa.int64(), pa.float64(), None),
        (pa.int64(), pa.string(), None),  # an id 7 and a CSV "007"
        (pa.timestamp("ms"), pa.timestamp("us"), None),
        (pa.list_(pa.int32()), pa.list_(pa.int64()), None),
    ],
)
def test_types_widen_only_where_no_value_changes(first, second, expected):
    assert widened(first, second) == expected
    assert widened(second, first) == expected


def test_inputs_whose_types_cannot_meet_are_refused_naming_file_and_column(tmp_path):
    pq.write_table(pa.table({"id": pa.array([7], pa.int64()), "text": ["a"]}), tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("id,text\n007,b\n")
    sources = [open_path(tmp_path / "a.parquet"), open_path(tmp_path / "b.csv")]
    with pytest.raises(UserError, match=r"b.csv: column 'id' holds string where .*a.parquet holds int64") as raised:
        unified_schema(sources)
    assert "\n" not in str(raised.value)
    pq.write_table(
        pa.table({"id": pa.array([1], pa.int32()), "text": pa.array(["c"], pa.large_string())}), tmp_path / "c.parquet"
    )
    third = open_path(tmp_path / "c.parquet")
    schema = unified_schema([sources[0], third])
    assert schema.types == [pa.int64(), pa.large_string()]
    assert conform(next(third.batches()), schema, third).column("id").to_pylist() == [1]
