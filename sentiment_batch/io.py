"""Chunked CSV/Parquet reading and all-or-nothing writing of scored reviews."""

from __future__ import annotations

import glob
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import UserError, first_line
from .publish import staged_file

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CHUNK_ROWS = 16_384
_PARQUET_BUFFER = 8 << 20
# Every CSV cell is read as text, so values round-trip unchanged and a column cannot change type mid-file.
_CSV_OPTIONS = {
    "dtype": str,
    "keep_default_na": False,
    "na_filter": False,
    "index_col": False,
    "encoding": "utf-8",
    "engine": "c",
}
_READ_ERRORS = (
    pa.ArrowException,
    pd.errors.ParserError,
    pd.errors.ParserWarning,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    OSError,
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
        with pd.read_csv(self.path, chunksize=rows, **_CSV_OPTIONS) as chunks:
            while True:
                # A pandas ParserWarning means fields were dropped silently: make it an error.
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield pa.RecordBatch.from_pandas(chunk, schema=self.schema, preserve_index=False)

    def _parquet_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        # Without pre-buffering a whole row group is never held at once: big row groups stay cheap.
        with pq.ParquetFile(self.path, pre_buffer=False, buffer_size=_PARQUET_BUFFER) as parquet:
            yield from parquet.iter_batches(batch_size=rows)


def open_source(path: Path) -> Source:
    """Check that an input file is readable and has a header/schema, without reading its rows.

    Args:
        path (`Path`): a CSV or Parquet file.
    """
    fmt = file_format(path)
    try:
        if fmt == "csv":
            columns = pd.read_csv(path, nrows=0, **_CSV_OPTIONS).columns
            return Source(path, fmt, pa.schema([(str(name), pa.string()) for name in columns]), None)
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
            raise UserError(f"cannot write {self.path}: {error.strerror or first_line(error)}") from error

    def __exit__(self, exc_type, exc, traceback) -> bool | None:
        try:
            self._writer.close()
        except Exception as error:
            if exc_type is None:  # the run went well until the file's last bytes: still nothing is published
                self._staged.__exit__(type(error), error, error.__traceback__)
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
