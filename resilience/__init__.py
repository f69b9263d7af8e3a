"""busysignal.resilience: the client side. Policies that make the official SDK survive busy
signals (529), rate limits, 5xx and dropped streams, as a one-line change::

    from resilience import Policy, ResilientAnthropic

    client = ResilientAnthropic(policy=Policy.default(fallback=["claude-sonnet-5-5", "claude-haiku-5-5"]))
    message = client.messages.create(model="claude-sonnet-5-5", max_tokens=1024, messages=[...])

Order of the layers, outermost first: [cache →] fallback → breaker → limiter → retry → one
attempt (see :mod:`resilience.policy`). Every piece is usable alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.backoff import (
        Decorrelated,
        EqualJitter,
        FullJitter,
        NoJitter,
        SdkBackoff,
        parse_retry_after,
    )
    from resilience.breaker import BreakerState, CircuitBreaker, CircuitBreakers
    from resilience.budget import RetryBudget
    from resilience.cache import MemoryCache, RedisCache, ResponseCache
    from resilience.classify import (
        CircuitOpenError,
        Failure,
        IncompleteStreamError,
        Kind,
        classify_exception,
        classify_status,
    )
    from resilience.client import AsyncResilientAnthropic, ResilientAnthropic, outcome_of
    from resilience.fallback import FallbackChain
    from resilience.instrumentation.alerts import ErrorRateMonitor, SlidingWindowRate
    from resilience.instrumentation.events import (
        AttemptFinished,
        BreakerChanged,
        CallFinished,
        Event,
        EventHook,
        FallbackTaken,
        GaveUp,
        RetryScheduled,
        StreamInterrupted,
    )
    from resilience.instrumentation.metrics import MetricsExporter, PolicyMetrics, RunnerMetrics
    from resilience.policy import Attempt, CallOutcome, Policy, Retry
    from resilience.streams import AsyncResilientStream, ResilientStream
    from resilience.testing import FakeClock, no_waits, set_testing
    from resilience.throttle import AIMDLimit, ConcurrencyLimit, LimiterTimeout, ModelLimits, RateLimitPacer

__all__ = [
    "AIMDLimit",
    "AsyncResilientAnthropic",
    "AsyncResilientStream",
    "Attempt",
    "AttemptFinished",
    "BreakerChanged",
    "BreakerState",
    "CallFinished",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitBreakers",
    "CircuitOpenError",
    "ConcurrencyLimit",
    "Decorrelated",
    "EqualJitter",
    "ErrorRateMonitor",
    "Event",
    "EventHook",
    "Failure",
    "FakeClock",
    "FallbackChain",
    "FallbackTaken",
    "FullJitter",
    "GaveUp",
    "IncompleteStreamError",
    "Kind",
    "LimiterTimeout",
    "MemoryCache",
    "MetricsExporter",
    "ModelLimits",
    "NoJitter",
    "Policy",
    "PolicyMetrics",
    "RateLimitPacer",
    "RedisCache",
    "ResilientAnthropic",
    "ResilientStream",
    "ResponseCache",
    "Retry",
    "RetryBudget",
    "RetryScheduled",
    "RunnerMetrics",
    "SdkBackoff",
    "SlidingWindowRate",
    "StreamInterrupted",
    "classify_exception",
    "classify_status",
    "no_waits",
    "outcome_of",
    "parse_retry_after",
    "set_testing",
]

# Each name is imported when first used, so that importing one module of the package (the
# `batch` verb's registrar, ``resilience.backoff``) does not import the SDK with all the rest.
_WHERE = {
    "ErrorRateMonitor": "resilience.instrumentation.alerts",
    "SlidingWindowRate": "resilience.instrumentation.alerts",
    "Decorrelated": "resilience.backoff",
    "EqualJitter": "resilience.backoff",
    "FullJitter": "resilience.backoff",
    "NoJitter": "resilience.backoff",
    "SdkBackoff": "resilience.backoff",
    "parse_retry_after": "resilience.backoff",
    "BreakerState": "resilience.breaker",
    "CircuitBreaker": "resilience.breaker",
    "CircuitBreakers": "resilience.breaker",
    "RetryBudget": "resilience.budget",
    "MemoryCache": "resilience.cache",
    "RedisCache": "resilience.cache",
    "ResponseCache": "resilience.cache",
    "CircuitOpenError": "resilience.classify",
    "Failure": "resilience.classify",
    "IncompleteStreamError": "resilience.classify",
    "Kind": "resilience.classify",
    "classify_exception": "resilience.classify",
    "classify_status": "resilience.classify",
    "AsyncResilientAnthropic": "resilience.client",
    "AsyncResilientStream": "resilience.streams",
    "ResilientAnthropic": "resilience.client",
    "ResilientStream": "resilience.streams",
    "outcome_of": "resilience.client",
    "AttemptFinished": "resilience.instrumentation.events",
    "BreakerChanged": "resilience.instrumentation.events",
    "CallFinished": "resilience.instrumentation.events",
    "Event": "resilience.instrumentation.events",
    "EventHook": "resilience.instrumentation.events",
    "FallbackTaken": "resilience.instrumentation.events",
    "GaveUp": "resilience.instrumentation.events",
    "RetryScheduled": "resilience.instrumentation.events",
    "StreamInterrupted": "resilience.instrumentation.events",
    "FallbackChain": "resilience.fallback",
    "MetricsExporter": "resilience.instrumentation.metrics",
    "PolicyMetrics": "resilience.instrumentation.metrics",
    "RunnerMetrics": "resilience.instrumentation.metrics",
    "Attempt": "resilience.policy",
    "CallOutcome": "resilience.policy",
    "Policy": "resilience.policy",
    "Retry": "resilience.policy",
    "FakeClock": "resilience.testing",
    "no_waits": "resilience.testing",
    "set_testing": "resilience.testing",
    "AIMDLimit": "resilience.throttle",
    "ConcurrencyLimit": "resilience.throttle",
    "LimiterTimeout": "resilience.throttle",
    "ModelLimits": "resilience.throttle",
    "RateLimitPacer": "resilience.throttle",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'resilience' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
