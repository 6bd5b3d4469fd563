"""The phrases that decided each score: the explain graph's per-n-gram shares, read as whole words and ranked.

The explain graph gives, for every token and n-gram size, the n-gram's table row and its exact share of its
review's label margin (`export.scoring_module.ExplainModule`): the margin of the label over the others,
`z_label - mean(z_other)` (for two labels, the log-odds of the label over the runner-up), is the sum of every
n-gram's share plus a bias that no word carries (the margin of the same linear piece of the network at no words).

A phrase is a run of whole words of the review. A word is a run of tokens that touch and hold a letter or digit,
joined across an apostrophe, hyphen, slash or ampersand ("didn't", "well-made", "10/10") or a point, comma or
colon between digits ("3.5"); punctuation at its edges is not part of it. Each n-gram in the bag is read as the
words it touches (an n-gram of punctuation alone as the word before it, or after it at a review's start), and a
phrase's weight is the sum of the shares of all the n-grams read as it; phrases equal but for ASCII case are one,
written as where it first occurs. So a review's phrase weights, all of them, add up to its margin less the bias.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from .preprocessing import Encoded, text_bytes

try:  # the compiled grouping (_top_phrases.c); the Python form below gives the same phrases
    from . import _top_phrases
except ImportError:  # built without a C compiler
    _top_phrases = None

EVIDENCE_TYPE = pa.list_(pa.struct([("phrase", pa.string()), ("weight", pa.float32())]))
_JOINERS = (b"'", b"-", b"/", b"&", "\u2019".encode(), "\u2010".encode(), "\u2011".encode())


def evidence(column: pa.Array, shares: np.ndarray, rows: np.ndarray, encoded: Encoded, k: int) -> pa.Array:
    """Each review's evidence as an Arrow `list<struct<phrase, weight>>` column: up to `k` phrases for its label
    and up to `k` against it, heaviest (absolute weight) first.

    Args:
        column (`pa.Array`): the reviews (large_string).
        shares (`np.ndarray` of shape `[T, N]`): each n-gram's share of its review's label margin.
        rows (`np.ndarray` of shape `[T, N]`): each n-gram's table row; -1 where none is in the bag.
        encoded (`Encoded`): the reviews' tokens, with their spans.
        k (`int`): most phrases per review and side; any larger than a review has gives them all.
    """
    return evidence_lists(column, *top_phrases(shares, rows, encoded.spans, encoded.offsets, k, column))


def top_phrases(
    shares: np.ndarray, rows: np.ndarray, spans: np.ndarray, offsets: np.ndarray, k: int, column: pa.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each review's `k` heaviest phrases for its label and `k` against, by absolute weight (ties: the first to
    occur first).

    Args:
        shares (`np.ndarray` of shape `[T, N]`): each n-gram's share of its review's label margin.
        rows (`np.ndarray` of shape `[T, N]`): each n-gram's table row; -1 where none is in the bag.
        spans (`np.ndarray` of shape `[T, 2]`): each token's start and end byte in its review.
        offsets (`np.ndarray` of shape `[B]`): where each review starts in the tokens.
        k (`int`): most phrases per review and side.
        column (`pa.Array`): the reviews (large_string), whose bytes the phrases are cut from.

    Returns:
        `tuple[np.ndarray, ...]`: per phrase kept, sorted by review then rank: its review, start byte, end byte
        and weight.
    """
    text, bases = text_bytes(column)
    k = min(k, rows.size)  # no review has more phrases than n-grams: memory never grows with k itself
    if not k:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if _top_phrases is None:
        return _top_phrases_python(shares, rows, spans, offsets, k, text, bases)
    capacity = min(len(offsets) * 2 * k, rows.size)
    review, start, end = (np.empty(capacity, np.int64) for _ in range(3))
    weight = np.empty(capacity, np.float32)
    shares, rows = np.ascontiguousarray(shares, np.float32), np.ascontiguousarray(rows, np.int64)
    spans, bases = np.ascontiguousarray(spans, np.int64), np.ascontiguousarray(bases, np.int64)
    args = (rows, rows.shape[1], offsets, rows.shape[0], k, spans, text, bases, review, start, end, weight)
    count = _top_phrases.top_phrases(shares, *args)  # releases the GIL
    return review[:count], start[:count], end[:count], weight[:count]


def _top_phrases_python(shares, rows, spans, offsets, k, text, bases):
    """`top_phrases` one review at a time in Python: the same words, phrases, weights and order as the C loop."""
    found = []
    ends = np.append(offsets[1:], rows.shape[0])
    for review, (first, last) in enumerate(zip(offsets.tolist(), ends.tolist(), strict=True)):
        review_text = text[bases[review] : bases[review + 1]]
        word_of, words = _words(review_text, spans[first:last].tolist())
        if not words:
            continue
        groups: dict[bytes, list] = {}
        for token, size in zip(*np.nonzero(rows[first:last] >= 0), strict=True):
            touched = [word for word in word_of[token : token + size + 1] if word >= 0]
            if not touched:  # punctuation alone: the word before it, or after it
                before = [word for word in word_of[: token + 1] if word >= 0]
                touched = before[-1:] or [next(word for word in word_of[token:] if word >= 0)]
            start, end = words[touched[0]][0], words[touched[-1]][1]
            group = groups.setdefault(review_text[start:end].lower(), [start, end, token * rows.shape[1] + size, 0.0])
            group[3] += float(shares[first + token, size])
        ranked = sorted((group for group in groups.values() if group[3] != 0), key=lambda g: (-abs(g[3]), g[2]))
        kept = [g for g in ranked if g[3] > 0][:k] + [g for g in ranked if g[3] < 0][:k]
        found += [(review, g[0], g[1], g[3]) for g in sorted(kept, key=lambda g: (-abs(g[3]), g[2]))]
    columns = np.array(found, dtype=np.float64).reshape(-1, 4).T  # bytes and reviews stay exact below 2**53
    return *(column.astype(np.int64) for column in columns[:3]), columns[3].astype(np.float32)


def _words(text: bytes, spans: list[list[int]]) -> tuple[list[int], list[tuple[int, int]]]:
    """Each token's word (-1 for punctuation outside words), and each word's start and end byte."""
    wordy = [any(character.isalnum() for character in text[a:b].decode("utf-8")) for a, b in spans]
    word_of, words, token = [-1] * len(spans), [], 0
    while token < len(spans):
        if not wordy[token]:
            token += 1
            continue
        last = token
        while True:
            if last + 1 < len(spans) and spans[last][1] == spans[last + 1][0] and wordy[last + 1]:
                last += 1
            elif (
                last + 2 < len(spans)
                and spans[last][1] == spans[last + 1][0]
                and spans[last + 1][1] == spans[last + 2][0]
                and wordy[last + 2]
                and _joins(text, *spans[last + 1])
            ):
                last += 2
            else:
                break
        word_of[token : last + 1] = [len(words)] * (last + 1 - token)
        words.append((spans[token][0], spans[last][1]))
        token = last + 1
    return word_of, words


def _joins(text: bytes, start: int, end: int) -> bool:
    """Whether the punctuation token text[start:end], between two words it touches, joins them into one."""
    if text[start:end] in _JOINERS:
        return True
    return text[start:end] in (b".", b",", b":") and text[start - 1 : start].isdigit() and text[end : end + 1].isdigit()


def evidence_lists(
    column: pa.Array, review: np.ndarray, start: np.ndarray, end: np.ndarray, weight: np.ndarray
) -> pa.Array:
    """The phrases as an Arrow `list<struct<phrase, weight>>` column, one list per review of `column`.

    Args:
        column (`pa.Array`): the reviews (large_string), whose bytes the phrases are cut from.
        review (`np.ndarray`): each phrase's review, ascending.
        start (`np.ndarray`): each phrase's first byte in its review.
        end (`np.ndarray`): one past its last byte.
        weight (`np.ndarray`): each phrase's weight.
    """
    raw, text_offsets = text_bytes(column)
    base = text_offsets[review]
    phrases = [raw[a:b].decode("utf-8") for a, b in zip((base + start).tolist(), (base + end).tolist(), strict=True)]
    structs = pa.StructArray.from_arrays(
        [pa.array(phrases, pa.string()), pa.array(weight, pa.float32())], fields=list(EVIDENCE_TYPE.value_type)
    )
    list_offsets = np.searchsorted(review, np.arange(len(column) + 1), side="left").astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(list_offsets), structs, type=EVIDENCE_TYPE)


def evidence_json(column: pa.Array) -> pa.Array:
    """An evidence column as JSON text, for formats without nested columns (CSV): `[{"phrase": …, "weight": …}]`.

    Args:
        column (`pa.Array`): a `list<struct<phrase, weight>>` column; nulls stay null.
    """
    return pa.array(
        [None if phrases is None else json.dumps(phrases, ensure_ascii=False) for phrases in _rounded(column)],
        pa.string(),
    )


def _rounded(column: pa.Array) -> list[list[dict] | None]:
    """The column's lists, each weight as float32 prints it (not the float64 it widens to)."""
    lists = column.to_pylist()
    for phrases in lists:
        for phrase in phrases or []:
            phrase["weight"] = float(np.format_float_positional(np.float32(phrase["weight"]), unique=True))
    return lists
