"""Testing support: an injectable clock, and a switch that removes every wait.

``set_testing(True)`` (or ``with no_waits():``) makes every policy skip its sleeps (backoff,
Retry-After, pacing) while still computing, logging and reporting the delays it would have
used, like stamina's testing mode. :class:`FakeClock` is a clock whose time only moves when
something sleeps on it or calls :meth:`FakeClock.advance`: pass it as ``Policy(clock=...)`` and
deadlines, breakers and backoff all run on simulated time, instantly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock", "is_testing", "no_waits", "set_testing"]


@runtime_checkable
class Clock(Protocol):
    """Where a policy gets time from and how it waits."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def async_sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time``, ``time.sleep``, ``asyncio.sleep``."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """Simulated time. ``sleep`` advances it and records the delay in :attr:`sleeps`."""

    def __init__(self, start: float = 1000.0, *, wall_start: float = 1_800_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"FakeClock.advance: cannot go back in time ({seconds!r}s)")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"FakeClock.sleep: negative delay {seconds!r}")
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


_no_waits = False


def set_testing(on: bool = True) -> None:
    """Turn the no-waits testing mode on or off for every policy in this process."""
    global _no_waits
    _no_waits = bool(on)


def is_testing() -> bool:
    return _no_waits


@contextmanager
def no_waits() -> Iterator[None]:
    """``with no_waits(): ...``: policies skip their sleeps inside the block."""
    before = _no_waits
    set_testing(True)
    try:
        yield
    finally:
        set_testing(before)
