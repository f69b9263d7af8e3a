"""Retry budget: a token bucket, shared by everything that uses one client, that keeps retries a
bounded fraction of requests so that a client cannot amplify an outage.

Every request (a call's first attempt: one per call, whichever model of a fallback chain makes
it) deposits ``ratio`` tokens; every retry withdraws one whole
token and is refused when less than one is left. The bucket starts full at ``floor`` tokens and
never holds more than ``max(floor, capacity)``. So over any sequence of outcomes::

    retries <= ratio * requests + floor

(the property the tests check). With ``ratio=0.1, floor=10`` a healthy client may retry 10 %
of its traffic plus a burst of 10; during a total outage it stops retrying almost at once
instead of multiplying the load by ``max_attempts``.
"""

from __future__ import annotations

import math
import threading

__all__ = ["RetryBudget"]


class RetryBudget:
    """Thread-safe token bucket for retries (see module docstring)."""

    __slots__ = ("_balance", "_capacity", "_lock", "floor", "ratio", "refused", "requests", "retries")

    def __init__(self, *, ratio: float = 0.1, floor: float = 10.0, capacity: float | None = None) -> None:
        for name, value in (("ratio", ratio), ("floor", floor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"RetryBudget: {name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"RetryBudget: {name} must be >= 0, got {value!r}")
        if capacity is not None and (not math.isfinite(capacity) or capacity < floor):
            raise ValueError(f"RetryBudget: capacity must be finite and >= floor ({floor}), got {capacity!r}")
        self.ratio = float(ratio)
        self.floor = float(floor)
        self._capacity = float(floor if capacity is None else capacity)
        self._balance = float(floor)
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.refused = 0

    @property
    def balance(self) -> float:
        """Tokens available now (one retry costs one token)."""
        return self._balance

    def on_request(self) -> None:
        """A first attempt was made: deposit ``ratio`` tokens."""
        self._lock.acquire()  # not ``with``: this runs on every call, and ``with`` costs twice as much
        try:
            self.requests += 1
            balance = self._balance + self.ratio
            self._balance = balance if balance < self._capacity else self._capacity
        finally:
            self._lock.release()

    def try_retry(self) -> bool:
        """Take one token for a retry; False (and nothing taken) when the budget is spent."""
        with self._lock:
            if self._balance >= 1.0 - 1e-9:  # forgive float dust from repeated deposits
                self._balance = max(0.0, self._balance - 1.0)
                self.retries += 1
                return True
            self.refused += 1
            return False

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, floor={self.floor}, balance={self._balance:.2f}, "
            f"requests={self.requests}, retries={self.retries}, refused={self.refused})"
        )
