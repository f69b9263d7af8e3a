"""busysignal.resilience: the client side. Policies that make the official SDK survive busy
signals (529), rate limits, 5xx and dropped streams, as a one-line change::

    from resilience import Policy, ResilientAnthropic

    client = ResilientAnthropic(policy=Policy.default(fallback=["claude-sonnet-5-5", "claude-haiku-5-5"]))
    message = client.messages.create(model="claude-sonnet-5-5", max_tokens=1024, messages=[...])

Order of the layers, outermost first: [cache →] fallback → breaker → limiter → retry → one
attempt (see :mod:`resilience.policy`). Every piece is usable alone.
"""

from __future__ import annotations

from resilience.backoff import Decorrelated, EqualJitter, FullJitter, NoJitter, SdkBackoff, parse_retry_after
from resilience.breaker import BreakerState, CircuitBreaker, CircuitBreakers
from resilience.budget import RetryBudget
from resilience.classify import (
    CircuitOpenError,
    Failure,
    IncompleteStreamError,
    Kind,
    classify_exception,
    classify_status,
)
from resilience.client import (
    AsyncResilientAnthropic,
    AsyncResilientStream,
    ResilientAnthropic,
    ResilientStream,
    outcome_of,
)
from resilience.events import (
    AttemptFinished,
    BreakerChanged,
    CallFinished,
    Event,
    FallbackTaken,
    GaveUp,
    RetryScheduled,
    StreamInterrupted,
)
from resilience.fallback import FallbackChain
from resilience.policy import Attempt, CallOutcome, Policy, Retry
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
    "Event",
    "Failure",
    "FakeClock",
    "FallbackChain",
    "FallbackTaken",
    "FullJitter",
    "GaveUp",
    "IncompleteStreamError",
    "Kind",
    "LimiterTimeout",
    "ModelLimits",
    "NoJitter",
    "Policy",
    "RateLimitPacer",
    "ResilientAnthropic",
    "ResilientStream",
    "Retry",
    "RetryBudget",
    "RetryScheduled",
    "SdkBackoff",
    "StreamInterrupted",
    "classify_exception",
    "classify_status",
    "no_waits",
    "outcome_of",
    "parse_retry_after",
    "set_testing",
]
