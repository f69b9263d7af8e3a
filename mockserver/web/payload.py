"""The routes that answer with a payload (models, batches, files, skills, agents, sessions, ...):
judged by the fault engine like Messages, then answered as the decision says.

:func:`payload_route` makes the lifecycle's work from a route's *inner* work, which returns a
JSON-able payload, a whole ``web.Response`` (a file's bytes, a batch's JSONL) or a
:class:`Streamed` answer (SSE events), or raises :class:`~mockserver.wire.errors.ApiError`.
The order is the real API's: a request the engine refuses (an injected 529, a rate limit, the
override header) is refused *before* the work, so it changes nothing (no file is stored, no
session is made); a delay waits, and a connection fault breaks the answer *after* the work, which
is the case a client cannot tell from a refusal and the one that makes retries of non-idempotent
calls dangerous.

Which scenario rules reach these routes is the engine's affair: a rule with no ``match.path``
covers only the routes that run a model (:data:`mockserver.wire.paths.MODEL_ROUTES`), one with a
path pattern reaches any route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mockserver.web.apply import apply, apply_stream, connection_fault, wait
from mockserver.web.lifecycle import BodyLimit, Exchange, Route, lifecycle, note_digest, send
from mockserver.wire.sse import SseEvent

Payload = Callable[[Exchange, bytes], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Streamed:
    """A route's answer as an SSE stream: its events (those marked ``token`` paced by the latency
    model) and the output tokens the whole stream stands for."""

    events: Sequence[SseEvent]
    output_tokens: int = 0


async def _send_response(exchange: Exchange, resp: web.Response) -> web.StreamResponse:
    """A whole response the work made (not JSON), after the decision's delay or connection fault."""
    request, entry = exchange.request, exchange.entry
    body = resp.body
    raw = bytes(body) if isinstance(body, (bytes, bytearray)) else b""
    decision = exchange.judged[2] if exchange.judged is not None else None
    if decision is not None:
        if decision.delay_s > 0:
            entry.fault = "delay"
            if not await wait(request, decision.delay_s):
                entry.client_gone = True
                return web.Response()
        fault = decision.connection_fault
        if fault is not None:
            return await connection_fault(exchange, decision, fault, raw, resp.content_type)
        if decision.headers:
            resp.headers.update(decision.headers)
    entry.status = resp.status
    return await send(request, entry, resp, len(raw))


def payload_route(
    route: str,
    inner: Payload,
    *,
    body_limit: BodyLimit | None = None,
    model: Callable[[Exchange], str | None] | None = None,
    stream: bool = False,
) -> Route:
    """A judged route whose work returns a JSON payload (or a whole response), or raises ApiError.

    ``model``, when given, names the model the request is about (from its URL), so rules that
    match a model reach it. ``stream`` says the route answers an SSE stream (a :class:`Streamed`),
    so rules with stream faults (which match streamed requests only) reach it."""

    async def work(exchange: Exchange, raw: bytes) -> web.StreamResponse:
        entry = exchange.entry
        if body_limit is not None:
            note_digest(entry, raw)
        named = model(exchange) if model is not None else None
        decision = exchange.judge(named, stream, 0, 0)
        if decision.error is not None:  # refused before the work: nothing changes
            return await apply(exchange, decision, None, b"")
        result = await inner(exchange, raw)
        if isinstance(result, web.Response):
            return await _send_response(exchange, result)
        if isinstance(result, Streamed):
            return await apply_stream(exchange, decision, result.events, result.output_tokens)
        body = json.dumps(result, separators=(",", ":")).encode()
        return await apply(exchange, decision, None, body)

    return lifecycle(route, work, body_limit=body_limit)
