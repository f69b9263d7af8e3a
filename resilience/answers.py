"""How the SDK wrappers' answers carry their outcome, and the response cache around a create.

A message or stream returned by a resilient client carries the
:class:`~resilience.policy.CallOutcome` of its call (read it with :func:`outcome_of`). The
cache is the outermost layer of a non-streaming ``create``: :func:`cache_key`, then the
backend's answer turned into the call's answer (:func:`cache_hit`), and on a miss the
message stored when it may be cached (:func:`answered`, :func:`answered_async`). The async
path awaits a backend that can be awaited (Redis, over ``redis.asyncio``), so a hung cache
never holds the event loop (:func:`resilience.cache.get_async`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from anthropic.types import Message

from resilience.cache import ResponseCache, request_key, store_if_cacheable, store_if_cacheable_async
from resilience.instrumentation.events import CallFinished
from resilience.policy import CallOutcome, Policy

__all__ = ["answered", "answered_async", "attach_outcome", "cache_hit", "cache_key", "outcome_of"]

log = logging.getLogger("busysignal.resilience")

_OUTCOME_ATTR = "_busysignal_outcome"


def outcome_of(obj: object) -> CallOutcome | None:
    """The :class:`CallOutcome` of a message or stream returned by a resilient client (which
    model answered, attempts, models tried, whether the cache answered); None for anything
    else."""
    outcome = getattr(obj, _OUTCOME_ATTR, None)
    if outcome is None:
        raw = getattr(obj, "_raw_stream", None)  # a MessageStream from messages.stream()
        outcome = getattr(raw, _OUTCOME_ATTR, None)
    return outcome if isinstance(outcome, CallOutcome) else None


def attach_outcome(obj: object, outcome: CallOutcome) -> None:
    object.__setattr__(obj, _OUTCOME_ATTR, outcome)


def cache_key(cache: ResponseCache | None, params: Mapping[str, Any]) -> str | None:
    """The cache key of a non-streaming create; None when the cache is off or the request
    cannot be keyed (a parameter that is not JSON data: then it is not cached)."""
    try:
        return None if cache is None else request_key(params)
    except (TypeError, ValueError) as exc:
        log.debug("busysignal.cache_skipped reason=%s", exc)
        return None


def cache_hit(policy: Policy, hit: dict[str, Any] | None, model: str) -> Message | None:
    """What the cache held as the call's answer (counted and reported); None on a miss."""
    if hit is None:
        return None
    message = Message.model_validate(hit)
    outcome = CallOutcome(model, message.model or model, 0, (), 0.0, cached=True)
    attach_outcome(message, outcome)
    policy.counters.add("cache_hits")
    policy.emit(CallFinished(model, outcome.model, True, 0, 0.0, cached=True))
    return message


def _storable(cache: ResponseCache | None, key: str | None, outcome: CallOutcome) -> ResponseCache | None:
    # complete, and from the model asked: never a fallback's answer (it would keep serving the
    # degraded model after the primary recovered)
    return cache if cache is not None and key is not None and not outcome.fell_back else None


def answered(
    policy: Policy, cache: ResponseCache | None, key: str | None, message: Message, outcome: CallOutcome
) -> Message:
    """Attach how ``message`` was answered; store it when it may be cached."""
    attach_outcome(message, outcome)
    if (store := _storable(cache, key, outcome)) is not None and key is not None:
        store_if_cacheable(store, key, message.to_dict(), policy.cache_ttl_s)
    return message


async def answered_async(
    policy: Policy, cache: ResponseCache | None, key: str | None, message: Message, outcome: CallOutcome
) -> Message:
    """:func:`answered` for the async client: the store is awaited when the backend can be."""
    attach_outcome(message, outcome)
    if (store := _storable(cache, key, outcome)) is not None and key is not None:
        await store_if_cacheable_async(store, key, message.to_dict(), policy.cache_ttl_s)
    return message
