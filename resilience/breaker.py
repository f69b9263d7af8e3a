"""Circuit breaker per model: closed → open → half-open → closed (or open again).

* **closed**: calls pass; outcomes go into a sliding time window of ``window_s`` seconds (in
  ``buckets`` slices). Once the window holds at least ``min_throughput`` judged calls and the
  failure ratio is ``>= failure_ratio``, the breaker opens.
* **open**: calls are refused at once (the fallback chain moves to the next model) for
  ``open_s`` seconds.
* **half-open**: up to ``probes`` calls are let through; ``probes`` successes close the breaker
  (with an empty window), any failure opens it again for another ``open_s``.

Only failures that say something about the model's health count (overload, 5xx, timeouts,
connection errors, rate limits); the caller's own 4xx are ignored. Time is passed in
(``now``, monotonic seconds): the state machine itself reads no clock.
"""

from __future__ import annotations

import enum
import functools
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:  # typing.Unpack is Python 3.11's; the annotation is only read by type checkers
    from typing_extensions import Unpack

__all__ = ["BreakerSettings", "BreakerState", "CircuitBreaker", "CircuitBreakers"]

Outcome = Literal["success", "failure", "ignored"]


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Legal transitions (the stateful test checks every observed change against this set).
LEGAL_TRANSITIONS: frozenset[tuple[BreakerState, BreakerState]] = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    }
)

ChangeListener = Callable[[str, BreakerState, BreakerState, float], None]


def _positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"CircuitBreaker: {name} must be a finite number > 0, got {value!r}")


class CircuitBreaker:
    """One model's breaker. Thread-safe; every method takes ``now`` explicitly."""

    def __init__(
        self,
        model: str,
        *,
        failure_ratio: float = 0.5,
        window_s: float = 30.0,
        buckets: int = 10,
        min_throughput: int = 10,
        open_s: float = 15.0,
        probes: int = 1,
        on_change: ChangeListener | None = None,
    ) -> None:
        _positive("window_s", window_s)
        _positive("open_s", open_s)
        if not 0.0 < failure_ratio <= 1.0:
            raise ValueError(f"CircuitBreaker: failure_ratio must be in (0, 1], got {failure_ratio!r}")
        for name, count in (("buckets", buckets), ("min_throughput", min_throughput), ("probes", probes)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"CircuitBreaker: {name} must be an int >= 1, got {count!r}")
        self.model = model
        self.failure_ratio = float(failure_ratio)
        self.window_s = float(window_s)
        self.min_throughput = min_throughput
        self.open_s = float(open_s)
        self.probes = probes
        self.on_change = on_change
        self._bucket_s = self.window_s / buckets
        self._slots = buckets
        self._index = [-1] * buckets  # which time slice each slot holds
        self._ok = [0] * buckets
        self._bad = [0] * buckets
        self._state = BreakerState.CLOSED
        self._opened_at = -math.inf
        self._probes_out = 0
        self._probe_ok = 0
        self._generation = 0  # bumped on every transition; tickets from admit() carry it
        self._lock = threading.RLock()  # re-entrant: an on_change listener may read the breaker
        self.opened = 0  # how many times it opened

    # --- reading ---------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        """The state as of the last call (an open breaker turns half-open on the next ``allow``)."""
        return self._state

    def counts(self, now: float) -> tuple[int, int]:
        """(successes, failures) in the window ending at ``now``."""
        current = math.floor(now / self._bucket_s)
        ok = bad = 0
        for slot in range(self._slots):
            if current - self._slots < self._index[slot] <= current:
                ok += self._ok[slot]
                bad += self._bad[slot]
        return ok, bad

    def retry_in(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_s - now)

    # --- transitions ---------------------------------------------------------------------
    def _move(self, new: BreakerState, now: float) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        if new is BreakerState.OPEN:
            self._opened_at = now
            self.opened += 1
        if new is not BreakerState.HALF_OPEN:
            self._probes_out = 0
            self._probe_ok = 0
        if new is BreakerState.CLOSED:
            self._index = [-1] * self._slots
            self._ok = [0] * self._slots
            self._bad = [0] * self._slots
        if self.on_change is not None:
            self.on_change(self.model, old, new, now)

    def allow(self, now: float) -> bool:
        """May a call go to this model now? In half-open this hands out one of the probe slots,
        which the caller must return through :meth:`record`."""
        return self.admit(now) is not None

    def admit(self, now: float) -> int | None:
        """:meth:`allow` that returns a ticket (None: refused). Passing the ticket back to
        :meth:`record` lets the breaker ignore a call admitted under an earlier state (one that
        started before the breaker opened and ends while it is half-open is no probe)."""
        if self._state is BreakerState.CLOSED:
            return self._generation
        with self._lock:
            if self._state is BreakerState.OPEN:
                if now < self._opened_at + self.open_s:
                    return None
                self._move(BreakerState.HALF_OPEN, now)
            if self._state is BreakerState.HALF_OPEN:
                if self._probes_out + self._probe_ok < self.probes:
                    self._probes_out += 1
                    return self._generation
                return None
            return self._generation

    def record(self, outcome: Outcome, now: float, ticket: int | None = None) -> None:
        """The outcome of a call that :meth:`allow` (or :meth:`admit`, whose ticket to pass
        back) let through."""
        self._lock.acquire()  # not ``with``: this runs on every call, and ``with`` costs twice as much
        try:
            if ticket is not None and ticket != self._generation:
                return  # admitted under an earlier state: says nothing about this one
            state = self._state
            if state is BreakerState.CLOSED:
                if outcome == "ignored":
                    return
                current = math.floor(now / self._bucket_s)
                slot = current % self._slots
                if self._index[slot] != current:
                    self._index[slot] = current
                    self._ok[slot] = 0
                    self._bad[slot] = 0
                if outcome == "success":
                    self._ok[slot] += 1
                    return
                self._bad[slot] += 1
                ok, bad = self.counts(now)
                total = ok + bad
                if total >= self.min_throughput and bad >= self.failure_ratio * total:
                    self._move(BreakerState.OPEN, now)
            elif state is BreakerState.HALF_OPEN:
                if self._probes_out > 0:
                    self._probes_out -= 1
                if outcome == "failure":
                    self._move(BreakerState.OPEN, now)
                elif outcome == "success":
                    self._probe_ok += 1
                    if self._probe_ok >= self.probes:
                        self._move(BreakerState.CLOSED, now)
            # open: a call let through before the breaker opened finished late; nothing to learn
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.model!r}, state={self._state.value}, opened={self.opened})"


class BreakerSettings(TypedDict, total=False):
    """The settings of :class:`CircuitBreaker` (see there for their defaults), which
    :class:`CircuitBreakers` hands to every model's breaker."""

    failure_ratio: float
    window_s: float
    buckets: int
    min_throughput: int
    open_s: float
    probes: int


class CircuitBreakers:
    """One :class:`CircuitBreaker` per model, created on first use with the same settings
    (the keywords of :class:`CircuitBreaker`, with the same defaults)."""

    def __init__(self, **settings: Unpack[BreakerSettings]) -> None:
        make = functools.partial(CircuitBreaker, **settings)
        make("settings-check")  # bad settings fail here, not on the first call
        self._make = make
        self._by_model: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(model, old, new, now)`` on every transition of every model's breaker
        (each policy sharing these breakers adds its own)."""
        self._listeners.append(listener)

    def for_model(self, model: str) -> CircuitBreaker:
        breaker = self._by_model.get(model)
        if breaker is None:
            with self._lock:
                breaker = self._by_model.get(model)
                if breaker is None:
                    breaker = self._make(model, on_change=self._changed)
                    self._by_model[model] = breaker
        return breaker

    def _changed(self, model: str, old: BreakerState, new: BreakerState, now: float) -> None:
        for listener in self._listeners:
            listener(model, old, new, now)

    def states(self) -> dict[str, BreakerState]:
        return {model: b.state for model, b in self._by_model.items()}
