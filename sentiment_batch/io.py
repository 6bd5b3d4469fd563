"""What makes a cell text: the rules readers apply to every string column but the text column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .errors import shown


class _NotText(Exception):
    """A cell that must hold text holds bytes that are not text."""


def _check_text(batch: pa.RecordBatch, text_column: str | None, first: int) -> None:
    """Refuse a column other than the text column that holds bytes that are not UTF-8 (Parquet writers that do not
    validate can write them), naming its first such row."""
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.name == text_column or not _holds_strings(field.type):
            continue
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            where = ""
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                where = f" row {first + int(undecodable_cells(column).argmax())}"
            raise _NotText(f"column {shown(repr(field.name))}{where} holds bytes that are not UTF-8") from None


def _holds_strings(kind: pa.DataType) -> bool:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return True
    if pa.types.is_dictionary(kind):
        return _holds_strings(kind.value_type)
    return any(_holds_strings(kind.field(index).type) for index in range(kind.num_fields))


def encodable(text: str) -> bool:
    """Whether a Python string can be written as UTF-8 (a lone surrogate cannot).

    Args:
        text (`str`): the string.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def undecodable_cells(column: pa.Array) -> np.ndarray:
    """Which cells of an Arrow string column Python's strict UTF-8 decoder refuses (one Python call per cell).

    Args:
        column (`pa.Array`): a string or large_string column.
    """
    invalid = np.zeros(len(column), dtype=bool)
    for row, value in enumerate(column.cast(pa.large_binary()).to_pylist()):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                invalid[row] = True
    return invalid
