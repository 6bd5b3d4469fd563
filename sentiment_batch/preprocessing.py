"""The one text → token-id path shared by training, export and scoring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load `tokenizer.json` from a file or from the folder holding it.

    Args:
        path (`str | Path`): the file, or a model/bundle folder containing it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    return Tokenizer.from_file(str(path))


def encode_ids(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text; normalization and splitting are defined by `tokenizer.json` alone.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str]`): the reviews.
    """
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def flatten(ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """EmbeddingBag's input form: all ids concatenated (int64) and the start of each review (int64).

    Args:
        ids (`Sequence[Sequence[int]]`): token ids per review.
    """
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    # One conversion per review, not per token.
    flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in ids]) if len(ids) else np.zeros(0, np.int64)
    return flat, offsets


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Flat `input_ids` and `offsets` for a batch of texts, ready for the model or the ONNX graph.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str]`): the reviews.
    """
    return flatten(encode_ids(tokenizer, texts))
