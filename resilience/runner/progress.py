"""The document runner's progress line on a stream (stderr): done/total, this run's rate,
ETA, the current 529 rate and the requests in flight (:func:`format_progress`, pure, formats
it; :class:`Progress` keeps the counts and draws it)."""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from resilience import SlidingWindowRate
from resilience.runner.core import AttemptOutcome
from resilience.runner.store import FinishedJob

__all__ = ["Progress", "format_duration", "format_progress"]


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def format_progress(
    *,
    done: int,
    total: int,
    failed: int,
    processed: int,
    elapsed_s: float,
    recent_rate: float | None,
    overload_rate: float,
    in_flight: int,
    limit: int,
    width: int = 24,
) -> str:
    """One progress line: bar, done/total, docs/s, ETA, current 529 rate, concurrency.

    ``done`` counts every finished document, those a resumed run found finished too;
    ``processed`` only those this run finished in its ``elapsed_s``, which is what a rate
    (and an ETA) may count. ``recent_rate``, when known, is this run's rate of late."""
    frac = done / total if total else 1.0
    filled = min(width, math.floor(frac * width))
    bar = "#" * filled + "." * (width - filled)
    rate = recent_rate if recent_rate is not None else (processed / elapsed_s if elapsed_s > 0 else 0.0)
    remaining = total - done
    eta = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
    failed_txt = f" ({failed} failed)" if failed else ""
    flight_txt = f" | in flight {in_flight}/{limit}" if limit > 0 else ""  # limit 0: no dispatcher (batches)
    return (
        f"[{bar}] {done}/{total}{failed_txt} {100 * frac:5.1f}% | {rate:7.1f} doc/s | "
        f"ETA {format_duration(eta)} | 529 {100 * overload_rate:4.1f}%{flight_txt}"
    )


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
