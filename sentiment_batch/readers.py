"""Reading inputs as ETL jobs hold them: files, globs, folders and hive partitions, stdin, in every format of
`formats`, streamed in bounded memory, rows in input order, several inputs unified by column name.

Each file is opened with pyarrow's reader for its format (Parquet, Arrow IPC, JSON Lines) or, for CSV and TSV,
Python's strict `csv` module over the decompressed text, which keeps every cell as written and reports a bad byte
in its row. Folders are listed here, not by `pyarrow.dataset`: it promises no order, keeps a dataset's schema from
its first file, and reads `.crc` files.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import glob
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .columns import names_shown
from .errors import UserError, cut, first_line, shown
from .formats import STDIO, FileFormat
from .text import encodable, holds_text, is_text_type, undecodable_cells

CHUNK_ROWS = 16_384
_PARQUET_BUFFER = 8 << 20
# A review can be long; Python's csv module stops at 128 kB per field by default. 2**31 - 1 fits a C long anywhere.
_CSV_FIELD_LIMIT = 2**31 - 1
# A JSON Lines row must fit in one block; the reader holds a few blocks at a time.
JSON_BLOCK = 16 << 20
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's and Hive's name for a null partition value


class _NotText(Exception):
    """A cell that must hold text holds bytes that are not text."""


_READ_ERRORS = (pa.ArrowException, csv.Error, _NotText, UnicodeError, OSError)
_CSV_MESSAGES = {"unexpected end of data": "a quoted field is still open at the end of the file"}
_JSON_MESSAGES = {
    "straddling": f"a row is longer than {JSON_BLOCK >> 20} MiB, the most a JSON Lines row may hold",
    "unexpected field": "a row has a field the file's first rows do not have",
}


@dataclass(frozen=True)
class ReadOptions:
    """How text inputs are read.

    Args:
        format (`FileFormat`, *optional*): the format of every input, whatever its name says; stdin needs one.
        encoding (`str`, *optional*): the encoding of CSV/TSV inputs; UTF-8 by default (a BOM dropped).
        delimiter (`str`, *optional*): the CSV field separator; `,` for CSV and tab for TSV by default.
    """

    format: FileFormat | None = None
    encoding: str | None = None
    delimiter: str | None = None


@dataclass
class InputFile:
    """One file to read: where it is (None for stdin), its format, and its hive partition values."""

    path: Path | None
    format: FileFormat
    partitions: tuple[tuple[str, str | None], ...] = ()
    _stdin: _Rewindable | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The file as messages and the summary name it."""
        return "stdin" if self.path is None else str(self.path)

    def open_binary(self) -> BinaryIO:
        """The file's bytes, decompressed; stdin is read once, from the start again after its schema was read."""
        if self.path is None:
            self._stdin.start()
            raw = self._stdin
        else:
            raw = open(self.path, "rb")  # noqa: SIM115 (closed by the caller)
        if self.format.compression is None:
            return raw
        return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), self.format.compression)


def discover(inputs: Sequence[str], options: ReadOptions | None = None) -> list[InputFile]:
    """The files to read, in order: each path as given, each glob's and folder's files in sorted path order
    (folders recursively, by an extension allow-list, without hidden files, `_SUCCESS` and the like), with the
    `key=value` folders below a folder or a glob's fixed part as partition values.

    Args:
        inputs (`Sequence[str]`): paths, globs, folders, or `-` for stdin.
        options (`ReadOptions`, *optional*): the format every input has, if named.
    """
    options = options or ReadOptions()
    if list(inputs).count(STDIO) > 1:
        raise UserError("stdin (-) can be read only once")
    files: list[InputFile] = []
    for value in inputs:
        if value == STDIO:
            files.append(_stdin_file(options.format))
        elif glob.has_magic(value):
            matches = sorted(glob.glob(value, recursive=True))
            root = Path(_fixed_part(value))
            found = [_file(Path(match), root, options.format) for match in matches if _listed(Path(match), root)]
            if not found:
                raise UserError(f"no file matches {shown(repr(value))}")
            files += found
        elif Path(value).is_dir():
            files += _folder_files(Path(value), options.format)
        elif Path(value).is_file():
            files.append(_file(Path(value), None, options.format))
        else:
            raise UserError(f"input {shown(value)} does not exist or is not a file or folder")
    return files


def _stdin_file(fmt: FileFormat | None) -> InputFile:
    if fmt is None:
        raise UserError("stdin (-) has no name to tell its format by; name the input format")
    stdin = sys.stdin.buffer
    if fmt.is_text:
        return InputFile(None, fmt, _stdin=_Rewindable(stdin))
    # Parquet and Arrow files are read from their end; a pipe cannot seek, so they are spooled to disk first.
    spool = tempfile.NamedTemporaryFile(prefix="sentiment-batch-stdin.", delete=False)  # noqa: SIM115
    with spool:
        shutil.copyfileobj(stdin, spool, 1 << 20)
    _remove_at_exit(Path(spool.name))
    return InputFile(Path(spool.name), fmt)


def _remove_at_exit(path: Path) -> None:
    atexit.register(path.unlink, missing_ok=True)


def _fixed_part(pattern: str) -> str:
    """The folder of a glob before its first wildcard: partition folders are the ones below it."""
    parts = Path(pattern).parts
    fixed = parts[: next(index for index, part in enumerate(parts) if glob.has_magic(part))]
    return os.path.join(*fixed) if fixed else "."


def _listed(path: Path, root: Path) -> bool:
    """Whether a folder listing reads `path`: a file of a known format, no part of its path below `root` hidden
    (`.name`) or a marker (`_SUCCESS`, `_temporary/`; hive's `_key=value/` folders are read)."""
    if not path.is_file() or FileFormat.find(path) is None:
        return False
    below = path.relative_to(root).parts if path.is_relative_to(root) else path.parts[-1:]
    return not any(part.startswith(".") or (part.startswith("_") and "=" not in part) for part in below)


def _folder_files(folder: Path, fmt: FileFormat | None) -> list[InputFile]:
    paths = sorted((path for path in folder.rglob("*") if _listed(path, folder)), key=lambda path: path.parts)
    if not paths:
        raise UserError(f"input folder {shown(folder)} holds no file of a known format")
    return [_file(path, folder, fmt) for path in paths]


def _file(path: Path, root: Path | None, fmt: FileFormat | None) -> InputFile:
    partitions = ()
    if root is not None and path.is_relative_to(root):
        pairs = [part.partition("=") for part in path.relative_to(root).parts[:-1]]
        partitions = tuple((unquote(key), _partition_value(value)) for key, sep, value in pairs if sep and key)
    return InputFile(path, fmt or FileFormat.of(path), partitions)


def _partition_value(value: str) -> str | None:
    return None if value == HIVE_NULL else unquote(value)


class _Rewindable(io.RawIOBase):
    """A stream (stdin) whose first bytes are kept while its schema is read, then read again from the start."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._kept: bytearray | None = bytearray()
        self._replay = memoryview(b"")
        self._starts = 0

    def readable(self) -> bool:
        return True

    def start(self) -> None:
        """Begin a read: the first keeps what it reads, the second reads it again and then the rest; no third."""
        if self._starts > 1:
            raise UserError("stdin (-) can be read only once")
        if self._starts == 1:
            self._replay, self._kept = memoryview(bytes(self._kept)), None
        self._starts += 1

    def readinto(self, buffer) -> int:
        if self._replay:
            count = min(len(buffer), len(self._replay))
            buffer[:count], self._replay = self._replay[:count], self._replay[count:]
            return count
        data = self._stream.read1(len(buffer)) if hasattr(self._stream, "read1") else self._stream.read(len(buffer))
        if self._kept is not None:
            self._kept += data
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:  # stdin stays open for the process; the reader closing its stream is a no-op here
        pass


@dataclass
class Source:
    """One opened input: its file, its columns (partition columns last) and row count when its format says.

    Args:
        file (`InputFile`): what is read.
        schema (`pa.Schema`): its columns as read, partition columns included.
        num_rows (`int`, *optional*): its rows, known before reading for Parquet only.
        batches_of (`Callable`): yields the file's own columns' batches (`rows`, `text_column`).
    """

    file: InputFile
    schema: pa.Schema
    num_rows: int | None
    batches_of: Callable[[int, str | None], Iterator[pa.RecordBatch]] = field(repr=False)

    def batches(self, rows: int = CHUNK_ROWS, text_column: str | None = None) -> Iterator[pa.RecordBatch]:
        """The file's rows in order, at most `rows` per batch, partition columns added; read problems become
        one-line `UserError`s naming the file.

        Every string column must hold text, except `text_column`, whose cells that are not text are kept as they
        are for the scorer to report row by row.

        Args:
            rows (`int`, *optional*, defaults to 16,384): rows per batch.
            text_column (`str`, *optional*): the one column that may hold cells that are not text.
        """
        try:
            for batch in self.batches_of(rows, text_column):
                yield self._with_partitions(batch)
        except _READ_ERRORS as error:
            raise read_failure(self.file, error) from error

    def _with_partitions(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.file.partitions:
            return batch
        values = [pa.repeat(pa.scalar(value, pa.string()), batch.num_rows) for _, value in self.file.partitions]
        return pa.RecordBatch.from_arrays([*batch.columns, *values], schema=self.schema)


def read_failure(file: InputFile, error: BaseException) -> UserError:
    """The one-line error for a file that cannot be read: the file, its format, and the reader's reason.

    Args:
        file (`InputFile`): the input.
        error (`BaseException`): what its reader raised.
    """
    message = first_line(error)
    if file.format.kind == "jsonl":
        message = next((text for key, text in _JSON_MESSAGES.items() if key in message), message)
    return UserError(f"cannot read {shown(file.name)} as {file.format.kind.upper()}: {shown(cut(message))}")


def open_path(path: str | os.PathLike, options: ReadOptions | None = None) -> Source:
    """Open one file by its path (its format from its name, unless `options` names one).

    Args:
        path (`str | os.PathLike`): the file.
        options (`ReadOptions`, *optional*): its format, encoding and delimiter.
    """
    options = options or ReadOptions()
    return open_source(_file(Path(path), None, options.format), options)


def open_source(file: InputFile, options: ReadOptions | None = None) -> Source:
    """Open one input: read its schema (a header, a first block or a footer), not its rows.

    Args:
        file (`InputFile`): from `discover`.
        options (`ReadOptions`, *optional*): the encoding and delimiter of text inputs.
    """
    options = options or ReadOptions()
    opener = {"csv": _open_csv, "tsv": _open_csv, "jsonl": _open_json, "parquet": _open_parquet, "arrow": _open_arrow}
    try:
        schema, num_rows, batches_of = opener[file.format.kind](file, options)
    except _READ_ERRORS as error:
        raise read_failure(file, error) from error
    names = set(schema.names)
    for key, _ in file.partitions:
        if key in names:
            raise UserError(f"{shown(file.name)} has a column {shown(repr(key))} and lies in a partition folder of it")
        names.add(key)
        schema = schema.append(pa.field(key, pa.string()))
    return Source(file, schema, num_rows, batches_of)


def text_encoding(name: str | None) -> str:
    """The codec text inputs are read with: `name` (a UTF-8 BOM dropped either way), UTF-8 by default.

    Args:
        name (`str`, *optional*): a text encoding Python knows, e.g. "latin-1" or "cp1252".
    """
    try:
        info = codecs.lookup(name or "utf-8")
    except LookupError:
        raise UserError(f"unknown encoding {shown(repr(name))}") from None
    # rot13, base64, zlib and the like are codecs, not text encodings; idna encodes host names only.
    if not info._is_text_encoding or info.name == "idna":
        raise UserError(f"{shown(repr(name))} is not a text encoding; name the encoding the file's text is in")
    return "utf-8-sig" if info.name == "utf-8" else info.name


def _encoding_name(codec: str) -> str:
    """The name messages give a codec from `text_encoding`."""
    return "UTF-8" if codec == "utf-8-sig" else codec


# CSV and TSV: Python's strict reader over the decompressed text, every cell a string as written.


def _open_text(file: InputFile, encoding: str) -> TextIO:
    """The file as text in its encoding; bytes the encoding cannot read become lone surrogates
    (`surrogateescape`), so a bad cell of the text column is reported in its row."""
    return io.TextIOWrapper(file.open_binary(), encoding=encoding, errors="surrogateescape", newline="")


def _csv_rows(handle: TextIO, delimiter: str) -> Iterator[list[str]]:
    """Rows of a CSV file; strict, so a stray quote or a quote left open at the end is an error, not a guess."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    return csv.reader(handle, delimiter=delimiter, strict=True)


def _first_row(reader: Iterator[list[str]]) -> list[str] | None:
    return next((row for row in reader if row), None)


def _open_csv(file: InputFile, options: ReadOptions):
    encoding = text_encoding(options.encoding)
    delimiter = options.delimiter or file.format.delimiter
    with _open_text(file, encoding) as handle:
        header = _first_row(_csv_rows(handle, delimiter))
    if header is None:
        raise csv.Error("the file is empty; a CSV input starts with a header row")
    for name in header:
        if not encodable(name):
            raise csv.Error(f"the header holds bytes that are not {_encoding_name(encoding)}: {shown(repr(name))}")
    # One string column per header name, names kept exactly (empty and repeated ones too).
    schema = pa.schema([(name, pa.string()) for name in header])
    return schema, None, lambda rows, text_column: _csv_batches(file, schema, encoding, delimiter, rows, text_column)


def _csv_batches(
    file: InputFile, schema: pa.Schema, encoding: str, delimiter: str, rows: int, text_column: str | None
) -> Iterator[pa.RecordBatch]:
    width = len(schema)
    with _open_text(file, encoding) as handle:
        reader = _csv_rows(handle, delimiter)
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
                    yield _csv_batch(schema, chunk, lines, text_column, encoding)
                    chunk, lines = [], []
        except csv.Error as error:
            message = _CSV_MESSAGES.get(str(error), str(error))
            raise csv.Error(f"line {reader.line_num}: {message}") from error
        if chunk:
            yield _csv_batch(schema, chunk, lines, text_column, encoding)


def _csv_batch(
    schema: pa.Schema, rows: list[list[str]], lines: list[int], text_column: str | None, encoding: str
) -> pa.RecordBatch:
    """Rows of CSV cells as a batch of string columns; the text column keeps bytes that are not text."""
    columns = []
    for column, values in zip(schema, zip(*rows, strict=True), strict=True):
        try:
            columns.append(pa.array(values, pa.string()))
        except UnicodeEncodeError:
            if column.name != text_column:
                line = next(line for line, value in zip(lines, values, strict=True) if not encodable(value))
                where = f"line {line}, column {shown(repr(column.name))}"
                raise _NotText(f"{where}: bytes that are not {_encoding_name(encoding)}") from None
            raw = [value.encode("utf-8", "surrogateescape") for value in values]
            columns.append(pa.array(raw, pa.binary()).view(pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# JSON Lines: pyarrow's reader, with the types its first block shows, strings kept as strings.


def _open_json(file: InputFile, options: ReadOptions):
    read = pajson.ReadOptions(block_size=JSON_BLOCK, use_threads=False)
    with file.open_binary() as stream:
        first = pajson.open_json(stream, read_options=read).schema
    # pyarrow reads strings shaped like dates as timestamps, and a field null so far as null: both stay text.
    schema = pa.schema([_as_written(column) for column in first])
    return schema, None, lambda rows, text_column: _json_batches(file, schema, rows, text_column)


def _as_written(column: pa.Field) -> pa.Field:
    if pa.types.is_timestamp(column.type) or pa.types.is_null(column.type):
        return column.with_type(pa.string())
    return column


def _json_batches(file: InputFile, schema: pa.Schema, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    with file.open_binary() as stream:
        reader = pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=JSON_BLOCK), parse_options=parse)
        yield from _rechunked(reader, rows, text_column)


def _check_text(batch: pa.RecordBatch, text_column: str | None, first: int) -> None:
    """Refuse a column other than the text column that holds bytes that are not UTF-8 (Parquet writers that do not
    validate can write them), naming its first such row."""
    for column, values in zip(batch.schema, batch.columns, strict=True):
        if column.name == text_column or not holds_text(column.type):
            continue
        try:
            values.validate(full=True)
        except pa.ArrowInvalid:
            where = ""
            if is_text_type(column.type):
                where = f" row {first + int(undecodable_cells(values).argmax())}"
            raise _NotText(f"column {shown(repr(column.name))}{where} holds bytes that are not UTF-8") from None


def _rechunked(batches, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
    """Batches of at most `rows` rows (slices, not copies), their text checked."""
    first = 0
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            piece = batch.slice(start, rows)
            _check_text(piece, text_column, first)
            first += piece.num_rows
            yield piece


# Parquet and Arrow IPC: pyarrow's readers, types as stored.


def _open_parquet(file: InputFile, options: ReadOptions):
    # A file object, not a path: a name that is not UTF-8 reaches no codec.
    with open(file.path, "rb") as handle, pq.ParquetFile(handle) as parquet:
        schema, num_rows = parquet.schema_arrow, parquet.metadata.num_rows
    return schema, num_rows, lambda rows, text_column: _parquet_batches(file.path, rows, text_column)


def _parquet_batches(path: Path, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
    # Without pre-buffering a whole row group is never held at once: big row groups stay cheap.
    with open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=_PARQUET_BUFFER)
        yield from _rechunked(parquet.iter_batches(batch_size=rows), rows, text_column)


_IPC_FILE_MAGIC = b"ARROW1"


def _open_arrow(file: InputFile, options: ReadOptions):
    with _ipc_reader(file.path) as reader:
        schema = reader.schema
    return schema, None, lambda rows, text_column: _arrow_batches(file.path, rows, text_column)


def _ipc_reader(path: Path):
    """An Arrow IPC file (Feather v2) or stream reader, by the file's first bytes."""
    handle = pa.OSFile(os.fsdecode(path))
    if handle.read(len(_IPC_FILE_MAGIC)) == _IPC_FILE_MAGIC:
        handle.seek(0)
        return pa.ipc.open_file(handle)
    handle.seek(0)
    return pa.ipc.open_stream(handle)


def _arrow_batches(path: Path, rows: int, text_column: str | None) -> Iterator[pa.RecordBatch]:
    with _ipc_reader(path) as reader:
        if isinstance(reader, pa.ipc.RecordBatchFileReader):
            batches = (reader.get_batch(index) for index in range(reader.num_record_batches))
        else:
            batches = reader
        yield from _rechunked(batches, rows, text_column)


# Several inputs as one table: columns by name, types widened only where no value changes.


def unified_schema(sources: Sequence[Source]) -> pa.Schema:
    """The schema every input converts to without changing a value: the union of the inputs' columns by name, in
    the order they first appear, each column's type widened where another input's type fits in it exactly
    (int32 → int64, string → large_string, an all-null column → any type). Inputs with the very same column names
    (repeated names included) meet column by column.

    A column whose types cannot meet (float32 and float64, an integer and a CSV's text) is refused in one line
    naming both files and the column, before anything is written.

    Args:
        sources (`Sequence[Source]`): the opened inputs.
    """
    same_names = all(source.schema.names == sources[0].schema.names for source in sources)
    if not same_names:
        for source in sources:
            _check_unique(source)
    fields: dict[str | int, pa.Field] = {}
    seen_in: dict[str | int, Source] = {}
    for source in sources:
        for index, column in enumerate(source.schema):
            key = index if same_names else column.name
            if key not in fields:
                fields[key], seen_in[key] = column, source
                continue
            kind = widened(fields[key].type, column.type)
            if kind is None:
                raise _type_clash(source, column, seen_in[key], fields[key])
            if kind != fields[key].type:
                seen_in[key] = source
            fields[key] = fields[key].with_type(kind).with_nullable(fields[key].nullable or column.nullable)
    nullable = [column if same_names else column.with_nullable(True) for column in fields.values()]
    return pa.schema(nullable, metadata=sources[0].schema.metadata)


def _check_unique(source: Source) -> None:
    names = source.schema.names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(
            f"{shown(source.file.name)} has repeated column names {shown(names_shown(repeated))}, and the inputs' "
            "columns differ: columns are matched by name, so each name must be used once"
        )


def _type_clash(source: Source, column: pa.Field, other: Source, other_field: pa.Field) -> UserError:
    return UserError(
        f"{shown(source.file.name)}: column {shown(repr(column.name))} holds {column.type} where "
        f"{shown(other.file.name)} holds {other_field.type}; one output column cannot hold both without "
        "changing values: convert the inputs to one type, or score them in separate runs"
    )


def conform(batch: pa.RecordBatch, schema: pa.Schema, source: Source) -> pa.RecordBatch:
    """`batch` in the output's schema (`unified_schema`): columns by name (by position where the names are the
    same), null where the input lacks one, cast only where widened without changing a value.

    Args:
        batch (`pa.RecordBatch`): rows of one input.
        schema (`pa.Schema`): the inputs' unified schema.
        source (`Source`): the input, for the message.
    """
    if batch.schema.equals(schema):
        return batch
    try:
        if batch.schema.names == schema.names:
            return batch.cast(schema)
        columns = [
            batch.column(name).cast(column.type) if name in batch.schema.names else pa.nulls(len(batch), column.type)
            for name, column in zip(schema.names, schema, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        message = f"its columns do not convert to the output's: {first_line(error)}"
        raise UserError(f"{shown(source.file.name)}: {shown(cut(message))}") from error


_STRINGS = (pa.string(), pa.large_string(), pa.string_view())
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
    for family, widest in ((_STRINGS, pa.large_string()), (_BINARIES, pa.large_binary())):
        if first in family and second in family:
            return widest
    if pa.types.is_integer(first) and pa.types.is_integer(second):
        return _wider_integer(first, second)
    return None


def _wider_integer(first: pa.DataType, second: pa.DataType) -> pa.DataType | None:
    signed = [pa.types.is_signed_integer(kind) for kind in (first, second)]
    if signed[0] == signed[1]:
        return first if first.bit_width >= second.bit_width else second
    signed_type, unsigned_type = (first, second) if signed[0] else (second, first)
    return signed_type if signed_type.bit_width > unsigned_type.bit_width else None
