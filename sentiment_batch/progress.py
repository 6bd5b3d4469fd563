"""Progress on stderr: a live bar where stderr is a terminal, else a plain line every few seconds (a log file
or a scheduler's capture gets whole lines, never `\r` updates)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from .console import BestEffort, say

LOG_INTERVAL = 10.0  # seconds between plain progress lines


class Progress:
    """Rows done so far, shown as the stream allows; best effort, so a closed stderr never stops a run.

    Args:
        total (`int`, *optional*): the rows to come, when known.
        enabled (`bool`, *optional*, defaults to True): show progress at all.
        interval (`float`, *optional*, defaults to 10.0): seconds between plain lines.
    """

    def __init__(self, total: int | None = None, enabled: bool = True, interval: float = LOG_INTERVAL):
        stream = BestEffort(sys.stderr)
        self.total, self.done, self.interval = total, 0, interval
        self._bar = (
            tqdm(total=total, unit=" rows", unit_scale=True, file=stream) if enabled and stream.isatty() else None
        )
        self._lines = enabled and self._bar is None
        self._start = self._last = time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, rows: int) -> None:
        """Count `rows` more.

        Args:
            rows (`int`): rows just done.
        """
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        now = time.monotonic()
        if self._lines and now - self._last >= self.interval:
            self._last = now
            of = f" of {self.total:,}" if self.total is not None else ""
            say(f"{self.done:,}{of} rows, {self.done / (now - self._start):,.0f} rows/s")
