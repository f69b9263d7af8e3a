"""Refused answers on ``POST /v1/messages``, as the 2.x SDK types them.

Pure functions (no aiohttp, no faults): a refusal's ``stop_details``
(``BetaRefusalStopDetails``), the ``usage.fallback_credit`` outcome of a presented token
(``BetaFallbackCreditUsage``), the whole refused message (JSON) and its SSE events, and the
``fallback`` content block and ``usage.iterations`` of an answer a fallback model served.
Hand-written: the wire shapes are the API's own; no library knows them.
"""

from __future__ import annotations

from typing import Any

from mockserver.wire.sse import SseEvent, event, usage


def stop_details(
    category: str | None,
    explanation: str | None,
    recommended_model: str | None,
    token: str | None,
) -> dict[str, Any]:
    """A refusal's ``stop_details``; the credit fields only when a token was minted."""
    details: dict[str, Any] = {
        "type": "refusal",
        "category": category,
        "explanation": explanation,
        "recommended_model": recommended_model,
    }
    if token is not None:
        details["fallback_credit_token"] = token
        details["fallback_has_prefill_claim"] = False  # a refusal before any output: same body
    return details


def credit_usage(redeemed: bool, reason: str = "expired") -> dict[str, Any]:
    """``usage.fallback_credit``: the outcome of the token a request presented."""
    status: dict[str, Any] = {"type": "redeemed"} if redeemed else {"type": "not_applied", "reason": reason}
    return {"status": status}


def with_usage(usage_of: dict[str, Any], speed: str | None, credit: dict[str, Any] | None) -> dict[str, Any]:
    """``usage`` with the request's ``speed`` echoed and the token's outcome, when there are."""
    if speed is not None:
        usage_of["speed"] = speed
    if credit is not None:
        usage_of["fallback_credit"] = credit
    return usage_of


def refused_message(
    message_id: str, model: str, input_tokens: int, details: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The JSON Message of a refusal before any output: no content, ``stop_reason: refusal``."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": details,
        "usage": {**usage(input_tokens, 0), **extra},
    }


def refused_events(
    message_id: str, model: str, input_tokens: int, details: dict[str, Any], extra: dict[str, Any]
) -> list[SseEvent]:
    """The SSE events of a refusal before any output: start, ping, the refusal's delta, stop."""
    start = refused_message(message_id, model, input_tokens, details, extra)
    start.update(content=[], stop_reason=None, stop_details=None)
    start["usage"] = {**usage(input_tokens, 1), **extra}
    delta_usage = usage(input_tokens, 0)
    del delta_usage["cache_creation"], delta_usage["service_tier"]
    delta_usage.update(extra)
    delta_usage.pop("speed", None)  # the delta's usage (BetaMessageDeltaUsage) has no speed
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "refusal", "stop_sequence": None, "stop_details": details},
        "usage": delta_usage,
    }
    return [
        SseEvent(event("message_start", {"type": "message_start", "message": start}), False),
        SseEvent(event("ping", {"type": "ping"}), False),
        SseEvent(event("message_delta", delta), False),
        SseEvent(event("message_stop", {"type": "message_stop"}), False),
    ]
