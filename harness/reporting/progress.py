"""Progress that reaches the user wherever the output goes.

On a terminal a live bar (rich); elsewhere (CI logs, a pipe, a file) a plain line every tenth
of the work and at least every ``interval`` seconds, so a long run is never silent; nothing
when switched off (``--no-progress``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

from harness.reporting.humanize import human_duration

Mode = Literal["bar", "lines", "off"]


def progress_mode(flag: bool | None, stream: TextIO | None = None) -> Mode:
    """``True``: a bar; ``False``: nothing; ``None``: a bar on a terminal (not in CI), else lines."""
    if flag is False:
        return "off"
    if flag is True:
        return "bar"
    stream = stream or sys.stderr
    return "bar" if stream.isatty() and not os.environ.get("CI") else "lines"


class LineProgress:
    """Periodic ``description: done/total (pct%), elapsed, ETA`` lines for logs."""

    def __init__(self, total: int, description: str, *, interval: float = 10.0,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(0, total)
        self.description = description
        self.interval = interval
        self.stream = stream or sys.stderr
        self.clock = clock
        self.done = 0
        self.start = clock()
        self._last_time = self.start
        self._last_decile = 0

    def line(self, extra: str = "") -> str:
        elapsed = self.clock() - self.start
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.description} {self.done}/{self.total} ({pct:.0f}%), {human_duration(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", ETA {human_duration(elapsed / self.done * (self.total - self.done))}"
        return text + (f", {extra}" if extra else "")

    def advance(self, n: int = 1, extra: str = "") -> None:
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        now = self.clock()
        decile = 10 * self.done // self.total if self.total else 0
        if decile > self._last_decile or now - self._last_time >= self.interval:
            self._last_decile = max(decile, self._last_decile)
            self._last_time = now
            self.stream.write(self.line(extra) + "\n")
            self.stream.flush()


@contextmanager
def progress(mode: Mode, total: int, description: str, *, interval: float = 10.0) -> Iterator[Callable[[], None]]:
    """A ``tick()`` callable for ``total`` units of work, shown according to ``mode``."""
    if mode == "off" or total <= 0:
        yield lambda: None
        return
    if mode == "lines":
        lines = LineProgress(total, description, interval=interval)
        yield lines.advance
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), transient=True) as prog:
        tid = prog.add_task(description, total=total)
        yield lambda: prog.advance(tid)
