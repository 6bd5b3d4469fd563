"""Chunked CSV/Parquet reading and all-or-nothing writing of scored reviews, and the run's closing summary."""

from __future__ import annotations

import codecs
import csv
import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import UserError, cannot, first_line, shown
from .publish import staged_file
from .text import encodable, holds_text, is_text_type, undecodable_cells

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CHUNK_ROWS = 16_384
_PARQUET_BUFFER = 8 << 20
# A review can be long; Python's csv module stops at 128 kB per field by default. 2**31 - 1 fits a C long anywhere.
_CSV_FIELD_LIMIT = 2**31 - 1


class _NotText(Exception):
    """A cell that must hold text holds bytes that are not text."""


_READ_ERRORS = (pa.ArrowException, csv.Error, _NotText, UnicodeDecodeError, OSError)
_CSV_MESSAGES = {"unexpected end of data": "a quoted field is still open at the end of the file"}


@dataclass
class Summary:
    """What a scoring run did, for its closing line.

    Args:
        files (`int`): input files read.
        output (`str`): where the rows went.
        rows (`int`): rows written.
        errors (`int`): rows with an `error`.
        seconds (`float`): wall time of the scoring itself.
    """

    files: int = 0
    output: str = ""
    rows: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The closing line: rows, files, output, errors, time and rate."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (
            f"scored {self.rows} rows from {self.files} file(s) into {shown(self.output)}: "
            f"{self.errors} errors, {self.seconds:.2f} s, {rate:,.0f} rows/s"
        )


def file_format(path: Path, role: str = "input") -> str:
    """`csv` or `parquet`, from the file's extension.

    Args:
        path (`Path`): the file.
        role (`str`): `input` or `output`, for the message.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{role} {shown(path)}: unknown extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    return fmt


def expand_inputs(patterns: Sequence[str]) -> list[Path]:
    """Input files from paths and globs, in the order given (each glob sorted); a file listed twice is read twice.

    Args:
        patterns (`Sequence[str]`): file paths or glob patterns.
    """
    paths: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise UserError(f"no file matches {shown(repr(pattern))}")
            paths += [Path(match) for match in matches]
        elif not Path(pattern).is_file():
            raise UserError(f"input {shown(pattern)} does not exist or is not a file")
        else:
            paths.append(Path(pattern))
    return paths


def csv_encoding(name: str | None) -> str:
    """The codec CSV inputs are read with: `name` (a UTF-8 BOM dropped either way), UTF-8 by default.

    Args:
        name (`str`, *optional*): an encoding Python knows, e.g. "latin-1" or "cp1252".
    """
    try:
        codec = codecs.lookup(name or "utf-8").name
    except LookupError:
        raise UserError(f"unknown encoding {name!r}") from None
    return "utf-8-sig" if codec == "utf-8" else codec


def _encoding_name(codec: str) -> str:
    """The name messages give a codec from `csv_encoding`."""
    return "UTF-8" if codec == "utf-8-sig" else codec


def _read_failure(path: Path, fmt: str, error: BaseException) -> UserError:
    return UserError(f"cannot read {shown(path)} as {fmt.upper()}: {first_line(error)}")


@dataclass(frozen=True)
class Source:
    """One input file: its format, Arrow schema, row count (None for CSV, unknown until read) and, for CSV, the
    encoding it is read with."""

    path: Path
    format: str
    schema: pa.Schema
    num_rows: int | None
    encoding: str = "utf-8-sig"

    def batches(self, rows: int = CHUNK_ROWS, text_column: str | None = None) -> Iterator[pa.RecordBatch]:
        """The file's rows in order, at most `rows` per batch; read problems become one-line `UserError`s.

        Every string column must hold text (valid UTF-8, or CSV bytes of the file's encoding), except
        `text_column`, whose other cells are kept as they are for the scorer to report row by row.

        Args:
            rows (`int`): rows per batch.
            text_column (`str`, *optional*): the one column that may hold cells that are not text.
        """
        try:
            if self.format == "csv":
                yield from self._csv_batches(rows, text_column)
            else:
                yield from self._parquet_batches(rows, text_column)
        except _READ_ERRORS as error:
            raise _read_failure(self.path, self.format, error) from error

    def _csv_batches(self, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
        width = len(self.schema)
        with _open_csv(self.path, self.encoding) as handle:
            reader = _csv_reader(handle)
            try:
                _first_row(reader)  # the header, read by `open_source`
                chunk, lines = [], []
                for row in reader:
                    if len(row) != width:
                        if not row:  # a blank line, as every CSV reader skips them
                            continue
                        raise csv.Error(f"{len(row)} field(s) where the header has {width}")
                    chunk.append(row)
                    lines.append(reader.line_num)
                    if len(chunk) == rows:
                        yield self._csv_batch(chunk, lines, text_column)
                        chunk, lines = [], []
            except csv.Error as error:
                message = _CSV_MESSAGES.get(str(error), str(error))
                raise csv.Error(f"line {reader.line_num}: {message}") from error
            if chunk:
                yield self._csv_batch(chunk, lines, text_column)

    def _csv_batch(self, rows: list[list[str]], lines: list[int], text_column: str | None) -> pa.RecordBatch:
        """Rows of CSV cells as a batch of string columns; the text column keeps bytes that are not text."""
        columns = []
        for field, values in zip(self.schema, zip(*rows, strict=True), strict=True):
            try:
                columns.append(pa.array(values, pa.string()))
            except UnicodeEncodeError:
                if field.name != text_column:
                    line = next(line for line, value in zip(lines, values, strict=True) if not encodable(value))
                    encoding = _encoding_name(self.encoding)
                    message = f"line {line}, column {shown(repr(field.name))}: bytes that are not {encoding}"
                    raise _NotText(message) from None
                raw = [value.encode("utf-8", "surrogateescape") for value in values]
                columns.append(pa.array(raw, pa.binary()).view(pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _parquet_batches(self, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
        # A file object, not a path: a name that is not UTF-8 reaches no codec. Without pre-buffering a whole row
        # group is never held at once: big row groups stay cheap.
        with open(self.path, "rb") as handle:
            parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=_PARQUET_BUFFER)
            first = 0
            for batch in parquet.iter_batches(batch_size=rows):
                _check_text(batch, text_column, first)
                first += batch.num_rows
                yield batch


def _check_text(batch: pa.RecordBatch, text_column: str | None, first: int) -> None:
    """Refuse a column other than the text column that holds bytes that are not UTF-8 (Parquet writers that do not
    validate can write them), naming its first such row."""
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.name == text_column or not holds_text(field.type):
            continue
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            where = ""
            if is_text_type(field.type):
                where = f" row {first + int(undecodable_cells(column).argmax())}"
            raise _NotText(f"column {shown(repr(field.name))}{where} holds bytes that are not UTF-8") from None


def _open_csv(path: Path, encoding: str) -> TextIO:
    """A CSV file as text in its encoding (a UTF-8 BOM dropped); bytes the encoding cannot read become lone
    surrogates (`surrogateescape`), so a bad cell of the text column is reported in its row.
    """
    return open(path, newline="", encoding=encoding, errors="surrogateescape")  # noqa: SIM115


def _csv_reader(handle: TextIO) -> Iterator[list[str]]:
    """Rows of a CSV file; strict, so a stray quote or a quote left open at the end is an error, not a guess."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    return csv.reader(handle, strict=True)


def _first_row(reader: Iterator[list[str]]) -> list[str] | None:
    return next((row for row in reader if row), None)


def _csv_schema(path: Path, encoding: str) -> pa.Schema:
    """One string column per header name, names kept exactly (empty and repeated ones too)."""
    with _open_csv(path, encoding) as handle:
        header = _first_row(_csv_reader(handle))
    if header is None:
        raise csv.Error("the file is empty; a CSV input starts with a header row")
    for name in header:
        if not encodable(name):
            raise csv.Error(f"the header holds bytes that are not {_encoding_name(encoding)}: {shown(repr(name))}")
    return pa.schema([(name, pa.string()) for name in header])


def open_source(path: Path, encoding: str | None = None) -> Source:
    """Check that an input file is readable and has a header/schema, without reading its rows.

    Args:
        path (`Path`): a CSV or Parquet file.
        encoding (`str`, *optional*): the encoding of a CSV file; UTF-8 by default (Parquet is always UTF-8).
    """
    fmt = file_format(path)
    try:
        if fmt == "csv":
            codec = csv_encoding(encoding)
            return Source(path, fmt, _csv_schema(path, codec), None, codec)
        with open(path, "rb") as handle, pq.ParquetFile(handle) as parquet:
            return Source(path, fmt, parquet.schema_arrow, parquet.metadata.num_rows)
    except _READ_ERRORS as error:
        raise _read_failure(path, fmt, error) from error


def unified_schema(sources: Sequence[Source]) -> pa.Schema:
    """The schema every input converts to without changing a value: each column's type, widened where another
    input's type fits in it exactly (int32 → int64, string → large_string, an all-null column → any type).

    A column whose types cannot meet so (float32 and float64, an integer and a CSV's text) is refused in one line
    naming the file and the column, before anything is written.

    Args:
        sources (`Sequence[Source]`): the opened inputs, with the same column names in the same order.
    """
    fields = list(sources[0].schema)
    seen_in = [sources[0].path] * len(fields)
    for source in sources[1:]:
        for index, other in enumerate(source.schema):
            field = fields[index]
            kind = widened(field.type, other.type)
            if kind is None:
                raise UserError(
                    f"{shown(source.path)}: column {shown(repr(other.name))} holds {other.type} where "
                    f"{shown(seen_in[index])} holds {field.type}; one output column cannot hold both without "
                    "changing values: convert the inputs to one type, or score them in separate runs"
                )
            if kind != field.type:
                seen_in[index] = source.path
            fields[index] = field.with_type(kind).with_nullable(field.nullable or other.nullable)
    return pa.schema(fields, metadata=sources[0].schema.metadata)


_BINARIES = (pa.binary(), pa.large_binary(), pa.binary_view())


def widened(first: pa.DataType, second: pa.DataType) -> pa.DataType | None:
    """The type that holds every value of both types exactly, or None where there is none.

    Args:
        first (`pa.DataType`): one input's type for a column.
        second (`pa.DataType`): another's.
    """
    if first.equals(second):
        return first
    if pa.types.is_null(first) or pa.types.is_null(second):
        return second if pa.types.is_null(first) else first
    if pa.types.is_dictionary(first) or pa.types.is_dictionary(second):
        plain = [kind.value_type if pa.types.is_dictionary(kind) else kind for kind in (first, second)]
        return widened(*plain)
    if is_text_type(first) and is_text_type(second):
        return pa.large_string()
    if first in _BINARIES and second in _BINARIES:
        return pa.large_binary()
    if pa.types.is_integer(first) and pa.types.is_integer(second):
        return _wider_integer(first, second)
    return None


def _wider_integer(first: pa.DataType, second: pa.DataType) -> pa.DataType | None:
    signed = [pa.types.is_signed_integer(kind) for kind in (first, second)]
    if signed[0] == signed[1]:
        return first if first.bit_width >= second.bit_width else second
    signed_type, unsigned_type = (first, second) if signed[0] else (second, first)
    return signed_type if signed_type.bit_width > unsigned_type.bit_width else None


class AtomicWriter:
    """Writes batches to a hidden temporary file beside `path` (`publish.staged_file`), published on a clean exit.

    An error or interruption mid-way removes the temporary file, so `path` is either complete or untouched.
    """

    def __init__(self, path: Path, schema: pa.Schema, *, overwrite: bool = False):
        """Prepare to write.

        Args:
            path (`Path`): the final output file (.csv or .parquet).
            schema (`pa.Schema`): the schema of every batch written.
            overwrite (`bool`, *optional*, defaults to False): whether an existing file at `path` may be replaced.
        """
        self.path = path
        self.schema = schema
        self.format = file_format(path, "output")
        self._staged = staged_file(path, overwrite=overwrite)
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def __enter__(self) -> AtomicWriter:
        handle = self._staged.__enter__()
        writer_class = pq.ParquetWriter if self.format == "parquet" else pacsv.CSVWriter
        try:
            self._writer = writer_class(handle, self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            self._staged.__exit__(type(error), error, error.__traceback__)
            raise self._unwritable(error) from error
        return self

    def _unwritable(self, error: Exception) -> UserError:
        return UserError(f"cannot write these columns to {self.format.upper()} ({first_line(error)}); try .parquet")

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch.

        Args:
            batch (`pa.RecordBatch`): rows with exactly the writer's schema.
        """
        try:
            self._writer.write_batch(batch)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise self._unwritable(error) from error
        except OSError as error:
            raise cannot("write", self.path, error) from error

    def __exit__(self, exc_type, exc, traceback) -> bool | None:
        try:
            self._writer.close()
        except BaseException as error:
            # Whatever stops the file's last bytes (a full disk, a signal), the temporary file goes and nothing
            # is published; an error already on its way is the one reported.
            self._staged.__exit__(type(error), error, error.__traceback__)
            if exc_type is not None and isinstance(error, Exception):
                return None
            if isinstance(error, OSError):
                raise cannot("write", self.path, error) from error
            raise
        return self._staged.__exit__(exc_type, exc, traceback)


def conform(batch: pa.RecordBatch, schema: pa.Schema, path: Path) -> pa.RecordBatch:
    """`batch` cast to the output schema (`unified_schema`, so only widened without changing a value).

    Args:
        batch (`pa.RecordBatch`): rows of one input.
        schema (`pa.Schema`): the output's schema.
        path (`Path`): the input, for the message.
    """
    if batch.schema.equals(schema):
        return batch
    try:
        return batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise UserError(f"{shown(path)}: its columns do not convert to the output's: {first_line(error)}") from error
