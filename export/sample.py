"""Real reviews for `export`'s checks: from a text, CSV or Parquet file, or from one split of a dataset."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from sentiment_batch.columns import check_columns
from sentiment_batch.errors import UserError, shown
from sentiment_batch.formats import FileFormat
from sentiment_batch.readers import open_path
from sentiment_batch.text import is_text_type, row_error, text_errors

from .parity import read_texts as read_lines


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """The non-blank reviews of a file: one per line of a `.txt`, or the text column of a CSV or Parquet file.

    Args:
        path (`str | Path`): the file.
        text_column (`str`, *optional*, defaults to "text"): the column holding the reviews (CSV and Parquet).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"reviews file {shown(path)} does not exist or is not a file")
    if FileFormat.find(path) is None:
        try:
            texts = read_lines(path)
        except UnicodeDecodeError as error:
            raise UserError(f"{shown(path)} is not UTF-8 text: {error.reason} at byte {error.start}") from error
        return [text for text in texts if row_error(text) is None]
    source = open_path(path)
    check_columns(source.schema.names, text_column, [], where=shown(path))
    texts = []
    for batch in source.batches():
        column = batch.column(text_column)
        if not is_text_type(column.type):
            raise UserError(f"{shown(path)}: column {text_column!r} holds {column.type}, not text")
        _, scorable = text_errors(column)  # null, blank and invalid UTF-8 cells are left out
        texts += column.filter(pa.array(scorable)).to_pylist()
    return texts


def dataset_texts(settings, split: str) -> list[str]:
    """The non-blank reviews of one split of the datasets `train` reads, carved as `settings` say.

    Args:
        settings (`DataSettings`): the datasets and how `train` read and split them
            (`sentiment_batch.train.data_settings`).
        split (`str`): the split, e.g. "validation" or "test".
    """
    splits = settings.labelled().splits
    if split not in splits:
        raise UserError(f"{' '.join(settings.dataset)} has no {split!r} split; it has {', '.join(splits)}")
    return [text for text in splits[split]["text"] if row_error(text) is None]
