"""The control plane: ``/_busysignal/`` (health, journal, stats, reset, scenario) and ``/metrics``.

Control requests are not journalled and pass no API auth; :func:`control` guards each one
instead: without a control token the Host must be the server's own (DNS rebinding), with one
the request must carry it (constant-time check). Refusals are Anthropic-shaped error bodies.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from mockserver.control_token import token_matches
from mockserver.faults import ScenarioError
from mockserver.journal import JournalFilter
from mockserver.journal import export as journal_export
from mockserver.web import control_guard, protocol_errors
from mockserver.web.control_head import JOURNAL_FORMATS
from mockserver.web.lifecycle import Handler
from mockserver.web.scenario_status import scenario_name, scenario_status
from mockserver.web.state import STATE, MockState, bearer_token
from mockserver.wire.errors import ApiError, error_body, invalid
from mockserver.wire.response_headers import JSON_TYPE

ControlWork = Callable[[web.Request, MockState], Awaitable[web.StreamResponse]]


def _refusal(request: web.Request, state: MockState) -> web.Response | None:
    token = state.config.control_token
    if token is None:  # nothing proves who asks: Host must be ours (rebinding)
        refused = control_guard.host_refusal(request, state.config.public_url, state.bind_host)
        if refused is not None:
            return _control_error(refused)
        return None
    given = request.headers.get("x-busysignal-token")
    if given is None:
        given = bearer_token(request.headers)
    if not token_matches(given, token):  # constant time
        return _control_error(
            ApiError(401, "authentication_error", "control plane: x-busysignal-token is required")
        )
    return None


def control(inner: ControlWork) -> Handler:
    """The handler of a control route: the guard, then ``inner`` (its ApiError: an error body)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        refused = _refusal(request, state)
        if refused is not None:
            return refused
        try:
            return await inner(request, state)
        except ApiError as err:
            return _control_error(err)

    return handler


def _control_error(err: ApiError) -> web.Response:
    body = error_body(err.error_type, err.message, None, err.code)
    return web.Response(status=err.status, body=body, content_type=JSON_TYPE)


def _control_json(payload: Any) -> web.Response:
    return web.Response(body=json.dumps(payload, default=str).encode(), content_type=JSON_TYPE)


def journal_filter(query: Mapping[str, str]) -> JournalFilter:
    """The journal filter a control query names (400 for a bad integer)."""

    def as_int(name: str) -> int | None:
        value = query.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid(f"{name}: expected an integer, got {value!r}") from None

    return JournalFilter(
        since_seq=as_int("since_seq"),
        path=query.get("path") or None,
        model=query.get("model") or None,
        status=as_int("status"),
        api_key_id=query.get("api_key_id"),
        logical_id=query.get("logical_id") or None,
        limit=as_int("limit"),
    )


async def control_health(request: web.Request, state: MockState) -> web.StreamResponse:
    return _control_json(
        {
            "status": "ok",
            "in_flight": state.in_flight,
            "journal_entries": len(state.journal),
            "journal_size": state.journal.size,
            "next_seq": state.journal.next_seq,
            "scenario": scenario_name(state.engine, state.scenario),
        }
    )


async def control_journal(request: web.Request, state: MockState) -> web.StreamResponse:
    flt = journal_filter(request.query)
    fmt = request.query.get("format", "json")
    if fmt not in JOURNAL_FORMATS:
        raise invalid(f"format: expected 'json' or 'jsonl', got {fmt!r}")
    return await journal_export.stream_journal(request, state.journal, flt, fmt)


async def control_journal_clear(request: web.Request, state: MockState) -> web.StreamResponse:
    n = len(state.journal)
    state.journal.clear()
    return _control_json({"cleared": n})


async def control_stats(request: web.Request, state: MockState) -> web.StreamResponse:
    return _control_json({**state.stats.to_dict(state.in_flight), **protocol_errors.refused_stats()})


async def control_reset(request: web.Request, state: MockState) -> web.StreamResponse:
    state.reset()
    return _control_json({"status": "reset"})


async def control_scenario_get(request: web.Request, state: MockState) -> web.StreamResponse:
    seed, index, now = state.scenario_seed, state.index, state.clock()
    return _control_json(scenario_status(state.engine, state.scenario, seed=seed, index=index, now=now))


async def control_scenario_put(request: web.Request, state: MockState) -> web.StreamResponse:
    text = control_guard.decode_body(
        await control_guard.read_capped(request, control_guard.SCENARIO_BODY_LIMIT)
    )
    raw_seed = request.query.get("seed")
    try:
        seed = state.config.seed if raw_seed is None else int(raw_seed)
    except ValueError:
        raise invalid(f"seed: expected an integer, got {raw_seed!r}") from None
    load = functools.partial(control_guard.scenario_from_body, text, seed)
    try:  # parsed, validated and compiled in a worker thread: the loop keeps serving meanwhile
        spec, engine = await asyncio.get_running_loop().run_in_executor(None, load)
    except ScenarioError as exc:
        raise invalid(f"scenario: {exc}") from None
    state.set_engine(engine, spec, seed=seed)
    return _control_json({"status": "ok", "name": scenario_name(engine, spec)})


async def control_metrics(request: web.Request, state: MockState) -> web.StreamResponse:
    text = state.metrics.render(
        in_flight=state.in_flight, journal_len=len(state.journal), journal_size=state.journal.size
    )
    text += protocol_errors.refused_metrics()
    return web.Response(
        text=text, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )
