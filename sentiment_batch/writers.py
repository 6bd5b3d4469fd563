"""Writing scored rows in every format of `formats`, to a file or stdout, all or nothing (`publish`), with the
run's provenance in the schema of Parquet and Arrow outputs."""

from __future__ import annotations

import base64
import datetime
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import __version__
from .errors import UserError, cannot, first_line, shown
from .formats import STDIO, FileFormat
from .publish import staged_file, staged_stdout

PROVENANCE_KEY = "sentiment_batch"


def provenance(model_sha256: str, labels: Sequence[str], text_column: str, explain: int) -> dict[str, str]:
    """The schema metadata of a scored Parquet or Arrow output: what produced it, under `sentiment_batch`.

    Args:
        model_sha256 (`str`): the model's hash, as `bundle.json` records it.
        labels (`Sequence[str]`): the bundle's class names.
        text_column (`str`): the column that was scored.
        explain (`int`): phrases of evidence per review, 0 for none.
    """
    record = {
        "version": __version__,
        "model_sha256": model_sha256,
        "labels": list(labels),
        "text_column": text_column,
        "explain": explain,
    }
    return {PROVENANCE_KEY: json.dumps(record, ensure_ascii=False)}


def output_format(output: str, fmt: FileFormat | None) -> FileFormat:
    """The output's format: the one named, else the file's extension; stdout needs one named.

    Args:
        output (`str`): a file path, or `-` for stdout.
        fmt (`FileFormat`, *optional*): the format named.
    """
    if fmt is not None:
        return fmt
    if output == STDIO:
        raise UserError("stdout (-) has no name to tell its format by; name the output format")
    return FileFormat.of(Path(output), "output")


class _Borrowed(io.RawIOBase):
    """A file another owner closes: a compressing stream closing it only flushes it."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._handle.write(data)

    def close(self) -> None:
        self._handle.flush()
        super().close()


class OutputWriter:
    """Writes batches to a hidden temporary file (or, for stdout, a temporary file copied there at the end),
    published only when the block ends without an error: the output is complete or untouched.

    Args:
        output (`str | Path`): the output file, or `-` for stdout.
        schema (`pa.Schema`): the schema of every batch written.
        fmt (`FileFormat`): the output's format (`output_format`).
        overwrite (`bool`, *optional*, defaults to False): whether an existing file may be replaced.
        delimiter (`str`, *optional*): the field separator of CSV/TSV outputs; the format's own by default.
        metadata (`dict[str, str]`, *optional*): schema metadata for Parquet and Arrow outputs.
    """

    def __init__(
        self,
        output: str | Path,
        schema: pa.Schema,
        fmt: FileFormat,
        *,
        overwrite: bool = False,
        delimiter: str | None = None,
        metadata: dict[str, str] | None = None,
    ):
        self.output = str(output)
        self.format = fmt
        self.schema = schema.with_metadata({**(schema.metadata or {}), **(metadata or {})}) if metadata else schema
        self.delimiter = delimiter or fmt.delimiter
        to_stdout = self.output == STDIO
        self._staged = staged_stdout() if to_stdout else staged_file(Path(self.output), overwrite=overwrite)
        self._compressed: pa.NativeFile | None = None
        self._writer = None

    def __enter__(self) -> OutputWriter:
        handle = self._staged.__enter__()
        try:
            if self.format.compression is not None:
                self._compressed = pa.CompressedOutputStream(_Borrowed(handle), self.format.compression)
            self._writer = self._open(self._compressed or handle)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            self._staged.__exit__(type(error), error, error.__traceback__)
            raise self._unwritable(error) from error
        return self

    def _open(self, sink):
        kind = self.format.kind
        if kind in ("csv", "tsv"):
            options = pacsv.WriteOptions(delimiter=self.delimiter)
            return pacsv.CSVWriter(sink, self.schema, write_options=options)
        if kind == "parquet":
            return pq.ParquetWriter(sink, self.schema)
        if kind == "arrow":
            return pa.ipc.new_file(sink, self.schema)
        return _JsonLinesWriter(sink)

    def _unwritable(self, error: Exception) -> UserError:
        kind = self.format.kind.upper()
        return UserError(f"cannot write these columns to {kind} ({first_line(error)}); try Parquet")

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch.

        Args:
            batch (`pa.RecordBatch`): rows with the writer's columns.
        """
        if batch.schema.metadata != self.schema.metadata:
            batch = batch.replace_schema_metadata(self.schema.metadata)
        try:
            self._writer.write_batch(batch)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise self._unwritable(error) from error
        except OSError as error:
            raise cannot("write", shown(self.output), error) from error

    def __exit__(self, exc_type, exc, traceback) -> bool | None:
        try:
            self._writer.close()
            if self._compressed is not None:
                self._compressed.close()
        except BaseException as error:
            # Whatever stops the file's last bytes (a full disk, a signal), the temporary file goes and nothing
            # is published; an error already on its way is the one reported.
            self._staged.__exit__(type(error), error, error.__traceback__)
            if exc_type is not None and isinstance(error, Exception):
                return None
            if isinstance(error, OSError):
                raise cannot("write", self.output, error) from error
            raise
        return self._staged.__exit__(exc_type, exc, traceback)


class _JsonLinesWriter:
    """JSON Lines, one object per row (pyarrow has no JSON writer): nested columns as JSON, NaN as null."""

    def __init__(self, sink):
        self._sink = sink

    def write_batch(self, batch: pa.RecordBatch) -> None:
        lines = [_json_line(row) for row in batch.to_pylist()]
        self._sink.write("".join(lines).encode("utf-8"))

    def close(self) -> None:
        """Nothing to end: each row is complete as written."""


def _json_line(row: dict) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, allow_nan=False, default=_json_value) + "\n"
    except ValueError:  # NaN or an infinity, which JSON cannot hold
        return json.dumps(_finite(row), ensure_ascii=False, default=_json_value) + "\n"


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _json_value(value):
    """A value JSON has no type for: dates and times in ISO form, bytes in base64, the rest (decimals) as text."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
