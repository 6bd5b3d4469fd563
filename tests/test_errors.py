import errno

import pytest

from sentiment_batch.errors import UserError, cannot, cut, first_line


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("\n  first  \nsecond"), "first"),
        (ValueError(""), "ValueError"),  # a blank message names the error's type, never IndexError
        (KeyError(), "KeyError"),
    ],
)
def test_first_line_is_the_first_non_blank_line_or_the_type(error, line):
    assert first_line(error) == line


def test_cannot_gives_the_systems_reason_or_the_errors_first_line():
    denied = cannot("read", "/data/in.csv", PermissionError(errno.EACCES, "Permission denied", "/data/in.csv"))
    assert isinstance(denied, UserError) and str(denied) == "cannot read /data/in.csv: Permission denied"
    bare = cannot("write", "out.csv", OSError("no room\nmore detail"))  # no strerror: the message's first line
    assert str(bare) == "cannot write out.csv: no room"


def test_cut_keeps_short_text_and_says_how_long_a_cut_one_was():
    assert cut("short") == "short"
    assert cut("x" * 10_000) == "x" * 200 + "… (10,000 characters)"
