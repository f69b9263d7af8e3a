"""The runner's edge to the SDK: one attempt at one request, as an :class:`AttemptOutcome`.

:class:`SdkAttempter` makes that attempt through an async Anthropic-shaped client;
:func:`outcome_from_exception` reads an SDK failure as an outcome (``--via batches`` and
``--via celery`` use it too); :func:`resilient_client` is the library's resilient wrapper as the
runner wants it: one attempt per call, because the runner requeues instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import anthropic

from resilience import (
    AsyncResilientAnthropic,
    CircuitBreakers,
    CircuitOpenError,
    EventHook,
    Policy,
    RateLimitPacer,
    ResponseCache,
    Retry,
    outcome_of,
    parse_retry_after,
)
from resilience.runner.core import AttemptOutcome

__all__ = [
    "Attempter",
    "SdkAttempter",
    "message_dict",
    "message_outcome",
    "outcome_from_exception",
    "resilient_client",
    "retry_count",
]


class Attempter(Protocol):
    """One attempt at one request: never retries, never raises for an API failure."""

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome: ...


def _lower_headers(headers: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in headers.items()}
    except AttributeError:
        return {}


def outcome_from_exception(exc: BaseException, now_epoch: float) -> AttemptOutcome:
    """An SDK exception as an :class:`AttemptOutcome` (status None when no response came)."""
    if isinstance(exc, CircuitOpenError):
        # the resilience policy's breaker refused locally: nothing was sent
        return AttemptOutcome(
            status=None,
            error_type="circuit_open",
            error_message=str(exc),
            retry_after_s=float(exc.retry_in_s),
            sent=False,
        )
    if isinstance(exc, anthropic.APIStatusError):
        headers = _lower_headers(exc.response.headers)
        error_type = getattr(exc, "type", None)
        message = getattr(exc, "api_message", None) or str(exc)
        body = exc.body
        if error_type is None and isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict) and isinstance(err.get("type"), str):
                error_type = err["type"]
        should = headers.get("x-should-retry")
        return AttemptOutcome(
            status=exc.status_code,
            error_type=error_type,
            error_message=str(message),
            retry_after_s=parse_retry_after(headers, now_wall=now_epoch),
            should_retry=True if should == "true" else False if should == "false" else None,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return AttemptOutcome(status=None, error_type="timeout", error_message=str(exc))
    if isinstance(exc, anthropic.APIConnectionError):
        return AttemptOutcome(status=None, error_type="connection_error", error_message=str(exc))
    if isinstance(exc, anthropic.APIError):  # e.g. a 200 whose body is not a message
        return AttemptOutcome(status=None, error_type="api_error", error_message=str(exc))
    # anything else is a bug or a bad request we built: do not retry it
    return AttemptOutcome(
        status=None, error_type=type(exc).__name__, error_message=str(exc), should_retry=False
    )


def message_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        result = to_dict(mode="json")
        if isinstance(result, dict):
            return result
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        result = dump(mode="json")
        if isinstance(result, dict):
            return result
    raise TypeError(f"cannot turn a {type(message).__name__} into a message dict")


def retry_count(attempt: int) -> dict[str, str]:
    """The header that tells the server's journal which try of a document a request is."""
    return {"x-stainless-retry-count": str(attempt - 1)}


def message_outcome(message: Any) -> AttemptOutcome:
    """A message the client returned as an outcome; the resilience wrapper attaches how the call
    went, and a cache hit sent nothing."""
    call = outcome_of(message)
    cached = call is not None and call.cached
    return AttemptOutcome(status=200, message=message_dict(message), sent=not cached)


class SdkAttempter:
    """Attempts through an async Anthropic-shaped client (``client.messages.create``), e.g.
    ``anthropic.AsyncAnthropic(max_retries=0)`` or the resilience wrapper configured not to
    retry overloads itself. The attempt number goes out as ``x-stainless-retry-count`` so the
    server's journal shows which try of a document each request was."""

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome:
        try:
            message = await self._client.messages.create(**params, extra_headers=retry_count(attempt))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return outcome_from_exception(exc, self._clock())
        return message_outcome(message)


def resilient_client(
    sdk_client: Any,
    *,
    breaker: bool = False,
    breaker_open_s: float = 15.0,
    pace: bool = True,
    fallback: Sequence[str] | None = None,
    cache: ResponseCache | None = None,
    cache_ttl_s: float | None = None,
    on_event: Sequence[EventHook] = (),
) -> AsyncResilientAnthropic:
    """The resilient wrapper as the runner wants it: ONE attempt per call (the runner requeues
    instead of sleeping in a worker), the rate-limit pacer (``pace``: requests are spaced out
    when the ``anthropic-ratelimit-*`` headers say a bucket is running low, before it runs out),
    the optional per-model breaker, fallback chain and response cache of the resilience
    policy, and its events for metrics. ``cache_ttl_s`` None: the policy's own default."""
    ttl: dict[str, Any] = {} if cache_ttl_s is None else {"cache_ttl_s": cache_ttl_s}
    policy = Policy(
        retry=Retry(max_attempts=1),
        breakers=CircuitBreakers(open_s=breaker_open_s) if breaker else None,
        pacer=RateLimitPacer(reserve=0.1, max_delay_s=10.0) if pace else None,
        fallback=list(fallback) if fallback else None,
        cache=cache,
        on_event=list(on_event) or None,
        log_events=False,
        **ttl,
    )
    return AsyncResilientAnthropic(sdk_client, policy=policy)
