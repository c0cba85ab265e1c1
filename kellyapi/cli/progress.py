"""Progress on stderr, drawn only when stderr is a terminal: a spinner for a slow call, a bar for a batch."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import TextIO

SPINNER_DELAY = 1.0  # a call quicker than this shows nothing
_FRAMES = "|/-\\"
_CLEAR_LINE = "\r\x1b[K"
_BAR_WIDTH = 24
_REDRAW_EVERY = 0.1
_RATE_WINDOW = 5.0  # seconds the shown rate is measured over


def _is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


@contextlib.asynccontextmanager
async def spinner(label: str, stream: TextIO | None = None) -> AsyncIterator[None]:
    """Show `label` with a spinner and the seconds elapsed while the body runs, once it took a second."""
    out = stream or sys.stderr
    if not _is_terminal(out):
        yield
        return
    started = time.monotonic()

    async def spin() -> None:
        await asyncio.sleep(SPINNER_DELAY)
        frame = 0
        while True:
            out.write(f"{_CLEAR_LINE}{_FRAMES[frame % len(_FRAMES)]} {label} {time.monotonic() - started:.0f} s")
            out.flush()
            frame += 1
            await asyncio.sleep(_REDRAW_EVERY)

    task = asyncio.create_task(spin())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if time.monotonic() - started >= SPINNER_DELAY:
            out.write(_CLEAR_LINE)
            out.flush()


class ProgressBar:
    """`[#####-----]  21/50  4.2/s  paced 19/s  ETA 7 s  2 failed`, redrawn at most ten times a second.

    The rate is that of the last few seconds; `paced` is the rate the client keeps to, learned from the
    API's 429s (shown once there is one).
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        """A bar for `total` items."""
        self.total = total
        self._out = stream or sys.stderr
        self._enabled = _is_terminal(self._out) and total > 0
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._marks: collections.deque[tuple[float, int]] = collections.deque([(self._started, 0)])

    def current_rate(self, now: float, done: int) -> float:
        """Items a second over the last `_RATE_WINDOW` seconds (since the start, before that)."""
        marks = self._marks
        marks.append((now, done))
        while len(marks) > 2 and marks[1][0] <= now - _RATE_WINDOW:
            marks.popleft()
        since, then = marks[0]
        return (done - then) / max(now - since, 1e-9)

    def update(self, done: int, failed: int, paced: float | None = None) -> None:
        """Redraw after `done` items finished, `failed` of them in error; `paced`: the client's pace, if any."""
        now = time.monotonic()
        if not self._enabled or (now - self._drawn_at < _REDRAW_EVERY and done < self.total):
            return
        self._drawn_at = now
        filled = _BAR_WIDTH * done // self.total
        rate = self.current_rate(now, done)
        width = len(str(self.total))
        parts = [f"[{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {done:>{width}}/{self.total}", f"{rate:.1f}/s"]
        if paced is not None:
            parts.append(f"paced {paced:.3g}/s")
        if rate > 0 and done < self.total:
            parts.append(f"ETA {(self.total - done) / rate:.0f} s")
        if failed:
            parts.append(f"{failed} failed")
        self._out.write(_CLEAR_LINE + "  ".join(parts))
        self._out.flush()

    def close(self) -> None:
        """Clear the bar's line."""
        if self._enabled:
            self._out.write(_CLEAR_LINE)
            self._out.flush()
