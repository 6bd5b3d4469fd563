"""The compiled per-byte loops (`_token_ids.c`) on their own: they check their buffers before reading them.

test_preprocessing runs every preprocessing test on these loops and on the numpy path they speed up.
"""

import numpy as np
import pytest

from sentiment_batch import preprocessing

compiled = pytest.importorskip(
    "sentiment_batch._token_ids", reason="the C extension was not built (no C compiler at install)"
)


def test_the_compiled_loops_refuse_inconsistent_buffers():
    raw, char_info = b"good film", preprocessing._CHAR_INFO
    past_the_end = np.array([0, 4, 99], dtype=np.int64)
    with pytest.raises(ValueError, match="offsets"):
        compiled.text_flags(raw, past_the_end, char_info, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="offsets"):
        compiled.line_breaks_to_spaces(raw, np.array([5, 4, 9], dtype=np.int64))
    offsets = np.array([0, 4, 9], dtype=np.int64)
    with pytest.raises(ValueError, match="classes"):
        compiled.normalized_classes(raw, offsets, np.ones(2, bool), char_info, np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="counts"):
        table = np.zeros((1024, 3), np.uint64)
        ids, counts, long_tokens = np.zeros(9, np.int64), np.zeros(1, np.int64), np.zeros((1, 3), np.int64)
        compiled.token_ids(raw, np.ones(9, np.uint8), offsets, table, 10, 1, ids, counts, long_tokens)
