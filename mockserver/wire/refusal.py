"""Refused answers on ``POST /v1/messages``, as the 2.x SDK types them.

Pure functions (no aiohttp, no faults): a refusal's ``stop_details``
(``BetaRefusalStopDetails``), the ``usage.fallback_credit`` outcome of a presented token
(``BetaFallbackCreditUsage``), the whole refused message (JSON) and its SSE events, and the
``fallback`` content block and ``usage.iterations`` of an answer a fallback model served.
Hand-written: the wire shapes are the API's own; no library knows them.
"""

from __future__ import annotations

from typing import Any

from mockserver.wire.sse import SseEvent, event, lead_events, usage


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


def seam(from_model: str, to_model: str, category: str | None) -> dict[str, Any]:
    """The ``fallback`` content block where ``from_model``'s turn (it declined) gives way to
    ``to_model``'s (``BetaFallbackBlock``)."""
    return {
        "type": "fallback",
        "from": {"model": from_model},
        "to": {"model": to_model},
        "trigger": {"type": "refusal", "category": category},
    }


def iteration(kind: str, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """One ``usage.iterations`` entry of a fallback chain: ``message`` for a hop that declined,
    ``fallback_message`` for the one that served (``BetaFallbackMessageIterationUsage``)."""
    entry = usage(input_tokens, output_tokens)
    del entry["service_tier"]
    return {"type": kind, "model": model, **entry}


def refused_message(
    message_id: str,
    model: str,
    input_tokens: int,
    details: dict[str, Any],
    extra: dict[str, Any],
    lead: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON Message of a refusal before any output: ``stop_reason: refusal``, no content but
    the ``fallback`` blocks (``lead``) of a chain whose every model declined or failed."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": lead or [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": details,
        "usage": {**usage(input_tokens, 0), **extra},
    }


def refused_events(
    message_id: str,
    model: str,
    input_tokens: int,
    details: dict[str, Any],
    extra: dict[str, Any],
    lead: list[dict[str, Any]] | None = None,
) -> list[SseEvent]:
    """The SSE events of a refusal before any output: start, ping, (each ``lead`` block's start
    and stop), the refusal's delta, stop. ``usage.iterations`` only in the delta."""
    start = refused_message(message_id, model, input_tokens, details, extra)
    start.update(content=[], stop_reason=None, stop_details=None)
    start["usage"] = {k: v for k, v in {**usage(input_tokens, 1), **extra}.items() if k != "iterations"}
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
        *lead_events(lead or ()),
        SseEvent(event("message_delta", delta), False),
        SseEvent(event("message_stop", {"type": "message_stop"}), False),
    ]
