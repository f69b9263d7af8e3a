"""Error-rate alerts: a sliding window of outcomes and an alert with hysteresis.

Pure core, no clock and no I/O:

* :class:`SlidingWindowRate` counts outcomes in the last ``window_s`` seconds (the interval
  ``(now - window_s, now]``) and gives their error rate.
* :class:`AlertState` is the hysteresis: it *fires* when the rate goes above ``fire_above``
  (with at least ``min_requests`` in the window, so two failures out of three do not page
  anyone) and *clears* only when the rate falls below ``clear_below`` (lower than
  ``fire_above``); in between it keeps what it had. An episode is one fire and, later, one
  clear: a rate that wobbles around the threshold does not fire again.

Shell: :class:`ErrorRateMonitor` feeds outcomes through both, reads an injectable clock,
calls ``on_alert(event)`` and writes one log line per transition. It is thread-safe and knows
nothing about the resilience wrapper; :func:`ErrorRateMonitor.observe_status` takes an HTTP
status (or None for no response) so that any hook can feed it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AlertEvent",
    "AlertState",
    "ErrorRateMonitor",
    "SlidingWindowRate",
    "is_server_error",
]

log = logging.getLogger("resilience.alerts")  # the name users filter on, kept from before the move


def is_server_error(status: int | None) -> bool:
    """What the monitor counts as an error: any 5xx (529 included), and no response at all
    (``None``: reset, timeout), which is the service failing to answer just the same."""
    return status is None or status >= 500


# Failure kinds (``resilience.classify.Kind`` values) that, inside a 200 stream, stand for the
# service failing: an overloaded_error or api_error event, a stream cut off or timed out.
_STREAM_SERVICE_FAILURES = frozenset({"overloaded", "server_error", "connection", "timeout"})


class SlidingWindowRate:
    """Outcomes in the last ``window_s`` seconds. ``now`` must never go backwards."""

    def __init__(self, window_s: float = 60.0) -> None:
        if not isinstance(window_s, (int, float)) or not math.isfinite(window_s) or window_s <= 0:
            raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
        self.window_s = float(window_s)
        self._events: deque[tuple[float, bool]] = deque()
        self._errors = 0
        self._last = -math.inf

    def _advance(self, now: float) -> None:
        if now < self._last:
            raise ValueError(f"time went backwards: {now!r} < {self._last!r}")
        self._last = now
        horizon = now - self.window_s
        events = self._events
        while events and events[0][0] <= horizon:
            _, err = events.popleft()
            self._errors -= err

    def add(self, now: float, error: bool) -> None:
        self._advance(now)
        self._events.append((now, error))
        self._errors += error

    def counts(self, now: float) -> tuple[int, int]:
        """(errors, total) in the window ending at ``now``."""
        self._advance(now)
        return self._errors, len(self._events)

    def rate(self, now: float) -> float:
        """Error fraction in the window; 0.0 when the window is empty."""
        errors, total = self.counts(now)
        return errors / total if total else 0.0


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: Literal["fired", "cleared"]
    at: float  # the clock's seconds
    rate: float
    errors: int
    total: int
    window_s: float


class AlertState:
    """Hysteresis on a rate. ``update`` returns the transition, if any."""

    def __init__(self, *, fire_above: float = 0.05, clear_below: float | None = None, min_requests: int = 20):
        if not 0.0 <= fire_above < 1.0:
            raise ValueError(f"fire_above must be in [0, 1), got {fire_above!r}")
        if clear_below is None:
            clear_below = fire_above / 2
        if not 0.0 <= clear_below <= fire_above:
            raise ValueError(f"clear_below must be in [0, fire_above={fire_above}], got {clear_below!r}")
        if min_requests < 1:
            raise ValueError(f"min_requests must be >= 1, got {min_requests!r}")
        self.fire_above = fire_above
        self.clear_below = clear_below
        self.min_requests = min_requests
        self.alerting = False

    def update(self, rate: float, total: int) -> Literal["fired", "cleared"] | None:
        if total < self.min_requests:
            return None  # too little evidence either way: keep the state
        if not self.alerting and rate > self.fire_above:
            self.alerting = True
            return "fired"
        if self.alerting and rate < self.clear_below:
            self.alerting = False
            return "cleared"
        return None


class ErrorRateMonitor:
    """Sliding-window 5xx/529 rate with an alert that fires once per episode.

    Defaults: alert above 5% over 60 s with at least 20 requests in the window; clear below
    half the threshold. ``on_alert`` is called (outside the lock) with each :class:`AlertEvent`.
    """

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        fire_above: float = 0.05,
        clear_below: float | None = None,
        min_requests: int = 20,
        on_alert: Callable[[AlertEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        name: str = "upstream",
    ) -> None:
        self._window = SlidingWindowRate(window_s)
        self._state = AlertState(fire_above=fire_above, clear_below=clear_below, min_requests=min_requests)
        self._on_alert = on_alert
        self._clock = clock
        self._log = logger or log
        self._name = name
        self._lock = threading.Lock()

    @property
    def alerting(self) -> bool:
        with self._lock:
            return self._state.alerting

    def rate(self) -> float:
        with self._lock:
            return self._window.rate(self._clock())

    def observe(self, error: bool) -> AlertEvent | None:
        """Record one outcome now; returns the transition it caused, if any."""
        with self._lock:
            now = self._clock()
            self._window.add(now, error)
            event = self._evaluate(now)
        self._emit(event)
        return event

    def observe_status(self, status: int | None) -> AlertEvent | None:
        return self.observe(is_server_error(status))

    def attach(self, policy: Any) -> ErrorRateMonitor:
        """Subscribe to ``policy``'s events (``Policy.subscribe``); returns self."""
        policy.subscribe(self.on_policy_event)
        return self

    def on_policy_event(self, event: object) -> None:
        """An event hook for the resilience policy (``Policy(on_event=monitor.on_policy_event)``):
        every finished attempt counts, by its status; a failure inside a 200 stream (an
        ``overloaded_error`` or ``api_error`` event, a stream cut short) counts by its kind, as
        the 529/5xx/dropped connection it stands for. An error the policy could not classify
        (a bug in the caller's code) says nothing about the service and is not counted. Other
        events are ignored. (Imported lazily: the monitor itself does not depend on the policy.)"""
        from resilience.instrumentation.events import AttemptFinished

        if not isinstance(event, AttemptFinished):
            return
        if event.ok:
            self.observe(False)
        elif event.kind is not None:
            if event.status == 200:
                self.observe(event.kind in _STREAM_SERVICE_FAILURES)
            else:
                self.observe_status(event.status)

    def poll(self) -> AlertEvent | None:
        """Re-evaluate without a new outcome (old errors leave the window as time passes)."""
        with self._lock:
            event = self._evaluate(self._clock())
        self._emit(event)
        return event

    def _evaluate(self, now: float) -> AlertEvent | None:
        errors, total = self._window.counts(now)
        rate = errors / total if total else 0.0
        kind = self._state.update(rate, total)
        if kind is None:
            return None
        return AlertEvent(kind, now, rate, errors, total, self._window.window_s)

    def _emit(self, event: AlertEvent | None) -> None:
        if event is None:
            return
        if event.kind == "fired":
            self._log.warning(
                "busysignal alert FIRED: %s error rate %.1f%% (%d/%d) over %.0fs is above %.1f%%",
                self._name,
                100 * event.rate,
                event.errors,
                event.total,
                event.window_s,
                100 * self._state.fire_above,
            )
        else:
            self._log.warning(
                "busysignal alert CLEARED: %s error rate %.1f%% (%d/%d) over %.0fs is below %.1f%%",
                self._name,
                100 * event.rate,
                event.errors,
                event.total,
                event.window_s,
                100 * self._state.clear_below,
            )
        if self._on_alert is not None:
            self._on_alert(event)
