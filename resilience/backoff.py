"""Backoff strategies and Retry-After parsing: pure functions, no clock, no global random.

Every strategy answers one question: after failed attempt number ``attempt`` (1-based), how
long to wait before the next one, given the previous delay and a random generator. The
exponential envelope is ``min(cap, base * multiplier ** (attempt - 1))``.

=================  ===============================================================
``NoJitter``       the envelope itself (deterministic; synchronised clients collide)
``FullJitter``     uniform on ``[0, envelope]``
``EqualJitter``    ``envelope / 2 + uniform(0, envelope / 2)``
``Decorrelated``   ``min(cap, uniform(base, 3 * previous))`` (previous = base at first)
``SdkBackoff``     the official SDK's formula: ``min(0.5 * 2 ** (attempt - 1), 8) * (1 - 0.25 * U)``
=================  ===============================================================

:func:`parse_retry_after` reads ``retry-after-ms`` (milliseconds), then ``retry-after`` (seconds
or an HTTP date), in the order the SDKs use.

The retry decision is a type: :func:`retry_decision` answers, for one failed attempt and the
:class:`Retry` settings, either :class:`Delay` (wait that long, then retry) or :class:`GiveUp`
with a :data:`GiveUpReason` (the same names :class:`~resilience.instrumentation.events.GaveUp`
carries). The policy may still turn a delay into a give-up (budget, breaker, fallback).
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from resilience.classify import Failure

__all__ = [
    "Backoff",
    "Decorrelated",
    "Delay",
    "EqualJitter",
    "FullJitter",
    "GiveUp",
    "GiveUpReason",
    "NoJitter",
    "Retry",
    "SdkBackoff",
    "envelope",
    "parse_retry_after",
    "retry_decision",
]


@runtime_checkable
class Backoff(Protocol):
    """A backoff strategy: ``delay(attempt, previous, rng)`` seconds to wait after failed
    attempt ``attempt`` (1-based); ``previous`` is the delay used before it (None at first)."""

    @property
    def cap(self) -> float: ...

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float: ...


def _check_number(name: str, value: float, *, minimum: float, inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"backoff: {name} must be a finite number, got {value!r}")
    if value < minimum or (not inclusive and value == minimum):
        op = ">=" if inclusive else ">"
        raise ValueError(f"backoff: {name} must be {op} {minimum}, got {value!r}")


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"backoff: attempt is 1-based and must be an int >= 1, got {attempt!r}")


def envelope(attempt: int, *, base: float, multiplier: float, cap: float) -> float:
    """``min(cap, base * multiplier ** (attempt - 1))`` without overflowing for huge attempts."""
    _check_attempt(attempt)
    try:
        raw = base * multiplier ** (attempt - 1)
    except OverflowError:
        return cap
    return cap if raw > cap else raw


@dataclass(frozen=True, slots=True)
class _Exponential:
    base: float = 1.0
    multiplier: float = 2.0
    cap: float = 20.0

    def __post_init__(self) -> None:
        _check_number("base", self.base, minimum=0.0, inclusive=False)
        _check_number("multiplier", self.multiplier, minimum=1.0)
        _check_number("cap", self.cap, minimum=0.0, inclusive=False)
        if self.cap < self.base:
            raise ValueError(f"backoff: cap ({self.cap}) must be >= base ({self.base})")

    def _envelope(self, attempt: int) -> float:
        return envelope(attempt, base=self.base, multiplier=self.multiplier, cap=self.cap)


@dataclass(frozen=True, slots=True)
class NoJitter(_Exponential):
    """Exponential backoff without jitter: exactly the envelope."""

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float:
        return self._envelope(attempt)


@dataclass(frozen=True, slots=True)
class FullJitter(_Exponential):
    """Uniform on ``[0, envelope]`` (the AWS "full jitter"): the best spread for a herd."""

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float:
        return rng.uniform(0.0, self._envelope(attempt))


@dataclass(frozen=True, slots=True)
class EqualJitter(_Exponential):
    """Half the envelope fixed, half uniform: never shorter than ``envelope / 2``."""

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float:
        half = self._envelope(attempt) / 2.0
        return half + rng.uniform(0.0, half)


@dataclass(frozen=True, slots=True)
class Decorrelated(_Exponential):
    """Decorrelated jitter: ``min(cap, uniform(base, 3 * previous))``, previous = base at first.
    ``multiplier`` is unused (the growth comes from the factor 3)."""

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float:
        _check_attempt(attempt)
        prev = self.base if previous is None or previous < self.base else previous
        high = min(self.cap, 3.0 * prev)
        value = rng.uniform(self.base, 3.0 * prev)  # may round a hair past its end point
        return high if value > high else value


@dataclass(frozen=True, slots=True)
class SdkBackoff(_Exponential):
    """The official SDKs' formula: envelope ``min(0.5 * 2 ** n, 8)`` shortened by up to
    ``reduction`` (25 %) at random."""

    base: float = 0.5
    multiplier: float = 2.0
    cap: float = 8.0
    reduction: float = 0.25

    def __post_init__(self) -> None:
        _Exponential.__post_init__(self)
        _check_number("reduction", self.reduction, minimum=0.0)
        if self.reduction >= 1.0:
            raise ValueError(f"backoff: reduction must be < 1, got {self.reduction!r}")

    def delay(self, attempt: int, previous: float | None, rng: random.Random) -> float:
        return self._envelope(attempt) * (1.0 - self.reduction * rng.random())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "get_list"):  # plain dicts may hold other casings
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value


def parse_retry_after(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said <= 0, or said
    something unparseable: then backoff applies, as in the SDKs).

    ``retry-after-ms`` wins over ``retry-after``; ``retry-after`` is seconds (float) or an HTTP
    date, compared with ``now_wall`` (epoch seconds)."""
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value if value > 0 else None
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - now_wall
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


GiveUpReason = Literal[
    "not_retryable",
    "attempts",
    "retry_after_over_ceiling",
    "deadline",
    "overload_fallback",
    "circuit_open",
    "budget",
    "throttled",
]
"""Why no more attempts are made on a model, as :class:`GiveUp` and the
:class:`~resilience.instrumentation.events.GaveUp` event both say it:

* ``not_retryable``: the failure is not worth retrying (a 400, a spend limit ...);
* ``attempts``: ``Retry.max_attempts`` made on this model;
* ``retry_after_over_ceiling``: the server asked for a wait above ``Retry.retry_after_ceiling_s``;
* ``deadline``: the next attempt would start after the call's deadline;
* ``overload_fallback``: a 529 after ``FallbackChain(overload_attempts=...)`` attempts, with a
  next model to try;
* ``circuit_open``: refused by the model's breaker, or it opened while this call was retrying;
* ``budget``: the retry budget has no token left;
* ``throttled``: no concurrency slot before the deadline."""


@dataclass(frozen=True, slots=True)
class Delay:
    """Retry after ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Make no more attempts on this model, for ``reason``."""

    reason: GiveUpReason


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry settings. ``max_attempts`` counts the first attempt (4 = 1 + 3 retries, per model).
    ``deadline_s`` bounds the whole call, every model and wait included (None: no deadline).
    A Retry-After above ``retry_after_ceiling_s`` makes the policy give up on that model
    instead of sleeping for minutes (the fallback chain may then move on)."""

    max_attempts: int = 4
    backoff: Backoff = field(default_factory=lambda: FullJitter(base=1.0, multiplier=2.0, cap=20.0))
    deadline_s: float | None = 600.0
    retry_after_ceiling_s: float = 60.0
    retry_after_jitter: float = 0.0
    """0 (default): wait exactly what Retry-After says. ``j > 0``: wait ``ra * (1 + U(0, j))``,
    never earlier than asked, so that clients told the same instant do not return in one wave,
    and never longer than ``retry_after_ceiling_s``."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise ValueError(f"Retry: max_attempts must be an int >= 1, got {self.max_attempts!r}")
        if self.deadline_s is not None and not (math.isfinite(self.deadline_s) and self.deadline_s > 0):
            raise ValueError(
                f"Retry: deadline_s must be a finite number > 0 or None, got {self.deadline_s!r}"
            )
        if not self.retry_after_ceiling_s >= 0:
            raise ValueError(f"Retry: retry_after_ceiling_s must be >= 0, got {self.retry_after_ceiling_s!r}")
        if not 0.0 <= self.retry_after_jitter <= 10.0:
            raise ValueError(f"Retry: retry_after_jitter must be in [0, 10], got {self.retry_after_jitter!r}")
        if not isinstance(self.backoff, Backoff):
            raise TypeError(f"Retry: backoff must be a backoff strategy, got {self.backoff!r}")


def retry_decision(
    failure: Failure,
    attempt: int,
    *,
    retry: Retry,
    previous_delay: float | None,
    rng: random.Random,
    now: float,
    deadline: float,
) -> Delay | GiveUp:
    """Pure: the :class:`Delay` before the next attempt, or :class:`GiveUp` saying why there is
    none (``not_retryable``, ``attempts``, ``retry_after_over_ceiling``, ``deadline``). The
    budget, the breaker and the fallback chain are asked after, by the policy."""
    if not failure.retryable:
        return GiveUp("not_retryable")
    if attempt >= retry.max_attempts:
        return GiveUp("attempts")
    if failure.retry_after_s is not None:
        if failure.retry_after_s > retry.retry_after_ceiling_s:
            return GiveUp("retry_after_over_ceiling")
        delay = failure.retry_after_s
        if retry.retry_after_jitter > 0.0:  # later than asked, but never past the ceiling
            delay = min(
                delay + rng.uniform(0.0, retry.retry_after_jitter * delay), retry.retry_after_ceiling_s
            )
    else:
        delay = retry.backoff.delay(attempt, previous_delay, rng)
    if now + delay >= deadline:
        return GiveUp("deadline")
    return Delay(delay)
