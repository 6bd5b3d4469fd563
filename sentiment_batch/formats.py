"""The file formats scoring reads and writes, named by extension or by name: one home for both directions.

A format is a kind (`csv`, `tsv`, `jsonl`, `parquet`, `arrow`) and, for the text kinds, a compression (`gz`,
`bz2`, `zst`): `reviews.csv.gz` is CSV compressed with gzip, and so is the name `csv.gz`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from .errors import UserError, shown

STDIO = "-"  # stdin as an input, stdout as the output
KINDS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",  # JSON Lines, as Spark and most ETL tools write `.json`
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
TEXT_KINDS = ("csv", "tsv", "jsonl")
# Extension → pyarrow's codec name.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class FileFormat:
    """A kind of file and its compression.

    Args:
        kind (`str`): one of `csv`, `tsv`, `jsonl`, `parquet`, `arrow`.
        compression (`str`, *optional*): pyarrow's codec name (`gzip`, `bz2`, `zstd`), for the text kinds only.
    """

    kind: str
    compression: str | None = None

    @property
    def is_text(self) -> bool:
        """Whether the format is text (CSV, TSV, JSON Lines), which holds strings as written."""
        return self.kind in TEXT_KINDS

    @property
    def delimiter(self) -> str:
        """The default field separator of CSV (`,`) and TSV (tab)."""
        return DELIMITERS.get(self.kind, ",")

    @classmethod
    def named(cls, name: str) -> FileFormat:
        """A format from its name, as `--input-format`/`--output-format` give it: `csv`, `jsonl.gz`, `parquet`.

        Args:
            name (`str`): a kind, or a kind and a compression joined by a dot; a leading dot is allowed.
        """
        found = _parse(PurePath("x." + name.lower().lstrip(".")))
        if found is None:
            raise UserError(f"unknown format {shown(repr(name))}; use one of {_known()}")
        return found

    @classmethod
    def of(cls, path: PurePath, role: str = "input") -> FileFormat:
        """A file's format from its extension (`reviews.csv.gz`, `part-0.snappy.parquet`).

        Args:
            path (`PurePath`): the file.
            role (`str`, *optional*, defaults to "input"): `input` or `output`, for the message.
        """
        found = _parse(path)
        if found is None:
            raise UserError(
                f"{role} {shown(path)}: unknown extension {shown(repr(''.join(path.suffixes[-2:])))}; "
                f"use one of {_known()}, or name the format"
            )
        return found

    @classmethod
    def find(cls, path: PurePath) -> FileFormat | None:
        """A file's format from its extension, or None where it names none (folders are read by this allow-list).

        Args:
            path (`PurePath`): the file.
        """
        return _parse(path)


@dataclass(frozen=True)
class Formats:
    """The formats and layout of a run's files, where the names do not say them.

    Args:
        input (`str`, *optional*): the format of every input (`csv`, `jsonl.gz`, …); stdin needs one.
        output (`str`, *optional*): the output's format; by its extension by default, stdout needs one.
        delimiter (`str`, *optional*): the field separator of CSV inputs and output; `,` (tab for TSV) by default.
    """

    input: str | None = None
    output: str | None = None
    delimiter: str | None = None

    def __post_init__(self):
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise UserError(f"the delimiter must be one character, got {shown(repr(self.delimiter))}")
        for name in (self.input, self.output):
            if name is not None:
                FileFormat.named(name)  # refused before any work

    @property
    def input_format(self) -> FileFormat | None:
        """The inputs' format, where named."""
        return None if self.input is None else FileFormat.named(self.input)

    @property
    def output_format(self) -> FileFormat | None:
        """The output's format, where named."""
        return None if self.output is None else FileFormat.named(self.output)


def _parse(path: PurePath) -> FileFormat | None:
    suffix = path.suffix.lower()
    compression = COMPRESSIONS.get(suffix)
    if compression is not None:
        suffix = path.with_suffix("").suffix.lower()
    kind = KINDS.get(suffix)
    if kind is None or (compression is not None and kind not in TEXT_KINDS):
        return None
    return FileFormat(kind, compression)


def _known() -> str:
    kinds = ", ".join(sorted({kind.lstrip(".") for kind in KINDS}))
    return f"{kinds} (csv, tsv and json also .gz, .bz2, .zst)"
