"""Best-effort output on stderr: a closed or broken stderr never fails or stops a run."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


class BestEffort:
    """A text stream that drops what it cannot write: progress bars and log lines go through it.

    Once a write fails (a broken pipe, a full disk), stderr's descriptor gets /dev/null, so later writes, the
    libraries' own and Python's last flush at exit, succeed quietly.

    Args:
        stream (`TextIO | None`): the stream written to; None writes nothing.
    """

    def __init__(self, stream: TextIO | None):
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                self.stream.write(text)
            except (OSError, ValueError):  # a broken pipe, a full disk, a closed file
                self._silence()
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._silence()

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return self.stream.isatty()
        return False

    def fileno(self) -> int:
        return self.stream.fileno()  # OSError, ValueError or AttributeError when there is none: callers expect them

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def _silence(self) -> None:
        if self.stream is not sys.stderr and self.stream is not sys.__stderr__:
            return
        with contextlib.suppress(OSError):
            to_devnull(2)


def to_devnull(fd: int) -> None:
    """Point file descriptor `fd` at /dev/null.

    Args:
        fd (`int`): the descriptor, e.g. 2 for stderr.
    """
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def say(line: str) -> None:
    """Write one line to stderr, or nothing when stderr is closed (`2>&-`) or its reader went away.

    Args:
        line (`str`): the line, without its newline.
    """
    stream = BestEffort(sys.stderr)
    stream.write(f"{line}\n")
    stream.flush()
