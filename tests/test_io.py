"""Chunked reading of CSV/Parquet inputs, their failure modes, and the all-or-nothing writer."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_batch.errors import UserError
from sentiment_batch.io import (
    AtomicWriter,
    conform,
    expand_inputs,
    file_format,
    open_source,
    unified_schema,
    widened,
)
from sentiment_batch.publish import TEMP_SUFFIX

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TRICKY_CSV = b'id,text,extra\n007,"quoted ""word"", comma\nand newline",x\n2,,y\n3,"",z\n4,   ,w\n'


def read_all(path, rows=2, text_column=None, encoding=None):
    source = open_source(Path(path), encoding)
    return pa.Table.from_batches(list(source.batches(rows, text_column)), schema=source.schema)


def test_file_format():
    assert file_format(Path("a.CSV")) == "csv"
    assert file_format(Path("a.parquet")) == file_format(Path("b.pq")) == "parquet"
    with pytest.raises(UserError, match=r"output x.json: unknown extension '.json'"):
        file_format(Path("x.json"), "output")


def test_expand_inputs_order_globs_and_repeats(tmp_path):
    for name in ("b.csv", "a.csv", "c.parquet"):
        (tmp_path / name).write_text("text\nx\n")
    paths = expand_inputs([str(tmp_path / "c.parquet"), str(tmp_path / "*.csv"), str(tmp_path / "a.csv")])
    assert [path.name for path in paths] == ["c.parquet", "a.csv", "b.csv", "a.csv"]
    with pytest.raises(UserError, match="does not exist"):
        expand_inputs([str(tmp_path / "missing.csv")])
    with pytest.raises(UserError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.tsv")])


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
    batches = list(open_source(path).batches(rows=4))
    assert [batch.num_rows for batch in batches] == [4, 4, 2]
    assert pa.Table.from_batches(batches).column("id").to_pylist() == [str(i) for i in range(10)]


def test_parquet_is_read_in_chunks_in_order(tmp_path):
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"id": range(10), "text": [None if i == 3 else f"r{i}" for i in range(10)]}), path)
    source = open_source(path)
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
    assert open_source(path, "cp1252").encoding == "cp1252" and open_source(path, "UTF8").encoding == "utf-8-sig"
    with pytest.raises(UserError, match="unknown encoding 'klingon'"):
        open_source(path, "klingon")
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
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    batch = pa.record_batch({"id": [1, 2], "text": ["a", "b"]})
    assert conform(batch, schema, tmp_path).column("id").to_pylist() == ["1", "2"]
    with pytest.raises(UserError, match="do not convert"):
        conform(
            pa.record_batch({"id": ["x"], "text": ["a"]}),
            pa.schema([("id", pa.int64()), ("text", pa.string())]),
            tmp_path,
        )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_atomic_writer_renames_on_success(tmp_path, suffix):
    batch = pa.record_batch({"id": [1, 2], "text": ["a", None]})
    path = tmp_path / f"out{suffix}"
    with AtomicWriter(path, batch.schema) as writer:
        writer.write(batch)
        writer.write(batch)
        [temp] = tmp_path.iterdir()
        assert not path.exists() and temp.name.startswith(f".{path.name}.") and temp.name.endswith(TEMP_SUFFIX)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert len(read_all(path)) == 4


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_atomic_writer_leaves_nothing_on_failure(tmp_path, suffix):
    batch = pa.record_batch({"text": ["a"]})
    path = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError), AtomicWriter(path, batch.schema) as writer:
        writer.write(batch)
        raise RuntimeError("crash mid-way")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_keeps_old_output_on_failure(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("previous run\n")
    with pytest.raises(RuntimeError), AtomicWriter(path, pa.schema([("text", pa.string())])):
        raise RuntimeError("crash")
    assert path.read_text() == "previous run\n"


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
    sources = [open_source(tmp_path / "a.parquet"), open_source(tmp_path / "b.csv")]
    with pytest.raises(UserError, match=r"b.csv: column 'id' holds string where .*a.parquet holds int64") as raised:
        unified_schema(sources)
    assert "\n" not in str(raised.value)
    pq.write_table(
        pa.table({"id": pa.array([1], pa.int32()), "text": pa.array(["c"], pa.large_string())}), tmp_path / "c.parquet"
    )
    schema = unified_schema([sources[0], open_source(tmp_path / "c.parquet")])
    assert schema.types == [pa.int64(), pa.large_string()]
    batch = next(open_source(tmp_path / "c.parquet").batches())
    assert conform(batch, schema, tmp_path / "c.parquet").column("id").to_pylist() == [1]
