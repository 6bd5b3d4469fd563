"""Every rule of a text cell, in one place: which types hold text, which cells can be scored, and why not.

A cell is scorable when it is a string that is not empty or white space only and, read from a file, is valid UTF-8.
The reader, the scorer, the training data and the exporter's samples all judge texts by these rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

INVALID_UTF8 = "invalid UTF-8"
# A text the tokenizer leaves no token of (only `<br />` and white space): nothing for the model to read.
NO_WORDS = "no words to score"


def is_text_type(kind: pa.DataType) -> bool:
    """Whether an Arrow type is a string type (string, large_string or string_view).

    Args:
        kind (`pa.DataType`): the column's type.
    """
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def holds_text(kind: pa.DataType) -> bool:
    """Whether an Arrow type holds strings anywhere: itself, a dictionary's values or a nested field.

    Args:
        kind (`pa.DataType`): the column's type.
    """
    if is_text_type(kind):
        return True
    if pa.types.is_dictionary(kind):
        return holds_text(kind.value_type)
    return any(holds_text(kind.field(index).type) for index in range(kind.num_fields))


def row_error(value: object) -> str | None:
    """Why a value cannot be scored, or None when it is a non-blank string.

    Args:
        value (`object`): one cell of the text column.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "null text"
    if not isinstance(value, str):
        return f"non-string text ({type(value).__name__})"
    if not value:
        return "empty text"
    # isspace() allocates nothing, unlike strip(), which matters on long reviews
    if value.isspace():
        return "whitespace-only text"
    return None


def text_errors(column: pa.Array) -> tuple[list[str | None], np.ndarray]:
    """`row_error` of every cell of an Arrow string column, and which cells are scorable.

    Only cells that are null, empty, not UTF-8 or start with a byte other than printable ASCII are read into
    Python (they may be blank); the rest start with a visible character and are scorable as they are.

    Args:
        column (`pa.Array`): a column of a string type (`is_text_type`).
    """
    column = column.cast(pa.large_string())
    count = len(column)
    offsets = np.frombuffer(column.buffers()[1], np.int64)[column.offset : column.offset + count + 1]
    data = np.frombuffer(column.buffers()[2] or b"", np.uint8)
    first = np.zeros(count, dtype=np.uint8)
    filled = offsets[1:] > offsets[:-1]
    first[filled] = data[offsets[:-1][filled]]
    ok = (first > 0x20) & (first < 0x7F)
    if column.null_count:
        ok &= column.is_valid().to_numpy(zero_copy_only=False)
    invalid = invalid_utf8(column)
    errors: list[str | None] = [None] * count
    for row in np.flatnonzero(~ok | invalid).tolist():
        errors[row] = INVALID_UTF8 if invalid[row] else row_error(column[row].as_py())
        ok[row] = errors[row] is None
    return errors, ok


def invalid_utf8(column: pa.Array) -> np.ndarray:
    """Which cells of an Arrow string column hold bytes that are not UTF-8 (Parquet and CSV files can).

    Overlong forms, surrogates and truncated sequences all count. Arrow validates the whole column at
    once; only a column that fails is checked cell by cell.

    Args:
        column (`pa.Array`): a column of a string type.
    """
    try:
        column.validate(full=True)
        return np.zeros(len(column), dtype=bool)
    except pa.ArrowInvalid:
        return undecodable_cells(column)


def undecodable_cells(column: pa.Array) -> np.ndarray:
    """Which cells of an Arrow string column Python's strict UTF-8 decoder refuses (one Python call per cell).

    Args:
        column (`pa.Array`): a column of a string type.
    """
    invalid = np.zeros(len(column), dtype=bool)
    for row, value in enumerate(column.cast(pa.large_binary()).to_pylist()):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                invalid[row] = True
    return invalid


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


def python_text_errors(values: Sequence[object]) -> tuple[list[str | None], np.ndarray, pa.Array]:
    """`row_error` of every value of a Python sequence, which values are scorable, and those as an Arrow column.

    Args:
        values (`Sequence[object]`): the cells, of any type.
    """
    errors = [row_error(value) for value in values]
    ok = np.fromiter((error is None for error in errors), dtype=bool, count=len(errors))
    try:
        return errors, ok, pa.array([values[row] for row in np.flatnonzero(ok)], pa.large_string())
    except UnicodeEncodeError:  # a lone surrogate somewhere: find it, the other texts are scored
        pass
    for row in np.flatnonzero(ok).tolist():
        if not encodable(values[row]):
            errors[row], ok[row] = INVALID_UTF8, False
    return errors, ok, pa.array([values[row] for row in np.flatnonzero(ok)], pa.large_string())


def writable(scored: pa.RecordBatch, text_column: str, error_column: str) -> pa.RecordBatch:
    """A scored batch as a file may hold it: each text cell that was not UTF-8 (its row's error says so) decoded
    with U+FFFD for every bad byte sequence, so the output holds text only.

    Args:
        scored (`pa.RecordBatch`): from `Scorer.score_batches`.
        text_column (`str`): the text column.
        error_column (`str`): the added error column (`OutputColumns.error`).
    """
    if not pc.any(pc.equal(scored.column(error_column), INVALID_UTF8)).as_py():
        return scored
    index = scored.schema.get_field_index(text_column)
    raw = scored.column(index).cast(pa.large_binary()).to_pylist()
    text = [None if value is None else value.decode("utf-8", "replace") for value in raw]
    return scored.set_column(index, scored.schema.field(index), pa.array(text, scored.schema.field(index).type))
