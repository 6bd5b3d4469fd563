"""Chunked CSV/Parquet reading and all-or-nothing writing of scored reviews, and the run's closing summary."""

from __future__ import annotations

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

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CHUNK_ROWS = 16_384
_PARQUET_BUFFER = 8 << 20
# A review can be long; Python's csv module stops at 128 kB per field by default. 2**31 - 1 fits a C long anywhere.
_CSV_FIELD_LIMIT = 2**31 - 1
_READ_ERRORS = (pa.ArrowException, csv.Error, UnicodeDecodeError, OSError)
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
        raise UserError(f"{role} {path}: unknown extension {path.suffix!r}; use one of {sorted(FORMATS)}")
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
                raise UserError(f"no file matches {pattern!r}")
            paths += [Path(match) for match in matches]
        elif not Path(pattern).is_file():
            raise UserError(f"input {pattern} does not exist or is not a file")
        else:
            paths.append(Path(pattern))
    return paths


def _read_failure(path: Path, fmt: str, error: BaseException) -> UserError:
    return UserError(f"cannot read {path} as {fmt.upper()}: {first_line(error)}")


@dataclass(frozen=True)
class Source:
    """One input file: its format, Arrow schema and row count (None for CSV, unknown until read)."""

    path: Path
    format: str
    schema: pa.Schema
    num_rows: int | None

    def batches(self, rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        """The file's rows in order, at most `rows` per batch; read problems become one-line `UserError`s.

        Args:
            rows (`int`): rows per batch.
        """
        try:
            yield from self._csv_batches(rows) if self.format == "csv" else self._parquet_batches(rows)
        except _READ_ERRORS as error:
            raise _read_failure(self.path, self.format, error) from error

    def _csv_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        width = len(self.schema)
        with _open_csv(self.path) as handle:
            reader = _csv_reader(handle)
            try:
                _first_row(reader)  # the header, read by `open_source`
                chunk = []
                for row in reader:
                    if len(row) != width:
                        if not row:  # a blank line, as every CSV reader skips them
                            continue
                        raise csv.Error(f"{len(row)} field(s) where the header has {width}")
                    chunk.append(row)
                    if len(chunk) == rows:
                        yield _csv_batch(chunk, self.schema)
                        chunk = []
            except csv.Error as error:
                message = _CSV_MESSAGES.get(str(error), str(error))
                raise csv.Error(f"line {reader.line_num}: {message}") from error
            if chunk:
                yield _csv_batch(chunk, self.schema)

    def _parquet_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        # Without pre-buffering a whole row group is never held at once: big row groups stay cheap.
        with pq.ParquetFile(self.path, pre_buffer=False, buffer_size=_PARQUET_BUFFER) as parquet:
            yield from parquet.iter_batches(batch_size=rows)


def _open_csv(path: Path) -> TextIO:
    """A CSV file as text: a UTF-8 BOM is dropped, and bytes that are not UTF-8 become lone surrogates
    (`surrogateescape`), so one bad cell is reported in its row and written back byte for byte.
    """
    return open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")  # noqa: SIM115


def _csv_reader(handle: TextIO) -> Iterator[list[str]]:
    """Rows of a CSV file; strict, so a stray quote or a quote left open at the end is an error, not a guess."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    return csv.reader(handle, strict=True)


def _first_row(reader: Iterator[list[str]]) -> list[str] | None:
    return next((row for row in reader if row), None)


def _csv_batch(rows: list[list[str]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of CSV cells as a batch of string columns; a column holding bytes that are not UTF-8 keeps them."""
    columns = []
    for values in zip(*rows, strict=True):
        try:
            columns.append(pa.array(values, pa.string()))
        except UnicodeEncodeError:
            raw = [value.encode("utf-8", "surrogateescape") for value in values]
            columns.append(pa.array(raw, pa.binary()).view(pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _csv_schema(path: Path) -> pa.Schema:
    """One string column per header name, names kept exactly (empty and repeated ones too)."""
    with _open_csv(path) as handle:
        header = _first_row(_csv_reader(handle))
    if header is None:
        raise csv.Error("the file is empty; a CSV input starts with a header row")
    for name in header:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise csv.Error(f"the header holds bytes that are not UTF-8: {name!r}") from None
    return pa.schema([(name, pa.string()) for name in header])


def open_source(path: Path) -> Source:
    """Check that an input file is readable and has a header/schema, without reading its rows.

    Args:
        path (`Path`): a CSV or Parquet file.
    """
    fmt = file_format(path)
    try:
        if fmt == "csv":
            return Source(path, fmt, _csv_schema(path), None)
        with pq.ParquetFile(path) as parquet:
            return Source(path, fmt, parquet.schema_arrow, parquet.metadata.num_rows)
    except _READ_ERRORS as error:
        raise _read_failure(path, fmt, error) from error


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
    """`batch` cast to the output schema, for inputs whose column types differ from the first file's.

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
        raise UserError(f"{path}: column types differ from the first input's and do not convert: {error}") from error
