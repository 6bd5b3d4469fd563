"""The phrases that decided each score: the explain graph's per-n-gram shares, grouped into phrases and ranked.

The explain graph gives, for every token and n-gram size, the n-gram's table row and its exact share of its
review's label margin (`export.scoring_module.ExplainModule`). A phrase is one distinct word, bigram or trigram of
the review: its weight is the sum of its rows' shares (every occurrence, where the bag counts repeats), and its
text is the span of its first occurrence, cut from the review as given.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from .preprocessing import text_bytes

try:  # the compiled grouping (_top_phrases.c); the numpy form below gives the same phrases
    from . import _top_phrases
except ImportError:  # built without a C compiler
    _top_phrases = None

EVIDENCE_TYPE = pa.list_(pa.struct([("phrase", pa.string()), ("weight", pa.float32())]))


def top_phrases(
    evidence: np.ndarray, rows: np.ndarray, spans: np.ndarray, offsets: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each review's `k` heaviest phrases, heaviest first (equal weights: the first to occur first).

    Args:
        evidence (`np.ndarray` of shape `[T, N]`): each n-gram's share of its review's label margin.
        rows (`np.ndarray` of shape `[T, N]`): each n-gram's table row; -1 where none is in the bag.
        spans (`np.ndarray` of shape `[T, 2]`): each token's start and end byte in its review.
        offsets (`np.ndarray` of shape `[B]`): where each review starts in the tokens.
        k (`int`): most phrases per review.

    Returns:
        `tuple[np.ndarray, ...]`: per phrase kept, sorted by review then weight (descending): its review, start
        byte, end byte and weight.
    """
    sizes = rows.shape[1]
    if _top_phrases is not None:
        review, entry, weight = (np.empty(len(offsets) * k, dtype) for dtype in (np.int64, np.int64, np.float32))
        evidence = np.ascontiguousarray(evidence, np.float32)
        args = (np.ascontiguousarray(rows, np.int64), sizes, offsets, rows.shape[0], k, review, entry, weight)
        count = _top_phrases.top_phrases(evidence, *args)  # releases the GIL
        review, entry, weight = review[:count], entry[:count], weight[:count]
    else:
        review, entry, weight = _grouped_numpy(evidence, rows, offsets, k)
    token, size = np.divmod(entry, sizes)
    return review, spans[token, 0], spans[token + size, 1], weight


def _grouped_numpy(
    evidence: np.ndarray, rows: np.ndarray, offsets: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`top_phrases`' grouping and ranking with numpy (a sort of the batch's n-grams): each kept phrase's review,
    first entry (`token * N + size`) and weight."""
    entries = np.flatnonzero(rows.reshape(-1) >= 0)  # [E] the n-grams in the bags
    tokens, sizes = np.divmod(entries, rows.shape[1])
    reviews = np.searchsorted(offsets, tokens, side="right") - 1  # [E]
    # One key per (review, size, row): a review's occurrences of one n-gram share it. Two n-grams of one size
    # that hash to one row are one row of the table to the model too, and read as one phrase.
    keys = (reviews * rows.shape[1] + sizes) * (int(rows.max(initial=0)) + 1) + rows.reshape(-1)[entries]
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    weights = np.bincount(group, weights=evidence.reshape(-1)[entries])  # [G] float64, in entry order
    group_reviews = reviews[first]
    order = np.lexsort((first, -weights, group_reviews))  # by review, heaviest first, then first to occur
    starts_of_review = np.searchsorted(group_reviews[order], group_reviews[order], side="left")
    kept = order[np.arange(len(order)) - starts_of_review < k]
    return group_reviews[kept], entries[first[kept]], weights[kept].astype(np.float32)


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
