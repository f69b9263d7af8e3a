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

Rejecting is not free (accepting the connection, TLS, authenticating, parsing, routing): with
``shed_cost_s > 0`` a shed request also takes a *work* reservation of ``shed_cost_s`` seconds of
one slot, placed where a slot is next free in turn, exactly like an admitted request's (so it
delays whatever is admitted after it, and the "at most ``capacity`` at once" invariant covers
it). Its client is answered at once; the pool is work-conserving, so while it is saturated (the
only time it sheds) *when* that slot time is spent does not change how much is left for
generation. Work reservations are not requests: they do not count against ``queue_size``.
Rejection work is bounded like a listen backlog: a shed whose work could not start within
``shed_backlog_s`` of its arrival costs nothing (a real frontend's accept queue overflows and
the connection is refused), so a pool whose rejections alone exceed its capacity falls at most
``shed_backlog_s`` behind, never without bound.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.faults.compiled import CompiledFault, CompiledPool


@dataclass(slots=True)
class Reservation:
    start: float
    end: float
    seq: int = 0  # identity within its pool


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of one admission: ``admitted`` with ``wait_s`` in the queue, or shed."""

    admitted: bool
    wait_s: float
    in_flight: int  # reservations running at the start time, this one included (when admitted)
    queued: int  # requests waiting at ``now``, not counting this one (nor any rejection work)
    capacity: int
    reservation: Reservation | None = None
    shed_work: Reservation | None = None  # the slot time a shed request cost (``shed_cost_s > 0``)


_INF = math.inf


@dataclass(slots=True)
class PoolState:
    """The live reservations of one pool, kept in two sorted lists (by start and by end) so that
    every query is a binary search: admission costs O(log n) plus list moves, not a scan."""

    by_start: list[tuple[float, int]] = field(default_factory=list)
    by_end: list[tuple[float, int]] = field(default_factory=list)
    live: dict[int, Reservation] = field(default_factory=dict)
    next_seq: int = 0
    work_starts: list[tuple[float, int]] = field(default_factory=list)  # rejection work, by start
    shed_work_s: float = 0.0  # slot seconds spent on rejections since the pool was created
    sheds_charged: int = 0  # shed requests that were charged ``shed_cost_s``

    @property
    def reservations(self) -> list[Reservation]:
        return list(self.live.values())

    def purge(self, now: float) -> None:
        """Forget the reservations that have ended by ``now``."""
        k = bisect_right(self.by_end, (now, _INF))
        if k:
            for _end, seq in self.by_end[:k]:
                res = self.live.pop(seq)
                i = bisect_left(self.by_start, (res.start, seq))
                del self.by_start[i]
                if self.work_starts:
                    j = bisect_left(self.work_starts, (res.start, seq))
                    if j < len(self.work_starts) and self.work_starts[j][1] == seq:
                        del self.work_starts[j]
            del self.by_end[:k]

    def in_flight(self, at: float) -> int:
        """Reservations running at ``at`` (start <= at < end); every one that ended has started."""
        return bisect_right(self.by_start, (at, _INF)) - bisect_right(self.by_end, (at, _INF))

    def queued(self, now: float) -> int:
        """Requests waiting at ``now`` (reservations not started, less rejection work)."""
        waiting = len(self.by_start) - bisect_right(self.by_start, (now, _INF))
        return waiting - self._work_waiting(now) if self.work_starts else waiting

    def _work_waiting(self, now: float) -> int:
        return len(self.work_starts) - bisect_right(self.work_starts, (now, _INF))

    def _add(self, start: float, end: float) -> Reservation:
        seq = self.next_seq
        self.next_seq = seq + 1
        res = Reservation(start, end, seq)
        self.live[seq] = res
        insort(self.by_start, (start, seq))
        insort(self.by_end, (end, seq))
        return res

    def release(self, res: Reservation, at: float) -> None:
        """The work really ended at ``at`` (only ever moves the end earlier)."""
        if at >= res.end:
            return
        new_end = max(at, res.start)
        if self.live.get(res.seq) is res:
            i = bisect_left(self.by_end, (res.end, res.seq))
            del self.by_end[i]
            insort(self.by_end, (new_end, res.seq))
        res.end = new_end

    def admit(
        self,
        now: float,
        service_s: float,
        capacity_now: int,
        capacity_at_start: CapacityFn,
        *,
        queue_size: int,
        max_wait_s: float,
        shed_cost_s: float = 0.0,
        shed_backlog_s: float = 10.0,
    ) -> Admission:
        """Admit a request arriving at ``now`` that needs ``service_s`` seconds of a slot; if it is
        shed, it still costs ``shed_cost_s`` seconds of a slot (when the pool has any capacity)."""
        self.purge(now)
        n = len(self.live)
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
            work = None
            if shed_cost_s > 0 and wait <= shed_backlog_s:
                work = self._add(start, start + shed_cost_s)
                insort(self.work_starts, (start, work.seq))
                self.shed_work_s += shed_cost_s
                self.sheds_charged += 1
            return Admission(False, 0.0, n, queued, cap, shed_work=work)
        res = self._add(start, start + service_s)
        return Admission(True, wait, self.in_flight(start), queued, cap, res)

    def _earliest_start(self, now: float, cap: int) -> float:
        n = len(self.live)
        if cap <= 0:
            return _INF
        if n < cap:
            # some reservations may not have started yet, but fewer than cap exist at all
            return now
        # when the (n - cap + 1)-th earliest end has passed, at most cap - 1 are left
        return max(now, self.by_end[n - cap][0])


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


def admit_request(
    pool: CompiledPool,
    ps: PoolState,
    cap_fn: CapacityFn,
    max_tokens: int,
    arrival: float,
    ttft_override: float | None,
    tps_override: float | None,
    reason: dict[str, Any],
) -> tuple[CompiledFault | None, float, float | None, float | None, Reservation | None, PoolState | None]:
    """One request (asking for ``max_tokens``) reaching ``pool`` at ``arrival``: its service time
    from the pool's load (slowdown, shared tokens/s), then admitted, queued or shed.
    (shed fault, wait, ttft, tokens/s, reservation, its pool); what happened goes into ``reason``."""
    ps.purge(arrival)
    capacity_now = cap_fn(arrival)
    busy = ps.in_flight(arrival)
    util = 1.0 if capacity_now <= 0 else min(1.0, (busy + 1) / capacity_now)
    factor = 1.0 + pool.slowdown * util
    ttft = ttft_override if ttft_override is not None else pool.ttft_s * factor
    tps = tps_override if tps_override is not None else pool.stream_tokens_per_s / factor
    if pool.tokens_per_s is not None:
        tps = min(tps, pool.tokens_per_s / (busy + 1))
    out = max(1, max_tokens)
    if pool.expected_output_tokens is not None:
        out = min(out, pool.expected_output_tokens)
    service = ttft + out / tps
    adm = ps.admit(
        arrival,
        service,
        capacity_now,
        cap_fn,
        queue_size=pool.queue_size,
        max_wait_s=pool.max_wait_s,
        shed_cost_s=pool.shed_cost_s,
        shed_backlog_s=pool.shed_backlog_s,
    )
    reason["capacity"] = {
        "pool": pool.index,
        "capacity": adm.capacity,
        "in_flight": busy,
        "queued": adm.queued,
        "wait_s": adm.wait_s,
        "utilisation": util,
    }
    if not adm.admitted:
        reason["source"] = "capacity"
        if adm.shed_work is not None:
            reason["capacity"]["shed_cost_s"] = pool.shed_cost_s
        return pool.shed, 0.0, None, None, None, None
    return None, adm.wait_s, ttft, tps, adm.reservation, ps
