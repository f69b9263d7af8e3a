"""The bundled resilience policy: ``resilience.ResilientAnthropic`` with ``Policy.default()``.

Full-jitter backoff with Retry-After honoured, a retry budget, a breaker per model, a
fallback chain (primary → fallback model) that moves on only after overload or server errors,
the SDK's own retries switched off underneath, and a stream's preamble held back so that an
overload before the first token is retried.
"""

from __future__ import annotations

from typing import Any

from mockserver.clients.base import FALLBACK_MODEL, PRIMARY_MODEL, ClientUnderTest
from mockserver.clients.connection import Target, connection


def bundled_policy(
    target: Target,
    *,
    policy: Any | None = None,
    models: tuple[str, ...] = (PRIMARY_MODEL, FALLBACK_MODEL),
    log_events: bool = False,
    static_limit: bool = False,
    name: str | None = None,
) -> ClientUnderTest:
    """``policy`` defaults to ``Policy.default(fallback=models)``; its per-retry log lines are off
    unless ``log_events`` (the kit reads the server's journal, not the client's logs), and with
    ``static_limit`` its concurrency limit does not adapt. ``name`` defaults to the catalogue's
    (``bundled-adaptive``, or ``bundled`` with a static limit)."""
    from resilience import Policy, ResilientAnthropic

    if policy is None:
        policy = Policy.default(fallback=list(models))
        policy.log_events = log_events
    if static_limit and policy.limit is not None:
        policy.limit.adaptive = None
    client = ResilientAnthropic(connection(target).sdk(max_retries=0), policy=policy)

    def create(**params: Any) -> Any:
        return client.messages.create(**params)

    def stream(**params: Any) -> Any:
        last = None
        for event in client.messages.create(stream=True, **params):
            last = event
        return last

    chain = tuple(policy.fallback.models) if policy.fallback is not None else models[:1]
    return ClientUnderTest(
        name=name or ("bundled" if static_limit else "bundled-adaptive"),
        create=create,
        stream=stream,
        models=chain,
        claimed_max_attempts=policy.retry.max_attempts,
        close=client.close,
    )


def bundled_adaptive(target: Target) -> ClientUnderTest:
    """``Policy.default()`` as shipped: its concurrency limit adapts (AIMD)."""
    return bundled_policy(target)


def bundled_static(target: Target) -> ClientUnderTest:
    """``Policy.default()`` with a static concurrency limit: adaptive throttling switched off."""
    return bundled_policy(target, static_limit=True)
