"""The legacy Text Completions route, ``POST /v1/complete``: validated, judged by the fault engine
as a model route (its model, whether it streams, its tokens), then answered as JSON or as its own
SSE stream, so the engine's stream faults (a mid-stream error event, a cut, a stall) reach it.

The request's checks, the object and the stream are pure (:mod:`mockserver.wire.complete`).
"""

from __future__ import annotations

from aiohttp import web

from mockserver.web.apply import apply, apply_stream
from mockserver.web.lifecycle import Exchange, Route, lifecycle, note_digest
from mockserver.wire import paths
from mockserver.wire.complete import (
    complete_text,
    completion_json,
    stream_events,
    validate_complete_request,
)
from mockserver.wire.request_text import parse_json


async def _complete(exchange: Exchange, raw: bytes) -> web.StreamResponse:
    state, entry = exchange.state, exchange.entry
    note_digest(entry, raw)
    req = validate_complete_request(parse_json(raw), state.config.catalogue)
    entry.model = req.model
    entry.stream = req.stream
    decision = exchange.judge(req.model, req.stream, req.input_tokens, req.max_tokens)
    if decision.error is not None:  # refused: nothing generated
        return await apply(exchange, decision, None, b"")
    completion = complete_text(req, state.config.seed)
    ident = "compl_" + state.ids.next_suffix()
    if req.stream:
        return await apply_stream(
            exchange, decision, stream_events(ident, req.model, completion), completion.output_tokens
        )
    exchange.output_tokens = completion.output_tokens
    return await apply(exchange, decision, None, completion_json(ident, req.model, completion))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.COMPLETE, lifecycle("complete", _complete, body_limit=lambda c: c.max_body_bytes)),
)
