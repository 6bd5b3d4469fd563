"""Format names and extensions: one table for inputs and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_batch.errors import UserError
from sentiment_batch.formats import FileFormat


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.CSV", FileFormat("csv")),
        ("a.tsv.gz", FileFormat("tsv", "gzip")),
        ("a.jsonl.bz2", FileFormat("jsonl", "bz2")),
        ("part-0.json", FileFormat("jsonl")),
        ("a.ndjson.zst", FileFormat("jsonl", "zstd")),
        ("part-0.snappy.parquet", FileFormat("parquet")),
        ("b.pq", FileFormat("parquet")),
        ("c.feather", FileFormat("arrow")),
        ("c.arrow", FileFormat("arrow")),
    ],
)
def test_extensions_name_a_kind_and_a_compression(name, expected):
    assert FileFormat.of(Path(name)) == expected
    assert FileFormat.find(Path(name)) == expected


@pytest.mark.parametrize("name", ["a.txt", "a.parquet.gz", "a.gz", "README"])
def test_other_extensions_are_refused_in_one_line(name):
    assert FileFormat.find(Path(name)) is None
    with pytest.raises(UserError, match="unknown extension"):
        FileFormat.of(Path(name), "output")


def test_format_names_are_extensions_without_the_file():
    assert FileFormat.named("csv.gz") == FileFormat.named(".CSV.GZ") == FileFormat("csv", "gzip")
    assert FileFormat.named("tsv").delimiter == "\t" and FileFormat.named("csv").delimiter == ","
    assert FileFormat.named("jsonl").is_text and not FileFormat.named("parquet").is_text
    with pytest.raises(UserError, match="unknown format 'xlsx'"):
        FileFormat.named("xlsx")
