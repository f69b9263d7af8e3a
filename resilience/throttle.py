"""Self-throttling: send less before the server has to say no.

* :class:`ConcurrencyLimit`: at most ``limit`` calls in flight, shared by threads and event
  loops alike (``acquire`` blocks a thread, ``acquire_async`` awaits; both honour a timeout).
  With an :class:`AIMDLimit` attached the limit adapts.
* :class:`AIMDLimit`: additive increase, multiplicative decrease. Each success adds
  ``increase / limit`` (about +``increase`` per round of ``limit`` calls); an overload (a 529,
  or, from :class:`~resilience.Policy`, an attempt that timed out) multiplies by ``decrease``
  (once per burst: failures of attempts sent before the last cut are ignored); a success slower
  than ``latency_target_s`` multiplies by ``latency_decrease``. Always within
  ``[minimum, maximum]``.
* :class:`RateLimitPacer`: reads the ``anthropic-ratelimit-*`` response headers and, when a
  bucket runs low (``remaining < reserve * limit``), sends requests at the bucket's refill rate
  (or holds them while a token bucket refills to its reserve), so the client slows down
  *before* it gets a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime

import anthropic

from resilience.backoff import _header

__all__ = [
    "AIMDLimit",
    "ConcurrencyLimit",
    "LimiterTimeout",
    "ModelLimits",
    "RateLimitPacer",
    "pacing_interval",
    "refill_wait",
]


class LimiterTimeout(anthropic.AnthropicError, TimeoutError):
    """No concurrency slot became free before the call's deadline (an ``AnthropicError`` and a
    ``TimeoutError``, so either kind of handler catches it)."""


class AIMDLimit:
    """Adaptive concurrency limit (thread-safe). ``limit`` is a float; the usable slot count is
    ``floor(limit)``, at least ``minimum``."""

    def __init__(
        self,
        *,
        initial: float = 16.0,
        minimum: float = 1.0,
        maximum: float = 256.0,
        increase: float = 1.0,
        decrease: float = 0.5,
        latency_target_s: float | None = None,
        latency_decrease: float = 0.9,
    ) -> None:
        if not 1.0 <= minimum <= initial <= maximum or not math.isfinite(maximum):
            raise ValueError(
                f"AIMDLimit: need 1 <= minimum <= initial <= maximum (finite), got "
                f"minimum={minimum!r} initial={initial!r} maximum={maximum!r}"
            )
        for name, factor in (("decrease", decrease), ("latency_decrease", latency_decrease)):
            if not 0.0 < factor < 1.0:
                raise ValueError(f"AIMDLimit: {name} must be in (0, 1), got {factor!r}")
        if not increase > 0:
            raise ValueError(f"AIMDLimit: increase must be > 0, got {increase!r}")
        if latency_target_s is not None and not latency_target_s > 0:
            raise ValueError(f"AIMDLimit: latency_target_s must be > 0, got {latency_target_s!r}")
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.increase = float(increase)
        self.decrease = float(decrease)
        self.latency_target_s = latency_target_s
        self.latency_decrease = float(latency_decrease)
        self.initial = float(initial)
        self._limit = float(initial)
        self._last_cut = -math.inf
        self._lock = threading.Lock()

    @property
    def limit(self) -> float:
        return self._limit

    @property
    def reduced(self) -> bool:
        """Has the limit been cut below where it started (the service said it was overloaded,
        attempts timed out, or answers were slower than the latency target, more recently than
        it recovered)?"""
        return self._limit < self.initial

    @property
    def floored(self) -> bool:
        """Down to its minimum number of usable slots: no cut left to make."""
        return math.floor(self._limit) <= self.minimum

    def fresh(self) -> AIMDLimit:
        """A new limit with the same settings, at its initial value (one per model)."""
        return AIMDLimit(
            initial=self.initial,
            minimum=self.minimum,
            maximum=self.maximum,
            increase=self.increase,
            decrease=self.decrease,
            latency_target_s=self.latency_target_s,
            latency_decrease=self.latency_decrease,
        )

    def on_success(self, latency_s: float) -> None:
        self._lock.acquire()  # not ``with``: this runs on every call, and ``with`` costs twice as much
        try:
            if self.latency_target_s is not None and latency_s > self.latency_target_s:
                self._limit = max(self.minimum, self._limit * self.latency_decrease)
            else:
                self._limit = min(self.maximum, self._limit + self.increase / self._limit)
        finally:
            self._lock.release()

    def on_overload(self, began: float | None = None, now: float | None = None) -> None:
        """A 529 (or a timed-out attempt: the policy reports both). With ``began`` (when the
        overloaded attempt was sent) and ``now`` (monotonic seconds), a failure of an attempt
        sent before the last cut is the same congestion that cut already answered and is
        ignored: one burst of 529s to calls in flight together halves the limit once, not once
        per call (as TCP cuts once per round trip). Without them, every call cuts."""
        with self._lock:
            if began is not None and began < self._last_cut:
                return
            self._limit = max(self.minimum, self._limit * self.decrease)
            if now is not None:
                self._last_cut = now


class _Waiter:
    __slots__ = ("event", "future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop is not None else None
        self.event: threading.Event | None = None if loop is not None else threading.Event()
        self.granted = False

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            future = self.future

            def _set() -> None:
                if not future.done():
                    future.set_result(None)

            with contextlib.suppress(RuntimeError):  # a closed loop: the waiter is gone with it
                self.loop.call_soon_threadsafe(_set)


class ConcurrencyLimit:
    """At most ``limit`` calls in flight (or ``floor(adaptive.limit)`` when adaptive, capped by
    ``limit``). FIFO; a released slot goes straight to the longest waiter."""

    def __init__(self, limit: int = 64, *, adaptive: AIMDLimit | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"ConcurrencyLimit: limit must be an int >= 1, got {limit!r}")
        self.max_limit = limit
        self.adaptive = adaptive
        self._in_use = 0
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        if self.adaptive is None:
            return self.max_limit
        return max(1, min(self.max_limit, math.floor(self.adaptive.limit)))

    @property
    def in_use(self) -> int:
        return self._in_use

    def try_acquire(self) -> bool:
        self._lock.acquire()  # not ``with``: this runs on every call, and ``with`` costs twice as much
        try:
            if not self._waiters and self._in_use < self.limit:
                self._in_use += 1
                return True
            return False
        finally:
            self._lock.release()

    def _enqueue(self, loop: asyncio.AbstractEventLoop | None) -> _Waiter | None:
        with self._lock:
            if not self._waiters and self._in_use < self.limit:
                self._in_use += 1
                return None
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
            return waiter

    def _withdraw(self, waiter: _Waiter) -> bool:
        """A waiter gives up (timeout, cancellation). True when the slot was granted to it in
        the meantime: then it owns the slot after all."""
        with self._lock:
            if waiter.granted:
                return True
            self._waiters.remove(waiter)
            return False

    def acquire(self, timeout: float | None = None) -> None:
        """Block the calling thread until a slot is free; :class:`LimiterTimeout` after ``timeout``."""
        waiter = self._enqueue(None)
        if waiter is None:
            return
        assert waiter.event is not None
        if waiter.event.wait(None if timeout is None else max(0.0, timeout)) or self._withdraw(waiter):
            return
        raise LimiterTimeout(f"no concurrency slot free within {timeout:.3f}s (limit {self.limit})")

    async def acquire_async(self, timeout: float | None = None) -> None:
        """Await a free slot; :class:`LimiterTimeout` after ``timeout``."""
        waiter = self._enqueue(asyncio.get_running_loop())
        if waiter is None:
            return
        assert waiter.future is not None
        try:
            if timeout is None:
                await waiter.future
            else:
                await asyncio.wait_for(asyncio.shield(waiter.future), max(0.0, timeout))
        except asyncio.TimeoutError:
            if self._withdraw(waiter):
                return  # granted in the same instant
            raise LimiterTimeout(f"no concurrency slot free within {timeout}s (limit {self.limit})") from None
        except BaseException:
            if self._withdraw(waiter):
                self.release()
            raise

    @property
    def overloaded(self) -> bool:
        """Adaptive, and cut below its initial value (see :attr:`AIMDLimit.reduced`)."""
        return self.adaptive is not None and self.adaptive.reduced

    def release(self) -> None:
        """Return a slot. Waiters are granted slots, longest first, while fewer than ``limit``
        are in use: one for the slot returned, more when an adaptive limit has grown since."""
        wake: list[_Waiter] = []
        self._lock.acquire()  # not ``with``: this runs on every call, and ``with`` costs twice as much
        try:
            if self._in_use <= 0:
                raise RuntimeError("ConcurrencyLimit.release() without a matching acquire")
            self._in_use -= 1
            limit = self.limit
            while self._waiters and self._in_use < limit:
                waiter = self._waiters.popleft()
                waiter.granted = True
                self._in_use += 1
                wake.append(waiter)
        finally:
            self._lock.release()
        for waiter in wake:
            waiter.wake()


class ModelLimits:
    """One :class:`ConcurrencyLimit` per model, created on first use with the same settings:
    at most ``limit`` calls in flight to each model, each with its own copy of ``adaptive``.

    Overload is per model (a 529 from one model says nothing about another's capacity), so a
    529 storm on one model shrinks only that model's limit; calls that fall back to another
    model are not queued behind it. With ``shed_to_fallback`` (default), a call that finds no
    free slot on a model whose adaptive limit was cut (by 529s or timed-out attempts, or by
    answers slower than its latency target), and that has another model left in its fallback
    chain, moves on at once (as if that model's breaker were open) instead of queueing for the
    overloaded one; without a next model it queues as usual."""

    def __init__(
        self, limit: int = 256, *, adaptive: AIMDLimit | None = None, shed_to_fallback: bool = True
    ) -> None:
        ConcurrencyLimit(limit)  # bad settings fail here, not on the first call
        self.max_limit = limit
        self._adaptive = adaptive
        self.shed_to_fallback = bool(shed_to_fallback)
        self._by_model: dict[str, ConcurrencyLimit] = {}
        self._lock = threading.Lock()

    @property
    def adaptive(self) -> AIMDLimit | None:
        """The template each model's adaptive limit is copied from (None: static limits).
        Setting it applies to every model, including those already seen."""
        return self._adaptive

    @adaptive.setter
    def adaptive(self, value: AIMDLimit | None) -> None:
        with self._lock:
            self._adaptive = value
            for limit in self._by_model.values():
                limit.adaptive = value.fresh() if value is not None else None

    def for_model(self, model: str) -> ConcurrencyLimit:
        limit = self._by_model.get(model)
        if limit is None:
            with self._lock:
                limit = self._by_model.get(model)
                if limit is None:
                    template = self._adaptive
                    limit = ConcurrencyLimit(
                        self.max_limit, adaptive=template.fresh() if template is not None else None
                    )
                    self._by_model[model] = limit
        return limit

    def limits(self) -> dict[str, int]:
        """The current slot count of each model seen so far."""
        return {model: limit.limit for model, limit in self._by_model.items()}

    def in_use(self) -> int:
        """Slots in use over all models."""
        return sum(limit.in_use for limit in self._by_model.values())

    def __repr__(self) -> str:
        adaptive = self._adaptive is not None
        return f"ModelLimits(limit={self.max_limit}, adaptive={adaptive}, models={self.limits()})"


def pacing_interval(limit: int, remaining: int, reset_in_s: float, reserve: float) -> float:
    """Seconds between requests for a *requests* bucket running low. The API's buckets refill
    continuously and ``reset`` is when the bucket is full again, so the refill rate is
    ``(limit - remaining) / reset_in_s`` per second; below ``reserve * limit`` requests go out
    at that rate (one per ``reset_in_s / (limit - remaining)`` s), which keeps the bucket from
    running dry. 0 while more than ``reserve * limit`` remain. Pure."""
    if reset_in_s <= 0 or limit <= 0 or remaining > reserve * limit:
        return 0.0
    return reset_in_s / (limit - remaining)


def refill_wait(limit: int, remaining: int, reset_in_s: float, reserve: float) -> float:
    """Seconds until a *token* bucket below ``reserve * limit`` has refilled to that level
    (continuous refill, full at ``reset_in_s``); 0 when it is not below. Pure."""
    floor = reserve * limit
    if reset_in_s <= 0 or limit <= 0 or remaining >= floor:
        return 0.0
    return reset_in_s * (floor - remaining) / (limit - remaining)


def _parse_reset(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_BUCKETS = ("requests", "tokens", "input-tokens", "output-tokens")


class RateLimitPacer:
    """Slows down when the ``anthropic-ratelimit-*`` headers say a bucket is running low:
    requests are spaced at the requests bucket's refill rate (:func:`pacing_interval`), and
    held while a token bucket refills to its reserve (:func:`refill_wait`). ``observe(headers,
    now_wall)`` after every response; ``reserve(now_wall)`` before every attempt returns how
    long to wait (at most ``max_delay_s``)."""

    def __init__(self, *, reserve: float = 0.1, max_delay_s: float = 10.0) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"RateLimitPacer: reserve must be in [0, 1), got {reserve!r}")
        if not max_delay_s >= 0:
            raise ValueError(f"RateLimitPacer: max_delay_s must be >= 0, got {max_delay_s!r}")
        self.reserve_fraction = float(reserve)
        self.max_delay_s = float(max_delay_s)
        self._interval = 0.0
        self._until = -math.inf  # the interval applies until this wall time (the bucket's reset)
        self._next = -math.inf
        self._hold_until = -math.inf  # no request before this wall time (a token bucket refilling)
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        """The current spacing between requests (0: not pacing)."""
        return self._interval

    @property
    def hold_until(self) -> float:
        """Wall time before which no request goes out (a token bucket below its reserve)."""
        return self._hold_until

    def observe(self, headers: Mapping[str, str], now_wall: float) -> None:
        interval = 0.0
        until = -math.inf
        hold = 0.0
        seen = False
        for bucket in _BUCKETS:
            prefix = f"anthropic-ratelimit-{bucket}-"
            remaining_raw = _header(headers, prefix + "remaining")
            if remaining_raw is None:
                continue
            limit_raw = _header(headers, prefix + "limit")
            reset_raw = _header(headers, prefix + "reset")
            if limit_raw is None or reset_raw is None:
                continue
            try:
                limit, remaining = int(limit_raw), int(remaining_raw)
            except ValueError:
                continue
            reset = _parse_reset(reset_raw)
            if reset is None:
                continue
            seen = True
            if bucket == "requests":
                gap = pacing_interval(limit, remaining, reset - now_wall, self.reserve_fraction)
                if gap > interval:
                    interval, until = gap, reset
            else:
                hold = max(hold, refill_wait(limit, remaining, reset - now_wall, self.reserve_fraction))
        if seen:
            with self._lock:
                self._interval = interval
                self._until = until
                self._hold_until = now_wall + hold if hold > 0 else -math.inf

    def reserve(self, now_wall: float) -> float:
        """Seconds to wait before the next request (0 when the buckets are healthy)."""
        if self._interval <= 0.0 and self._hold_until <= now_wall:
            return 0.0
        with self._lock:
            wait = self._hold_until - now_wall if self._hold_until > now_wall else 0.0
            if self._interval > 0.0:
                if now_wall >= self._until:
                    self._interval = 0.0
                else:
                    start = self._next if self._next > now_wall + wait else now_wall + wait
                    self._next = start + self._interval
                    wait = start - now_wall
            return min(self.max_delay_s, wait)
