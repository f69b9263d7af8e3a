"""The capacity model (pure): how much generation a pool of servers runs at once.

Each admitted request holds a *reservation* ``[start, end)`` on its pool, where ``end`` is when
its generation would finish (the server's generation time is deterministic: time to first
token + output tokens / tokens per second). Admission keeps, at every instant, at most
``capacity`` reservations overlapping (FIFO multi-server queue):

* fewer than ``capacity`` reservations outstanding → start now;
* otherwise the request can start when enough reservations have ended: at the
  ``(n - capacity + 1)``-th smallest end; it waits (queued, bounded by ``queue_size`` and
  ``max_wait_s``) or is shed.

``release`` moves a reservation's end earlier when the work really ended earlier (the response
finished, or its client went away and abandoned work is not kept). It never moves an end later,
so a queued request admitted against the old ends is never over-admitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(slots=True)
class Reservation:
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of one admission: ``admitted`` with ``wait_s`` in the queue, or shed."""

    admitted: bool
    wait_s: float
    in_flight: int  # reservations running at the start time, this one included (when admitted)
    queued: int  # reservations waiting at ``now``, not counting this one
    capacity: int
    reservation: Reservation | None = None


@dataclass(slots=True)
class PoolState:
    """The reservations of one pool. ``capacity_at(t)`` gives the capacity in force at time t."""

    reservations: list[Reservation] = field(default_factory=list)

    def purge(self, now: float) -> None:
        if self.reservations and any(r.end <= now for r in self.reservations):
            self.reservations = [r for r in self.reservations if r.end > now]

    def in_flight(self, at: float) -> int:
        return sum(1 for r in self.reservations if r.start <= at < r.end)

    def queued(self, now: float) -> int:
        return sum(1 for r in self.reservations if r.start > now)

    def admit(
        self,
        now: float,
        service_s: float,
        capacity_now: int,
        capacity_at_start: CapacityFn,
        *,
        queue_size: int,
        max_wait_s: float,
    ) -> Admission:
        """Admit a request arriving at ``now`` that needs ``service_s`` seconds of a slot."""
        self.purge(now)
        n = len(self.reservations)
        queued = self.queued(now)
        cap = capacity_now
        start = self._earliest_start(now, cap)
        # a capacity drop in force at the start time tightens the limit
        for _ in range(4):
            cap_then = capacity_at_start(start)
            if cap_then >= cap:
                break
            cap = cap_then
            start = self._earliest_start(now, cap)
        wait = start - now
        if cap <= 0 or math.isinf(start):
            return Admission(False, 0.0, 0, queued, max(cap, 0))
        if wait > 0 and (queued >= queue_size or wait > max_wait_s):
            return Admission(False, 0.0, n, queued, cap)
        res = Reservation(start, start + service_s)
        self.reservations.append(res)
        return Admission(True, wait, self.in_flight(start), queued, cap, res)

    def _earliest_start(self, now: float, cap: int) -> float:
        n = len(self.reservations)
        if cap <= 0:
            return math.inf
        if n < cap:
            # some reservations may not have started yet, but fewer than cap exist at all
            return now
        ends = sorted(r.end for r in self.reservations)
        return max(now, ends[n - cap])

    @staticmethod
    def release(res: Reservation, at: float) -> None:
        """The work really ended at ``at`` (only ever moves the end earlier)."""
        if at < res.end:
            res.end = max(at, res.start)


class CapacityFn:
    """Capacity (an int) of one pool as a function of the time on the engine's clock."""

    __slots__ = ("base", "changes", "origin")

    def __init__(
        self, base: int, changes: tuple[tuple[float, float, float, float | None], ...], origin: float
    ):
        self.base = base
        self.changes = changes  # (start_s, end_s, factor, period_s) in scenario time
        self.origin = origin  # engine time at which scenario time is 0

    def factor(self, t: float) -> float:
        """The factor in force at scenario time ``t``: the smallest of the active changes, else 1."""
        f: float | None = None
        for start, end, factor, period in self.changes:
            x = t % period if period is not None else t
            if start <= x < end:
                f = factor if f is None else min(f, factor)
        return 1.0 if f is None else f

    def __call__(self, at: float) -> int:
        if not self.changes:
            return self.base
        return math.floor(self.base * self.factor(at - self.origin) + 1e-9)
