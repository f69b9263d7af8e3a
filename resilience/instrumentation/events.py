"""What the policy tells the outside world: typed events, counters and the default log lines.

Subscribe with ``Policy(on_event=callback)`` (or ``policy.subscribe(callback)``); the callback
gets one of the event dataclasses below, synchronously, on the thread (or event loop) that made
the call. Keep it fast; an exception in a callback is logged and swallowed, never raised into
the call. Dispatch on the class::

    def on_event(event: resilience.Event) -> None:
        if isinstance(event, resilience.RetryScheduled):
            retries.labels(event.model, event.kind).inc()

Default log lines (logger ``busysignal.resilience``, one line each, ``key=value`` so they grep)::

    busysignal.retry model=claude-sonnet-5-5 attempt=1/4 delay=0.412s status=529
        error=overloaded_error kind=overloaded request_id=req_01...   (one line in the log)
    busysignal.giveup model=... attempts=4 reason=attempts status=529 error=overloaded_error ...
    busysignal.fallback from=claude-sonnet-5-5 to=claude-haiku-5-5 reason=overloaded
    busysignal.breaker model=claude-sonnet-5-5 closed->open
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Union

from resilience.backoff import GiveUpReason
from resilience.breaker import BreakerState

__all__ = [
    "AttemptFinished",
    "BreakerChanged",
    "CallFinished",
    "Counters",
    "Event",
    "EventHook",
    "FallbackTaken",
    "GaveUp",
    "RetryScheduled",
    "StreamInterrupted",
]

log = logging.getLogger("busysignal.resilience")


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """Attempt ``attempt`` of ``max_attempts`` on ``model`` failed; the next one follows after
    ``delay_s`` (``retry_after_s`` is what the server asked for, if it did)."""

    model: str
    attempt: int
    max_attempts: int
    delay_s: float
    kind: str
    status: int | None
    error_type: str | None
    request_id: str | None
    retry_after_s: float | None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """No more attempts on ``model``, for ``reason`` (a :data:`~resilience.backoff.GiveUpReason`,
    the same value the policy's :class:`~resilience.backoff.GiveUp` decision held): with
    ``throttled`` (no concurrency slot before the deadline)
    :class:`~resilience.throttle.LimiterTimeout` is raised."""

    model: str
    attempts: int
    reason: GiveUpReason
    kind: str
    status: int | None
    error_type: str | None
    request_id: str | None
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class FallbackTaken:
    """The call moves from ``from_model`` to ``to_model`` because of ``reason``: a failure kind,
    or ``throttled`` (no free slot on a model whose adaptive limit 529s or timed-out attempts
    have cut, so the call did not queue for it: see :class:`~resilience.throttle.ModelLimits`)."""

    from_model: str
    to_model: str
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    model: str
    old: BreakerState
    new: BreakerState


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One attempt ended: ``ok`` or failed with ``kind`` (None for an error not classified)."""

    model: str
    attempt: int
    ok: bool
    kind: str | None
    status: int | None
    latency_s: float


@dataclass(frozen=True, slots=True)
class CallFinished:
    """One call through the policy ended. ``model`` answered (None when it failed)."""

    requested_model: str
    model: str | None
    ok: bool
    attempts: int
    elapsed_s: float
    cached: bool = False


@dataclass(frozen=True, slots=True)
class StreamInterrupted:
    """A stream failed after ``events_delivered`` events had been handed to the caller.
    ``resumed``: a retry was opened to replay and continue it (``stream_resume``); otherwise
    the failure is raised to the caller."""

    model: str
    events_delivered: int
    kind: str | None
    resumed: bool = False


Event = Union[  # noqa: UP007 - a runtime alias that also works on 3.10
    RetryScheduled, GaveUp, FallbackTaken, BreakerChanged, AttemptFinished, CallFinished, StreamInterrupted
]
EventHook = Callable[[Event], None]
_UNLOGGED: frozenset[type] = frozenset({AttemptFinished, CallFinished})  # no default log line


@dataclass
class _CounterValues:
    calls: int = 0
    calls_ok: int = 0
    calls_failed: int = 0
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    give_ups: int = 0
    breaker_opens: int = 0
    budget_refusals: int = 0
    cache_hits: int = 0
    stream_interruptions: int = 0


class Counters:
    """Running totals for one policy (thread-safe). ``snapshot()`` returns a plain dict."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._values = _CounterValues()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        values, lock = self._values, self._lock
        lock.acquire()  # not ``with``: a call counts three times, and ``with`` costs twice as much
        try:
            setattr(values, name, getattr(values, name) + n)
        finally:
            lock.release()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return asdict(self._values)

    def __getattr__(self, name: str) -> int:
        values = object.__getattribute__(self, "_values")
        value: int = getattr(values, name)
        return value


def log_event(event: Event) -> None:
    """The default log line for the events worth a line (retries, give-ups, fallbacks, breakers)."""
    if type(event) in _UNLOGGED:  # the events of every call: the chain below would miss them all
        return
    if isinstance(event, RetryScheduled):
        log.warning(
            "busysignal.retry model=%s attempt=%d/%d delay=%.3fs status=%s error=%s kind=%s request_id=%s%s",
            event.model,
            event.attempt,
            event.max_attempts,
            event.delay_s,
            event.status,
            event.error_type,
            event.kind,
            event.request_id,
            "" if event.retry_after_s is None else f" retry_after={event.retry_after_s:.3f}s",
        )
    elif isinstance(event, GaveUp):
        log.warning(
            "busysignal.giveup model=%s attempts=%d reason=%s status=%s error=%s kind=%s request_id=%s "
            "elapsed=%.3fs",
            event.model,
            event.attempts,
            event.reason,
            event.status,
            event.error_type,
            event.kind,
            event.request_id,
            event.elapsed_s,
        )
    elif isinstance(event, FallbackTaken):
        log.warning(
            "busysignal.fallback from=%s to=%s reason=%s", event.from_model, event.to_model, event.reason
        )
    elif isinstance(event, BreakerChanged):
        log.warning("busysignal.breaker model=%s %s->%s", event.model, event.old.value, event.new.value)
    elif isinstance(event, StreamInterrupted):
        log.warning(
            "busysignal.stream_interrupted model=%s events_delivered=%d kind=%s resumed=%s",
            event.model,
            event.events_delivered,
            event.kind,
            event.resumed,
        )
