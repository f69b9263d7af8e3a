"""The Messages routes: ``POST /v1/messages`` (the route every client hits hardest) and
``POST /v1/messages/count_tokens``. Both are work for the one lifecycle
(:mod:`mockserver.web.lifecycle`), judged by the fault engine and answered by
:func:`~mockserver.web.apply.apply`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable

from aiohttp import web

from mockserver.journal import JournalEntry
from mockserver.web.apply import apply, message_id
from mockserver.web.fallbacks import answer, check_betas_of
from mockserver.web.files import check_message_files
from mockserver.web.lifecycle import Exchange, lifecycle, note_digest
from mockserver.wire import paths
from mockserver.wire.errors import ApiError, invalid
from mockserver.wire.files import check_file_ids
from mockserver.wire.generation import prompt_digest_of
from mockserver.wire.request_text import parse_json
from mockserver.wire.sse import message_json
from mockserver.wire.validation import validate_count_tokens_request


def _note_body(entry: JournalEntry, raw: bytes) -> None:
    """Journal what can be read from a body that failed validation."""
    if raw[:1] != b"{":
        return
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return
    if isinstance(body, dict):
        model = body.get("model")
        entry.model = model if isinstance(model, str) else None
        entry.stream = body.get("stream") is True
        try:
            entry.prompt_digest = prompt_digest_of(body)
        except (TypeError, ValueError, RecursionError):
            entry.prompt_digest = ""


def _messages(exchange: Exchange, raw: bytes) -> Awaitable[web.StreamResponse]:
    entry = exchange.entry
    try:
        prepared = exchange.state.prepare_messages(raw)
    except ApiError:  # what can be read of a refused body is journalled too
        note_digest(entry, raw)
        _note_body(entry, raw)
        raise
    req = prepared.request
    entry.body_digest = prepared.body_digest
    key_id = entry.api_key_id
    entry.logical_id = prepared.logical_ids.get(key_id) or prepared.logical_id(key_id)
    entry.model = req.model
    entry.stream = req.stream
    entry.prompt_digest = prepared.prompt_digest
    if b'"file_id"' in raw:  # a block names an uploaded file: it must be one this server keeps
        check_message_files(exchange, raw)
    if req.speed is not None or req.fallbacks is not None:  # the fields that need a beta
        check_betas_of(exchange, prepared)
    decision = exchange.judge(req.model, req.stream, req.input_tokens, req.max_tokens, req.speed)
    if decision.refusal is not None or req.credit is not None or req.fallbacks is not None:
        return answer(exchange, decision, prepared)  # (not the hot path: a refusal, a credit, a chain)
    # the body is made now, cheaper than a closure to make it later (a stream or a refusal
    # does not send it)
    return apply(exchange, decision, prepared, message_json(message_id(entry), prepared.json_tail))


async def _count_tokens(exchange: Exchange, raw: bytes) -> web.StreamResponse:
    entry = exchange.entry
    note_digest(entry, raw)
    body = parse_json(raw)
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        entry.model = body["model"]
    try:
        req = validate_count_tokens_request(body, exchange.state.config.catalogue)
        entry.prompt_digest = prompt_digest_of(body)
    except RecursionError:
        raise invalid("The request body is nested too deeply") from None
    if b'"file_id"' in raw and isinstance(body, dict):
        check_file_ids(exchange.state.resources, body)
    decision = exchange.judge(req.model, False, req.input_tokens, 0)
    payload = json.dumps({"input_tokens": req.input_tokens}).encode()
    return await apply(exchange, decision, None, payload)


# only this route's requests reach it: their method is POST and their path (the decoded path the
# router matched exactly) is /v1/messages, so the journal takes both as they are
handle_messages = lifecycle(
    "messages", _messages, body_limit=lambda c: c.max_body_bytes, method="POST", path=paths.MESSAGES
)
handle_count_tokens = lifecycle("count_tokens", _count_tokens, body_limit=lambda c: c.max_body_bytes)
