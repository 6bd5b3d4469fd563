"""The one text → token-id path shared by training, export and scoring.

`tokenizer.json` defines the ids. For the pipeline `train.tokenization.new_tokenizer` builds, `FastEncoder` computes
the same ids as `Tokenizer.encode_batch` over a whole batch at once (pyarrow and the compiled loops of
`_token_ids.c`); any other pipeline, or an install without the compiled loops, goes through `encode_batch`.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

from .bundle import TOKENIZER_FILE, check_tokenizer, read_tokenizer_json
from .errors import UserError, first_line, shown

try:  # the compiled per-byte loops (_token_ids.c)
    from . import _token_ids
except ImportError:  # built without a C compiler: the tokenizers library encodes every text
    _token_ids = None

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
# Characters utf8proc and Rust normalize or classify differently (other Unicode versions, full vs simple case
# mapping of İ), plus U+0307 that NFKC composes into İ; texts holding one take the tokenizers path.
_MISMATCHED = (
    r"\x{130}\x{307}\x{7FD}\x{898}-\x{8D3}\x{9FE}\x{C3C}\x{D3B}\x{D3C}\x{EBA}\x{1715}\x{1ABF}-\x{1ACE}\x{1DF6}-\x{1DFA}"
    r"\x{32FF}\x{A7F2}-\x{A7F4}\x{A82C}\x{AB69}\x{10780}-\x{11FFF}\x{16FF0}\x{16FF1}\x{1E030}-\x{1E4EF}\x{1F16C}"
    r"\x{1FBF0}-\x{1FBF9}"
)
_ASSIGNED = r"\p{L}\p{M}\p{N}\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}\p{Co}"
_UNSAFE = rf"[^{_ASSIGNED}]|[{_MISMATCHED}]"


def load_tokenizer(path: str | Path, vocab_size: int | None = None) -> Tokenizer:
    """Load `tokenizer.json` from a file or from the folder holding it, checked before the tokenizers library
    builds anything (`bundle.check_tokenizer`); every problem is a one-line `UserError`.

    Args:
        path (`str | Path`): the file, or a model/bundle folder containing it.
        vocab_size (`int`, *optional*): rows of the model's word table, which every id must stay below;
            defaults to the tokenizer's own number of tokens.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    text, config = read_tokenizer_json(path)
    check_tokenizer(path, config, vocab_size)
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as error:  # the Rust library raises plain Exceptions for malformed files
        raise UserError(f"cannot load the tokenizer {shown(path)}: {first_line(error)}") from error
    _ENCODERS[tokenizer] = FastEncoder(tokenizer, config) if FastEncoder.supports(config) else None
    return tokenizer


def _encode_batch(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def _encode_batch_with_spans(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
    """`encode_batch`'s ids, and each token's start and end byte in its text's UTF-8 (`[T, 2]` int64).

    The library's offsets count characters of the text as given (it maps them back through normalization).
    """
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    spans = [
        _byte_positions(text)[np.asarray(encoding.offsets, np.int64).reshape(-1, 2)]
        for text, encoding in zip(texts, encodings, strict=True)
    ]
    return [encoding.ids for encoding in encodings], np.concatenate([np.zeros((0, 2), np.int64), *spans])


def _byte_positions(text: str) -> np.ndarray:
    """The byte offset in `text`'s UTF-8 of every character position, the end included."""
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    return np.concatenate([[0], np.cumsum(widths, dtype=np.int64)])


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets


def _char_info(chars: list[str]) -> np.ndarray:
    """Per character: its class (0 whitespace, 1 word character, 2 the rest), plus `_UNSAFE_BIT` when unsafe
    and `_NFKC_BIT` when NFKC may change a text holding it.
    """
    column = pa.array(chars, pa.large_string())
    word = pc.match_substring_regex(column, f"[{_WORD}]").to_numpy(zero_copy_only=False)
    space = pc.match_substring_regex(column, f"[{_SPACE}]").to_numpy(zero_copy_only=False)
    unsafe = pc.match_substring_regex(column, _UNSAFE).to_numpy(zero_copy_only=False)
    # Changed alone, or able to compose with or reorder against its neighbour (every such character is a
    # mark or a conjoining Hangul jamo).
    nfkc = pc.invert(pc.equal(pc.utf8_normalize(column, "NFKC"), column)).to_numpy(zero_copy_only=False)
    nfkc |= pc.match_substring_regex(column, _COMPOSING).to_numpy(zero_copy_only=False)
    classes = np.where(space, 0, np.where(word, 1, 2))
    return (classes | unsafe * _UNSAFE_BIT | nfkc * _NFKC_BIT).astype(np.uint8)


_UNSAFE_BIT = 4
_NFKC_BIT = 8
_NON_ASCII_BIT = 128
_COMPOSING = r"[\p{M}\x{1100}-\x{11FF}\x{A960}-\x{A97F}\x{D7B0}-\x{D7FF}]"
_UNKNOWN = 255
# Every code point's `_char_info`, looked up as characters are first met: RE2 compiles these Unicode classes
# in milliseconds on every call, far too slow to repeat per batch. Threads may fill it at once; writes agree.
_CHAR_INFO = np.full(0x110000, _UNKNOWN, dtype=np.uint8)
_CHAR_INFO[:128] = _char_info([chr(point) for point in range(128)])


def _code_points(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, byte width and code point of every multi-byte character of valid UTF-8 bytes."""
    leads = np.flatnonzero(data >= 0xC0)
    width = 2 + (data[leads] >= 0xE0) + (data[leads] >= 0xF0)
    codepoints = data[leads].astype(np.uint32) & (0x7F >> width)
    for k in range(1, 4):
        more = width > k
        codepoints[more] = (codepoints[more] << 6) | (data[leads[more] + k] & 0x3F)
    return leads, width, codepoints


def _info(codepoints: np.ndarray) -> np.ndarray:
    """`_char_info` of each code point, through the `_CHAR_INFO` cache."""
    info = _CHAR_INFO[codepoints]
    unknown = info == _UNKNOWN
    if unknown.any():
        new = np.unique(codepoints[unknown])
        _CHAR_INFO[new] = _char_info([chr(point) for point in new])
        info = _CHAR_INFO[codepoints]
    return info


def _set_multibyte_classes(raw: bytes, classes: np.ndarray) -> None:
    """Give every byte of the multi-byte characters of valid UTF-8 its character's class."""
    leads, width, codepoints = _code_points(np.frombuffer(raw, np.uint8))
    lead_classes = _info(codepoints) & 3
    for k in range(4):
        classes[leads[width > k] + k] = lead_classes[width > k]


_LOW_BYTES = np.array([(1 << (8 * count)) - 1 for count in range(9)], dtype=np.uint64)
_SHORT_TOKEN = 16  # bytes; the first and last 8 of a token this long spell it out entirely


def _token_keys(raw: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, first 8 and last 8 bytes (little-endian, zero-filled) of every token: together, the token itself
    when it is at most 16 bytes long.
    """
    buffer = np.frombuffer(raw + bytes(8), np.uint8)
    # Every byte offset read as a uint64: unaligned strided view, no copy.
    words = np.ndarray((len(raw) + 1,), dtype="<u8", buffer=buffer, strides=(1,))
    lengths = ends - starts
    first = np.take(words, starts) & np.take(_LOW_BYTES, np.minimum(lengths, 8))
    last = np.take(words, np.maximum(ends - 8, 0))
    last[lengths <= 8] = 0
    return lengths, first, last


def _slots(lengths: np.ndarray, first: np.ndarray, last: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing of the token keys into 2**bits slots."""
    mixed = first ^ (last * np.uint64(0xC2B2AE3D27D4EB4F)) ^ lengths.astype(np.uint64)
    return ((mixed * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).astype(np.int64)


class _VocabTable:
    """Token bytes → id for the compiled loop: an open-addressing table on exact keys for tokens of up to 16 bytes,
    a dict for longer ones (rare), so every lookup is exact, with no per-token Python on common tokens.
    """

    def __init__(self, vocab: dict[str, int], unk: int):
        self.unk = unk
        self._words = vocab  # for tokens longer than 16 bytes
        # Every word's UTF-8 bytes at once through Arrow: no Python per word (this runs at every start-up).
        words = pa.array(list(vocab), pa.large_string())
        offsets = np.frombuffer(words.buffers()[1], np.int64, count=len(words) + 1)
        short = np.flatnonzero(np.diff(offsets) <= _SHORT_TOKEN)
        keys = _token_keys(words.buffers()[2].to_pybytes(), offsets[short], offsets[short + 1])
        ids = np.fromiter(vocab.values(), dtype=np.int64, count=len(vocab))[short]
        self._bits = max(10, int(4 * max(len(short), 1)).bit_length())  # at most a quarter full: short probes
        # One row per slot, [first 8 bytes, last 8 bytes, id << 8 | length]: a probe reads one 24-byte row.
        self._table = np.zeros((1 << self._bits, 3), dtype=np.uint64)
        rows = np.stack([keys[1], keys[2], _packed(ids, keys[0])], axis=1)
        # Insert every word at its slot, or the next free one: a few vectorized rounds of linear probing.
        pending, slots = np.arange(len(short)), _slots(*keys, self._bits)
        while len(pending):
            free = self._table[slots[pending], 2] == 0
            # Of the words aiming at one free slot, the first takes it.
            _, first_claim = np.unique(slots[pending[free]], return_index=True)
            placed = pending[free][first_claim]
            self._table[slots[placed]] = rows[placed]
            pending = np.setdiff1d(pending, placed, assume_unique=True)
            slots[pending] = (slots[pending] + 1) & ((1 << self._bits) - 1)

    def token_ids(
        self, raw: bytes, classes: np.ndarray, offsets: np.ndarray, spans: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Id of every token of the batch, each text's token count and, with `spans`, each token's start and end
        byte in its text (`[T, 2]`): runs of one character class are tokens, looked up in the table (the
        compiled loop), or in the dict when longer than 16 bytes.

        Args:
            raw (`bytes`): the normalized texts, concatenated.
            classes (`np.ndarray`): the class of every byte's character (`_normalized_classes`).
            offsets (`np.ndarray`): start of each text in `raw`, then its length.
            spans (`bool`, *optional*, defaults to False): also return the tokens' byte spans.
        """
        ids = np.empty(len(raw), dtype=np.int64)  # at most one token per byte
        counts = np.empty(len(offsets) - 1, dtype=np.int64)
        long_tokens = np.empty((len(raw) // (_SHORT_TOKEN + 1) + 1, 3), dtype=np.int64)
        token_spans = np.empty((len(raw), 2), dtype=np.int64) if spans else None
        args = (raw, classes, offsets, self._table, self._bits, self.unk, ids, counts, long_tokens)
        tokens, long_count = _token_ids.token_ids(*args, *([token_spans] if spans else []))  # releases the GIL
        for index, start, end in long_tokens[:long_count].tolist():
            ids[index] = self._word_id(raw[start:end])
        return ids[:tokens], counts, None if token_spans is None else token_spans[:tokens]

    def _word_id(self, token: bytes) -> int:
        # Tokens end on character boundaries; surrogateescape keeps anything else from matching a word.
        return self._words.get(token.decode("utf-8", "surrogateescape"), self.unk)


def _packed(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Id and byte length in one word; never 0, since every token is at least one byte long."""
    return (ids.astype(np.uint64) << np.uint64(8)) | lengths.astype(np.uint64)


def _multibyte_flags(raw: bytes, offsets: np.ndarray) -> np.ndarray:
    """Per text, the OR of its multi-byte characters' `_char_info` bits above the class, plus bit 7 (0: ASCII).

    Args:
        raw (`bytes`): the texts, concatenated.
        offsets (`np.ndarray`): start of each text in `raw`, then its length.
    """
    flags = np.zeros(len(offsets) - 1, dtype=np.uint8)
    if not _token_ids.text_flags(raw, offsets, _CHAR_INFO, flags):
        return flags
    # Characters never met before: looked up and cached here.
    leads, _, codepoints = _code_points(np.frombuffer(raw, np.uint8))
    info = (_info(codepoints) & ~np.uint8(3)) | np.uint8(_NON_ASCII_BIT)
    flags[:] = 0
    np.bitwise_or.at(flags, np.searchsorted(offsets, leads, side="right") - 1, info)
    return flags


def text_bytes(column: pa.Array) -> tuple[bytes, np.ndarray]:
    """A large_string column's texts as one bytes object, and each text's start in it, then their length.

    Args:
        column (`pa.Array`): the texts (large_string, possibly a slice).
    """
    offsets = _text_offsets(column)
    data = column.buffers()[2]
    raw = data[offsets[0] : offsets[-1]].to_pybytes() if data is not None else b""
    return raw, offsets - offsets[0]


def _text_offsets(column: pa.Array) -> np.ndarray:
    """Where each text of a large_string column (possibly a slice) starts in its data buffer, then where it ends."""
    return np.frombuffer(column.buffers()[1], np.int64)[column.offset : column.offset + len(column) + 1]


def _normalize_non_ascii(column: pa.Array, ascii_texts: np.ndarray, nfkc_texts: np.ndarray) -> pa.Array:
    """The normalizer's output (line breaks out, NFKC, lower case) for the non-ASCII texts; ASCII ones unchanged.

    Args:
        column (`pa.Array`): the texts.
        ascii_texts (`np.ndarray`): which texts are ASCII.
        nfkc_texts (`np.ndarray`): which texts hold a character NFKC may change (utf8proc's NFKC is slow).
    """
    if ascii_texts.all():
        return column
    other = pa.array(~ascii_texts)
    text = column.filter(other)
    # `<br…>` and four line-break characters as spaces, as many as each has bytes: the tokenizer's Replace writes
    # one space, which gives the same tokens, and the offsets stay put.
    raw, offsets = text_bytes(text)
    spaced = _token_ids.line_breaks_to_spaces(raw, offsets)
    text = pa.Array.from_buffers(pa.large_string(), len(text), [None, pa.py_buffer(offsets), pa.py_buffer(spaced)])
    changing = nfkc_texts[~ascii_texts]
    if changing.any():
        text = pc.replace_with_mask(text, pa.array(changing), pc.utf8_normalize(text.filter(changing), "NFKC"))
    return pc.replace_with_mask(column, other, pc.utf8_lower(text))


def _normalized_classes(raw: bytes, offsets: np.ndarray, ascii_texts: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Lower-cased bytes and their character classes, `<br…>` of the ASCII texts read as whitespace.

    Blanking a line break gives the same tokens as replacing it by one space. Non-ASCII texts come already
    normalized: lower-casing them again changes nothing, and their `<br…>` (none left but those NFKC made, which
    stay) are not touched.

    Args:
        raw (`bytes`): the texts, concatenated.
        offsets (`np.ndarray`): start of each text in `raw`, then its length.
        ascii_texts (`np.ndarray`): which texts are ASCII (so still as read).
    """
    classes = np.empty(len(raw), dtype=np.uint8)
    raw, unknown = _token_ids.normalized_classes(raw, offsets, ascii_texts, _CHAR_INFO, classes)
    if unknown:  # characters never met before: look them up (and cache them)
        _set_multibyte_classes(raw, classes)
    return raw, classes


class FastEncoder:
    """`encode_batch`'s ids for the known pipeline, computed over the whole batch at once (pyarrow, numpy and the
    compiled loops); texts it cannot take (an added token, a character the libraries treat otherwise) go through
    `encode_batch` itself.
    """

    def __init__(self, tokenizer: Tokenizer, config: dict):
        """Cache the vocabulary; use `FastEncoder.of` rather than this.

        Args:
            tokenizer (`Tokenizer`): the tokenizer, for the texts the fast path cannot take.
            config (`dict`): its parsed JSON, already checked by `supports`.
        """
        # The cache is keyed on the tokenizer; a strong reference would keep it alive for ever.
        self._tokenizer = weakref.proxy(tokenizer)
        vocab = config["model"]["vocab"]
        self._table = _VocabTable(vocab, vocab[config["model"]["unk_token"]])
        # Added tokens are split out of the raw text before normalization, so texts holding one go the slow way.
        self._added = [token["content"] for token in config.get("added_tokens") or []]

    @staticmethod
    def supports(config: dict) -> bool:
        """Whether the compiled loops are built and a tokenizer's JSON is exactly the pipeline they reproduce.

        Args:
            config (`dict`): the tokenizer's parsed JSON, as `tokenizers` loaded it.
        """
        model = config.get("model") or {}
        added = config.get("added_tokens") or []
        # No post_processor check: ids are always encoded without special tokens, which is all one adds
        # (saving through transformers attaches an empty TemplateProcessing).
        return (
            _token_ids is not None
            and config.get("normalizer") == KNOWN_NORMALIZER
            and config.get("pre_tokenizer") == KNOWN_PRE_TOKENIZER
            and config.get("truncation") is None
            and config.get("padding") is None
            and model.get("type") == "WordLevel"
            and model.get("unk_token") in (model.get("vocab") or {})
            and not any(token.get("normalized") for token in added)
        )

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> FastEncoder | None:
        """The tokenizer's encoder, built once, or None when its pipeline is not the known one or the compiled
        loops are not built.

        Args:
            tokenizer (`Tokenizer`): the trained tokenizer.
        """
        if _token_ids is None:
            return None
        if tokenizer not in _ENCODERS:  # `load_tokenizer` fills this from the file it parsed anyway
            config = json.loads(tokenizer.to_str())
            _ENCODERS[tokenizer] = cls(tokenizer, config) if cls.supports(config) else None
        return _ENCODERS[tokenizer]

    def encode(self, texts: Sequence[str] | pa.Array, spans: bool = False) -> Encoded:
        """All ids concatenated (int64), the start of each text (int64) and, with `spans`, each token's byte span.

        Args:
            texts (`Sequence[str] | pa.Array`): the reviews, or an Arrow string column of them.
            spans (`bool`, *optional*, defaults to False): also give each token's start and end byte in its text.
        """
        column = texts.cast(pa.large_string()) if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
        slow, flags = self._text_flags(column)
        if spans:  # NFKC moves characters; the tokenizers library maps its offsets back to the text as given
            slow |= flags & _NFKC_BIT != 0
        fast = self._encode_column(column.filter(pa.array(~slow)), flags[~slow], spans)
        if fast.moved.any():  # lower-casing changed a text's length, so its spans too (rare): the slow way
            slow[np.flatnonzero(~slow)[fast.moved]] = True
            fast = self._encode_column(column.filter(pa.array(~slow)), flags[~slow], spans)
        if not slow.any():
            return Encoded(fast.ids, _offsets(fast.lengths), fast.spans)
        slow_texts = column.filter(pa.array(slow)).to_pylist()
        if spans:
            slow_ids, slow_spans = _encode_batch_with_spans(self._tokenizer, slow_texts)
        else:
            slow_ids, slow_spans = _encode_batch(self._tokenizer, slow_texts), None
        slow_flat, slow_offsets = flatten(slow_ids)
        lengths = np.empty(len(slow), dtype=np.int64)
        lengths[~slow] = fast.lengths
        lengths[slow] = np.diff(slow_offsets, append=len(slow_flat))
        from_slow = np.repeat(slow, lengths)
        ids = np.empty(len(from_slow), dtype=np.int64)
        ids[~from_slow], ids[from_slow] = fast.ids, slow_flat
        token_spans = None
        if spans:
            token_spans = np.empty((len(from_slow), 2), dtype=np.int64)
            token_spans[~from_slow], token_spans[from_slow] = fast.spans, slow_spans
        return Encoded(ids, _offsets(lengths), token_spans)

    def _text_flags(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Which texts the tokenizers library must encode (an added token, or a character pyarrow treats
        otherwise), and per text the OR of its characters' `_char_info` bits above the class (0 when ASCII).
        """
        slow = np.zeros(len(column), dtype=bool)
        raw, offsets = text_bytes(column)
        for token in self._added:
            # A search of the whole buffer spares the per-text search in almost every batch; its first byte
            # alone (memchr, several times faster than the whole token) rules most batches out.
            encoded = token.encode("utf-8")
            if encoded[:1] in raw and encoded in raw:
                slow |= pc.match_substring(column, token).to_numpy(zero_copy_only=False)
        flags = _multibyte_flags(raw, offsets)
        return slow | (flags & _UNSAFE_BIT != 0), flags

    def _encode_column(self, column: pa.Array, flags: np.ndarray, spans: bool = False) -> _Part:
        """Ids and token count of each text (and spans), for texts the pyarrow kernels handle exactly like
        tokenizers; `moved` marks texts whose normalization changed their byte length (their spans would not
        point into them), always none without `spans`."""
        ascii_texts = flags == 0
        text = _normalize_non_ascii(column, ascii_texts, flags & _NFKC_BIT != 0)
        raw, offsets = text_bytes(text)
        moved = np.zeros(len(column), dtype=bool)
        if spans and not ascii_texts.all():
            moved = np.diff(offsets) != np.diff(_text_offsets(column))
        raw, classes = _normalized_classes(raw, offsets, ascii_texts)
        return _Part(*self._table.token_ids(raw, classes, offsets, spans), moved)


class Encoded(NamedTuple):
    """A batch in the model's input form, and where each token is in its text."""

    ids: np.ndarray  # [T] int64, every text's ids concatenated
    offsets: np.ndarray  # [B] int64, where each text starts in ids
    spans: np.ndarray | None  # [T, 2] int64, each token's start and end byte in its text's UTF-8; None unless asked


class _Part(NamedTuple):
    ids: np.ndarray
    lengths: np.ndarray
    spans: np.ndarray | None
    moved: np.ndarray


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
    ids, offsets, _ = encoder.encode(texts)
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


def encode(tokenizer: Tokenizer, texts: Sequence[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Flat `input_ids` and `offsets` for a batch of texts, ready for the model or the ONNX graph.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str] | pa.Array`): the reviews, or an Arrow string column of them (no nulls).
    """
    encoder = FastEncoder.of(tokenizer)
    if encoder:
        return encoder.encode(texts)[:2]
    return flatten(_encode_batch(tokenizer, texts.to_pylist() if isinstance(texts, pa.Array) else texts))


def encode_with_spans(tokenizer: Tokenizer, texts: Sequence[str] | pa.Array) -> Encoded:
    """`encode`'s ids and offsets, and where each token is: its start and end byte in its text's UTF-8.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        texts (`Sequence[str] | pa.Array`): the reviews, or an Arrow string column of them (no nulls).
    """
    encoder = FastEncoder.of(tokenizer)
    if encoder:
        return encoder.encode(texts, spans=True)
    ids, spans = _encode_batch_with_spans(tokenizer, texts.to_pylist() if isinstance(texts, pa.Array) else texts)
    return Encoded(*flatten(ids), spans)
