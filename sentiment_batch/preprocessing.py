"""The one text → token-id path shared by training, export and scoring."""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"

# The pipeline `train.tokenization.new_tokenizer` builds; only it has the pyarrow fast path below.
KNOWN_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Replace", "pattern": {"Regex": "<br\\s*/?>"}, "content": " "},
        {"type": "NFKC"},
        {"type": "Lowercase"},
    ],
}
KNOWN_PRE_TOKENIZER = {"type": "Whitespace"}

# Oniguruma's Unicode \s and \w as tokenizers matches them, spelled out because RE2's are ASCII-only.
_SPACE = r"\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
_WORD = r"\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}\x{1F150}-\x{1F169}\x{1F170}-\x{1F189}"
# NFKC maps every other whitespace to " ", so turning these four into " " up front (no different, since they
# neither compose nor match `<br…>` differently) leaves only ASCII whitespace, which bytes.translate can drop.
_LINE_BREAK = rf"<br[{_SPACE}]*/?>|[\x{{85}}\x{{1680}}\x{{2028}}\x{{2029}}]"
_ASCII_SPACE = b"\t\n\x0b\x0c\r "
# Characters utf8proc and Rust normalize or classify differently (other Unicode versions, full vs simple case
# mapping of İ), plus U+0307 that NFKC composes into İ; texts holding one take the tokenizers path.
_MISMATCHED = (
    r"\x{130}\x{307}\x{7FD}\x{898}-\x{8D3}\x{9FE}\x{C3C}\x{D3B}\x{D3C}\x{EBA}\x{1715}\x{1ABF}-\x{1ACE}\x{1DF6}-\x{1DFA}"
    r"\x{32FF}\x{A7F2}-\x{A7F4}\x{A82C}\x{AB69}\x{10780}-\x{11FFF}\x{16FF0}\x{16FF1}\x{1E030}-\x{1E4EF}\x{1F16C}"
    r"\x{1FBF0}-\x{1FBF9}"
)
_ASSIGNED = r"\p{L}\p{M}\p{N}\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}\p{Co}"
_UNSAFE = rf"[^{_ASSIGNED}]|[{_MISMATCHED}]"


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load `tokenizer.json` from a file or from the folder holding it.

    Args:
        path (`str | Path`): the file, or a model/bundle folder containing it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    return Tokenizer.from_file(str(path))


def _encode_batch(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets


def _char_classes(chars: list[str]) -> np.ndarray:
    """Per character: 0 for whitespace, 1 for word characters, 2 for the rest."""
    column = pa.array(chars, pa.large_string())
    word = pc.match_substring_regex(column, f"[{_WORD}]").to_numpy(zero_copy_only=False)
    space = pc.match_substring_regex(column, f"[{_SPACE}]").to_numpy(zero_copy_only=False)
    return np.where(space, 0, np.where(word, 1, 2)).astype(np.uint8)


# Bytes of multi-byte characters read 2 until `_byte_classes` looks their characters up.
_BYTE_CLASSES = bytes(_char_classes([chr(byte) for byte in range(128)])) + b"\x02" * 128


def _byte_classes(raw: bytes) -> np.ndarray:
    """The class of the character each byte of valid UTF-8 belongs to."""
    classes = np.frombuffer(raw.translate(_BYTE_CLASSES), np.uint8).copy()
    data = np.frombuffer(raw, np.uint8)
    leads = np.flatnonzero(data >= 0xC0)
    if not len(leads):
        return classes
    width = 2 + (data[leads] >= 0xE0) + (data[leads] >= 0xF0)
    codepoints = data[leads].astype(np.uint32) & (0x7F >> width)
    for k in range(1, 4):
        more = width > k
        codepoints[more] = (codepoints[more] << 6) | (data[leads[more] + k] & 0x3F)
    # Few distinct characters per batch: classify those with RE2 rather than keep a table of all of Unicode.
    unique, inverse = np.unique(codepoints, return_inverse=True)
    lead_classes = _char_classes([chr(point) for point in unique])[inverse]
    for k in range(4):
        classes[leads[width > k] + k] = lead_classes[width > k]
    return classes


def _split(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """All tokens of the batch, flat, and each text's token count: as `\\w+|[^\\w\\s]+` finds them, on UTF-8 bytes."""
    offsets = np.frombuffer(text.buffers()[1], np.int64)[text.offset : text.offset + len(text) + 1]
    raw = (text.buffers()[2] or pa.py_buffer(b""))[offsets[0] : offsets[-1]].to_pybytes()
    offsets = offsets - offsets[0]
    classes = _byte_classes(raw)
    run_start = np.ones(len(raw), dtype=bool)
    run_start[1:] = classes[1:] != classes[:-1]
    run_start[offsets[:-1][offsets[:-1] < len(raw)]] = True  # no token spans two texts
    starts = np.flatnonzero(run_start)
    ends = np.append(starts[1:], len(raw))
    token = classes[starts] != 0
    starts, ends = starts[token], ends[token]
    word_offsets = _offsets(np.append(ends - starts, 0))
    words = pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(word_offsets), pa.py_buffer(raw.translate(None, _ASCII_SPACE))
    )
    return words, np.diff(np.searchsorted(starts, offsets))


def _normalize(column: pa.Array) -> pa.Array:
    """The normalizer's output: line breaks out, NFKC (on the texts it can change), lower case."""
    text = pc.replace_substring_regex(column, _LINE_BREAK, " ")
    other = pc.invert(pc.string_is_ascii(text))
    if pc.any(other).as_py():
        text = pc.replace_with_mask(text, other, pc.utf8_normalize(text.filter(other), "NFKC"))
    return pc.utf8_lower(text)


class FastEncoder:
    """`encode_batch`'s ids for the known pipeline, computed with pyarrow over the whole batch at once."""

    def __init__(self, tokenizer: Tokenizer, config: dict):
        """Cache the vocabulary; use `FastEncoder.of` rather than this.

        Args:
            tokenizer (`Tokenizer`): the tokenizer, for the texts the fast path cannot take.
            config (`dict`): its parsed JSON, already checked by `supports`.
        """
        # The cache is keyed on the tokenizer; a strong reference would keep it alive for ever.
        self._tokenizer = weakref.proxy(tokenizer)
        vocab = config["model"]["vocab"]
        self._vocab = pa.array(list(vocab), pa.large_string())
        # index_in gives null for unknown words: they read the slot after the vocabulary, holding [UNK].
        unk = vocab[config["model"]["unk_token"]]
        self._ids = np.fromiter([*vocab.values(), unk], dtype=np.int64, count=len(vocab) + 1)
        # Added tokens are split out of the raw text before normalization, so texts holding one go the slow way.
        added = "".join(f"|{re.escape(token['content'])}" for token in config["added_tokens"])
        self._unsafe = _UNSAFE + added

    @staticmethod
    def supports(config: dict) -> bool:
        """Whether a tokenizer's JSON is exactly the pipeline the fast path reproduces.

        Args:
            config (`dict`): `json.loads(tokenizer.to_str())`.
        """
        model = config["model"]
        # No post_processor check: ids are always encoded without special tokens, which is all one adds
        # (saving through transformers attaches an empty TemplateProcessing).
        return (
            config["normalizer"] == KNOWN_NORMALIZER
            and config["pre_tokenizer"] == KNOWN_PRE_TOKENIZER
            and config["truncation"] is None
            and config["padding"] is None
            and model["type"] == "WordLevel"
            and model["unk_token"] in model["vocab"]
            and not any(token["normalized"] for token in config["added_tokens"])
        )

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> FastEncoder | None:
        """The tokenizer's encoder, built once, or None when its pipeline is not the known one.

        Args:
            tokenizer (`Tokenizer`): the trained tokenizer.
        """
        if tokenizer not in _ENCODERS:
            config = json.loads(tokenizer.to_str())
            _ENCODERS[tokenizer] = cls(tokenizer, config) if cls.supports(config) else None
        return _ENCODERS[tokenizer]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int64) and the start of each text (int64), as `encode` returns them.

        Args:
            texts (`Sequence[str]`): the reviews.
        """
        column = pa.array(texts, pa.large_string())
        slow = pc.match_substring_regex(column, self._unsafe).to_numpy(zero_copy_only=False)
        if not slow.any():
            ids, lengths = self._encode_column(column)
            return ids, _offsets(lengths)
        fast_ids, fast_lengths = self._encode_column(column.filter(pa.array(~slow)))
        slow_ids, slow_offsets = flatten(_encode_batch(self._tokenizer, [texts[i] for i in np.flatnonzero(slow)]))
        lengths = np.empty(len(slow), dtype=np.int64)
        lengths[~slow] = fast_lengths
        lengths[slow] = np.diff(slow_offsets, append=len(slow_ids))
        from_slow = np.repeat(slow, lengths)
        ids = np.empty(len(from_slow), dtype=np.int64)
        ids[~from_slow] = fast_ids
        ids[from_slow] = slow_ids
        return ids, _offsets(lengths)

    def _encode_column(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Ids and token count of each text, for texts the pyarrow kernels handle exactly like tokenizers."""
        words, lengths = _split(_normalize(column))
        index = pc.index_in(words, value_set=self._vocab).fill_null(len(self._vocab))
        return self._ids[index.to_numpy()], lengths


_ENCODERS: weakref.WeakKeyDictionary[Tokenizer, FastEncoder | None] = weakref.WeakKeyDictionary()


def encode_ids(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text; normalization and splitting are defined by `tokenizer.json` alone.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str]`): the reviews.
    """
    encoder = FastEncoder.of(tokenizer)
    if encoder is None or not len(texts):
        return _encode_batch(tokenizer, texts)
    ids, offsets = encoder.encode(texts)
    return [row.tolist() for row in np.split(ids, offsets[1:])]


def flatten(ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """EmbeddingBag's input form: all ids concatenated (int64) and the start of each review (int64).

    Args:
        ids (`Sequence[Sequence[int]]`): token ids per review.
    """
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    # One conversion per review, not per token.
    flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in ids]) if len(ids) else np.zeros(0, np.int64)
    return flat, _offsets(lengths)


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Flat `input_ids` and `offsets` for a batch of texts, ready for the model or the ONNX graph.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str]`): the reviews.
    """
    encoder = FastEncoder.of(tokenizer)
    return encoder.encode(texts) if encoder else flatten(_encode_batch(tokenizer, texts))
