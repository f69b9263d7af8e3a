"""The Messages answers that are not the plain one: a refusal (the scenario's ``refusal`` fault), a
retry presenting a ``fallback_credit_token`` (its ``usage.fallback_credit``) and a request whose
``speed`` is echoed on a stream.

:func:`answer` is what ``POST /v1/messages`` hands a request to when its decision refuses or its
body carries one of those fields; everything else keeps the hot path of
:mod:`mockserver.web.messages`. The shapes are :mod:`mockserver.wire.refusal`'s.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from mockserver.faults import Decision
from mockserver.faults.decision import Refusal
from mockserver.web.apply import apply, apply_stream, message_id
from mockserver.web.lifecycle import Exchange
from mockserver.web.state import MockState, Prepared
from mockserver.wire.errors import invalid
from mockserver.wire.fallbacks import CREDIT_BETA, Credit
from mockserver.wire.refusal import credit_usage, refused_events, refused_message, stop_details
from mockserver.wire.sse import message_json, message_json_tail, stream_events

CREDIT_TTL_S = 300.0  # a credit token expires five minutes after its refusal
MAX_TOKENS_KEPT = 4096  # minted tokens remembered (oldest forgotten first)


def has_beta(exchange: Exchange, beta: str) -> bool:
    """Whether the request's ``anthropic-beta`` header(s) name ``beta``."""
    for value in exchange.request.headers.getall("anthropic-beta", ()):
        if beta in (part.strip() for part in value.split(",")):
            return True
    return False


def mint_token(state: MockState, model: str) -> str:
    """A fresh opaque credit token for a refusal by ``model``, remembered for its redemption."""
    token = "fct_" + state.ids.next_suffix()
    state.credit_tokens[token] = (model, state.config.wall_clock())
    while len(state.credit_tokens) > MAX_TOKENS_KEPT:
        state.credit_tokens.popitem(last=False)
    return token


def redeem(state: MockState, credit: Credit, model: str) -> dict[str, Any]:
    """``usage.fallback_credit`` of a request presenting ``credit`` to ``model``; a strict token
    that cannot be redeemed is the API's 400."""
    minted = state.credit_tokens.get(credit.token)
    reason = None
    if minted is None or state.config.wall_clock() - minted[1] > CREDIT_TTL_S:
        reason = "expired"
    elif minted[0] == model:
        reason = "invalid_target_model"
    if reason is None:
        return credit_usage(True)
    if credit.mode == "strict":
        raise invalid(f"fallback_credit_token: the token cannot be redeemed ({reason})")
    return credit_usage(False, reason)


def extra_usage(exchange: Exchange, prepared: Prepared) -> dict[str, Any]:
    """The fields the answer's ``usage`` carries besides the counts: speed, fallback_credit."""
    req = prepared.request
    extra: dict[str, Any] = {}
    if req.speed is not None:
        extra["speed"] = req.speed
    if req.credit is not None:
        extra["fallback_credit"] = redeem(exchange.state, req.credit, req.model)
    return extra


def refuse(
    exchange: Exchange, decision: Decision, prepared: Prepared, refusal: Refusal, extra: dict[str, Any]
) -> Awaitable[web.StreamResponse]:
    """A 200 whose model declines before any output, JSON or stream; a credit token is minted
    when the request enables the fallback-credit beta."""
    req = prepared.request
    entry = exchange.entry
    token = mint_token(exchange.state, req.model) if has_beta(exchange, CREDIT_BETA) else None
    details = stop_details(refusal.category, refusal.explanation, refusal.recommended_model, token)
    mid = message_id(entry)
    entry.fault = "refusal"
    if req.stream:
        return apply_stream(
            exchange, decision, refused_events(mid, req.model, req.input_tokens, details, extra)
        )
    body = refused_message(mid, req.model, req.input_tokens, details, extra)
    return apply(exchange, decision, None, json_bytes(body))


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def answer(exchange: Exchange, decision: Decision, prepared: Prepared) -> Awaitable[web.StreamResponse]:
    """The answer to a Messages request that refuses or carries speed / credit / fallbacks."""
    req = prepared.request
    extra = extra_usage(exchange, prepared)
    if decision.refusal is not None and decision.error is None and decision.connection_fault is None:
        return refuse(exchange, decision, prepared, decision.refusal, extra)
    mid = message_id(exchange.entry)
    if req.stream:
        events = stream_events(mid, req.model, prepared.completion, req.input_tokens, extra)
        return apply_stream(exchange, decision, events, prepared.completion.output_tokens)
    tail = message_json_tail(req.model, prepared.completion, req.input_tokens, extra)
    return apply(exchange, decision, prepared, message_json(mid, tail))
