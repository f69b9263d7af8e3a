"""The Messages answers that are not the plain one: a refusal (the scenario's ``refusal`` fault), a
server-side ``fallbacks`` chain, a retry presenting a ``fallback_credit_token`` (its
``usage.fallback_credit``) and a request whose ``speed`` is echoed on a stream.

:func:`answer` is what ``POST /v1/messages`` hands a request to when its decision refuses or its
body carries one of those fields; everything else keeps the hot path of
:mod:`mockserver.web.messages`. The shapes are :mod:`mockserver.wire.refusal`'s.

A chain (:func:`serve_chain`): when the requested model declines, each hop is judged by the fault
engine as an attempt on its own model (:meth:`Exchange.judge_hop`), so a scenario decides which
model declines (``refusal``), is overloaded or rate limited (an error: the hop fails and the next
one is tried) or serves. A hop that ran and declined leaves a ``fallback`` block; the serving hop's
answer follows them, with ``usage.iterations`` naming every hop that ran (``message``) and the one
that served (``fallback_message``). When no hop serves, the answer is the refusal, whose
``stop_details.recommended_model`` names the last hop when it failed for capacity (429 / 529).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from aiohttp import web

from mockserver.faults import Decision
from mockserver.faults.decision import Refusal
from mockserver.web.apply import apply, apply_stream, message_id
from mockserver.web.lifecycle import Exchange
from mockserver.web.state import MockState, Prepared
from mockserver.wire.errors import invalid
from mockserver.wire.fallbacks import CREDIT_BETA, FAST_MODE_BETA, SERVER_FALLBACK_BETAS, Credit, Hop
from mockserver.wire.generation import generate
from mockserver.wire.refusal import (
    credit_usage,
    iteration,
    refused_events,
    refused_message,
    seam,
    stop_details,
)
from mockserver.wire.sse import message_json, message_json_tail, message_object, stream_events

CREDIT_TTL_S = 300.0  # a credit token expires five minutes after its refusal
CAPACITY_STATUSES = (429, 529)  # a hop failing with these is the refusal's recommended_model
MAX_TOKENS_KEPT = 4096  # minted tokens remembered (oldest forgotten first)


def has_beta(exchange: Exchange, *betas: str) -> bool:
    """Whether the request's ``anthropic-beta`` header(s) name one of ``betas``."""
    for value in exchange.request.headers.getall("anthropic-beta", ()):
        if any(part.strip() in betas for part in value.split(",")):
            return True
    return False


def check_betas_of(exchange: Exchange, prepared: Prepared) -> None:
    """The 400s, when strict, of the fields that need a beta: ``speed`` on a model that takes it only
    with the fast-mode beta, ``fallbacks`` without the server-side-fallback beta."""
    if not exchange.state.config.strict:
        return
    req = prepared.request
    if req.speed is not None and req.entry.fast_mode_beta and not has_beta(exchange, FAST_MODE_BETA):
        raise invalid(f"speed: model {req.entry.id} takes `speed` only with the `{FAST_MODE_BETA}` beta")
    if req.fallbacks is not None and not has_beta(exchange, *SERVER_FALLBACK_BETAS):
        raise invalid(f"fallbacks: the `fallbacks` parameter needs the `{SERVER_FALLBACK_BETAS[0]}` beta")


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
    exchange: Exchange,
    decision: Decision,
    prepared: Prepared,
    refusal: Refusal,
    extra: dict[str, Any],
    lead: list[dict[str, Any]] | None = None,
    recommended: str | None = None,
) -> Awaitable[web.StreamResponse]:
    """A 200 whose model declines before any output, JSON or stream; a credit token is minted
    when the request enables the fallback-credit beta. ``lead``: the fallback blocks of a chain
    whose every hop declined or failed; ``recommended``: the hop to name as recommended_model."""
    req = prepared.request
    entry = exchange.entry
    token = mint_token(exchange.state, req.model) if has_beta(exchange, CREDIT_BETA) else None
    recommended = recommended or refusal.recommended_model
    details = stop_details(refusal.category, refusal.explanation, recommended, token)
    mid = message_id(entry)
    entry.fault = "refusal"
    if req.stream:
        events = refused_events(mid, req.model, req.input_tokens, details, extra, lead)
        return apply_stream(exchange, decision, events)
    body = refused_message(mid, req.model, req.input_tokens, details, extra, lead)
    return apply(exchange, decision, None, json_bytes(body))


def serve_chain(
    exchange: Exchange, decision: Decision, prepared: Prepared, refusal: Refusal, extra: dict[str, Any]
) -> Awaitable[web.StreamResponse]:
    """The requested model declined: its ``fallbacks`` hops, in order, until one serves (see the
    module doc)."""
    req = prepared.request
    hops: tuple[Hop, ...] = req.fallbacks or ()
    ran = [iteration("message", req.model, req.input_tokens, 0)]
    lead: list[dict[str, Any]] = []
    from_model, failed = req.model, None
    for hop in hops:
        hop_decision = exchange.judge_hop(hop.model, req.stream, req.input_tokens, hop.max_tokens, hop.speed)
        if hop_decision.error is not None or hop_decision.connection_fault is not None:
            status = hop_decision.error.status if hop_decision.error is not None else None
            failed = hop.model if status in CAPACITY_STATUSES else None
            continue  # the hop did not run: no block, the next one is tried
        failed = None
        lead.append(seam(from_model, hop.model, refusal.category))
        if hop_decision.refusal is not None:
            ran.append(iteration("message", hop.model, req.input_tokens, 0))
            from_model, refusal, decision = hop.model, hop_decision.refusal, hop_decision
            continue
        return _served(exchange, hop_decision, prepared, hop, lead, ran, extra)
    if hops:  # the chain was tried: its record
        extra = {**extra, "iterations": ran}
    return refuse(exchange, decision, prepared, refusal, extra, lead, failed)


def _served(
    exchange: Exchange,
    decision: Decision,
    prepared: Prepared,
    hop: Hop,
    lead: list[dict[str, Any]],
    ran: list[dict[str, Any]],
    extra: dict[str, Any],
) -> Awaitable[web.StreamResponse]:
    """The answer of the hop that served: its model's completion after the chain's blocks."""
    req = prepared.request
    entry = exchange.state.config.catalogue.get(hop.model)
    assert entry is not None  # resolve_chain named it from the catalogue
    hop_req = replace(req, model=hop.model, entry=entry, max_tokens=hop.max_tokens, speed=hop.speed)
    completion = generate(hop_req, prepared.content_key)
    served = iteration("fallback_message", hop.model, req.input_tokens, completion.output_tokens)
    usage_extra = {k: v for k, v in extra.items() if k != "speed"}
    if hop.speed is not None:
        usage_extra["speed"] = hop.speed
    usage_extra["iterations"] = [*ran, served]
    mid = message_id(exchange.entry)
    if req.stream:
        events = stream_events(mid, hop.model, completion, req.input_tokens, usage_extra, lead)
        return apply_stream(exchange, decision, events, completion.output_tokens)
    body = message_object(mid, hop.model, completion, req.input_tokens, extra_usage=usage_extra, lead=lead)
    hop_prepared = Prepared(hop_req, prepared.prompt_digest, completion, b"", prepared.body_digest)
    return apply(exchange, decision, hop_prepared, json_bytes(body))


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def answer(exchange: Exchange, decision: Decision, prepared: Prepared) -> Awaitable[web.StreamResponse]:
    """The answer to a Messages request that refuses or carries speed / credit / fallbacks."""
    req = prepared.request
    extra = extra_usage(exchange, prepared)
    if decision.refusal is not None and decision.error is None and decision.connection_fault is None:
        if req.fallbacks:
            return serve_chain(exchange, decision, prepared, decision.refusal, extra)
        return refuse(exchange, decision, prepared, decision.refusal, extra)
    mid = message_id(exchange.entry)
    if req.stream:
        events = stream_events(mid, req.model, prepared.completion, req.input_tokens, extra)
        return apply_stream(exchange, decision, events, prepared.completion.output_tokens)
    tail = message_json_tail(req.model, prepared.completion, req.input_tokens, extra)
    return apply(exchange, decision, prepared, message_json(mid, tail))
