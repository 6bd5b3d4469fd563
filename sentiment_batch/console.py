"""Best-effort lines on stderr: a closed or broken stderr never fails or stops a run."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    """Write one line to stderr, or nothing when stderr is closed (`2>&-`) or its reader went away.

    Args:
        line (`str`): the line, without its newline.
    """
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(f"{line}\n")
        stream.flush()
    except (OSError, ValueError):  # a broken pipe, a full disk, a closed file
        pass
