"""The document runner's progress line on a stream (stderr): done/total, this run's rate,
ETA, the current 529 rate and the requests in flight (formatted by
:func:`resilience.runner_core.format_progress`)."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from resilience.instrumentation.alerts import SlidingWindowRate
from resilience.runner_core import AttemptOutcome, format_progress
from resilience.runner_store import FinishedJob

__all__ = ["Progress"]


class Progress:
    """The progress line on a stream (stderr): redrawn in place on a terminal, a plain line
    every ``plain_every_s`` otherwise."""

    def __init__(
        self,
        total: int,
        *,
        done: int = 0,
        failed: int = 0,
        stream: TextIO | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        redraw_every_s: float = 0.2,
        plain_every_s: float = 2.0,
    ) -> None:
        self.total = total
        self.done = done
        self.failed = failed
        self.in_flight = 0
        self.limit = 0
        self.processed = 0  # finished by this run (``done`` includes what a resume found done)
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled
        self._clock = clock
        self._start = clock()
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._every = redraw_every_s if self._tty else plain_every_s
        self._last_draw = -1e18
        self._finished_at: deque[float] = deque()
        self.overload = SlidingWindowRate(10.0)

    def attempt(self, outcome: AttemptOutcome) -> None:
        self.overload.add(self._clock(), outcome.status == 529)

    def finished(self, job: FinishedJob) -> None:
        self.done += 1
        self.processed += 1
        self.failed += job.state == "failed"
        now = self._clock()
        self._finished_at.append(now)
        while self._finished_at and self._finished_at[0] <= now - 10.0:
            self._finished_at.popleft()
        self.draw()

    def line(self) -> str:
        now = self._clock()
        elapsed = now - self._start
        span = min(10.0, elapsed)
        recent = len(self._finished_at) / span if span >= 1.0 else None
        return format_progress(
            done=self.done,
            total=self.total,
            failed=self.failed,
            processed=self.processed,
            elapsed_s=elapsed,
            recent_rate=recent,
            overload_rate=self.overload.rate(now),
            in_flight=self.in_flight,
            limit=self.limit,
        )

    def draw(self, force: bool = False) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if not force and now - self._last_draw < self._every:
            return
        self._last_draw = now
        if self._tty:
            self._stream.write("\r\x1b[2K" + self.line())
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def close(self) -> None:
        if not self._enabled:
            return
        self.draw(force=True)
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
