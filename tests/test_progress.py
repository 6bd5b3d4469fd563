"""Progress: a live bar on a terminal, plain lines elsewhere, never a carriage return in a log."""

from __future__ import annotations

import io
import sys

from sentiment_batch.progress import Progress


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_a_stream_that_is_no_terminal_gets_plain_lines(monkeypatch):
    stream = Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    with Progress(total=30, interval=0.0) as progress:
        for _ in range(3):
            progress.update(10)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 3
    assert lines[-1].startswith("30 of 30 rows, ") and lines[-1].endswith(" rows/s")


def test_plain_lines_come_only_every_interval(monkeypatch):
    stream = Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    with Progress(interval=3600.0) as progress:
        progress.update(10)
    assert stream.getvalue() == ""


def test_a_terminal_gets_the_live_bar(monkeypatch):
    stream = Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    with Progress(total=10) as progress:
        progress.update(10)
    assert "\r" in stream.getvalue() and "100%" in stream.getvalue()


def test_disabled_progress_writes_nothing(monkeypatch):
    for tty in (True, False):
        stream = Stream(tty=tty)
        monkeypatch.setattr(sys, "stderr", stream)
        with Progress(total=10, enabled=False, interval=0.0) as progress:
            progress.update(10)
        assert stream.getvalue() == ""
