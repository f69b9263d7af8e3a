"""The Message Batches routes: create, list, get, cancel, delete, results.

The batch objects and their life (:mod:`mockserver.wire.batches`) are pure; here each item of a
batch is judged by the fault engine as it is processed (``_process_item``), and the routes go
through the one lifecycle as payload routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from mockserver.faults import RequestFacts
from mockserver.journal import body_digest
from mockserver.web.lifecycle import Exchange
from mockserver.web.payload import payload_route
from mockserver.web.state import MockState, is_loopback
from mockserver.wire import paths
from mockserver.wire.batches import Batch, BatchItem, parse_create_body
from mockserver.wire.errors import ApiError, error_object, invalid
from mockserver.wire.generation import content_key, generate
from mockserver.wire.paging import page
from mockserver.wire.request_text import parse_json
from mockserver.wire.sse import message_object
from mockserver.wire.validation import MessageRequest, validate_messages_request

Processor = Callable[[Batch, BatchItem, float], dict[str, Any]]


def _results_url(request: web.Request, state: MockState, batch: Batch) -> str:
    base = state.config.public_url or f"{request.scheme}://{request.host}"
    return base.rstrip("/") + paths.batch_results_path(batch.id)


def _errored(error_type: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"type": "errored", "error": error_object(error_type, message, code)}


def _validated(state: MockState, params: dict[str, Any]) -> MessageRequest | dict[str, Any]:
    """The item's request, or its ``errored`` result."""
    try:
        if params.get("stream") is True:
            raise invalid("stream: Message Batches do not support streaming")
        return validate_messages_request(
            params, state.config.catalogue, allow_zero_max_tokens=False, strict=state.config.strict
        )
    except RecursionError:
        return _errored("invalid_request_error", "params: nested too deeply")
    except ApiError as err:
        return _errored(err.error_type, err.message, err.code)


def _process_item(state: MockState, request_headers: Mapping[str, str]) -> Processor:
    def process(batch: Batch, item: BatchItem, now: float) -> dict[str, Any]:
        req = _validated(state, item.params)
        if not isinstance(req, MessageRequest):
            return req
        raw = json.dumps(item.params, sort_keys=True, separators=(",", ":")).encode()
        facts = RequestFacts(
            index=state.next_index(),
            method="POST",
            path=paths.BATCHES,
            model=req.model,
            stream=False,
            api_key_id=batch.api_key_id,
            body_digest=body_digest(raw),
            headers=dict(request_headers),
            input_tokens=req.input_tokens,
            max_tokens=req.max_tokens,
            retry_count=None,
            loopback=batch.loopback,  # the create call's peer: the override header is gated by it
        )
        engine = state.engine
        decision = engine.decide(facts, now)
        error = decision.error
        if error is not None:
            engine.complete(facts, decision, now, status=error.status, output_tokens=0, client_gone=False)
            return _errored(error.error_type, error.message)
        completion = generate(req, content_key(item.params, state.config.seed))
        engine.complete(
            facts, decision, now, status=200, output_tokens=completion.output_tokens, client_gone=False
        )
        ident = "msg_" + state.ids.next_suffix()
        return {
            "type": "succeeded",
            "message": message_object(ident, req.model, completion, req.input_tokens, "batch"),
        }

    return process


def _advance(state: MockState, batch: Batch) -> Batch:
    return state.batches.advance(batch, state.clock(), _process_item(state, batch.headers))


def _batch(exchange: Exchange) -> Batch:
    """The batch the URL names, brought up to date (404 when unknown)."""
    state = exchange.state
    return _advance(state, state.batches.get(exchange.request.match_info["batch_id"]))


def _batch_dict(exchange: Exchange, batch: Batch) -> dict[str, Any]:
    return batch.to_dict(_results_url(exchange.request, exchange.state, batch))


async def _create(exchange: Exchange, raw: bytes) -> Any:
    request, state = exchange.request, exchange.state
    batch = state.batches.create(
        "msgbatch_" + state.ids.next_suffix(),
        parse_create_body(parse_json(raw)),
        state.clock(),
        state.config.wall_clock(),
        headers={k.lower(): v for k, v in request.headers.items()},
        api_key_id=exchange.entry.api_key_id,
        loopback=is_loopback(request.remote),
    )
    _advance(state, batch)
    return _batch_dict(exchange, batch)


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return _batch_dict(exchange, _batch(exchange))


async def _list(exchange: Exchange, raw: bytes) -> Any:
    state = exchange.state
    items = [_batch_dict(exchange, _advance(state, b)) for b in state.batches.listing()]
    return page(items, lambda b: str(b["id"]), exchange.request.query)


async def _cancel(exchange: Exchange, raw: bytes) -> Any:
    batch = _batch(exchange)
    exchange.state.batches.cancel(batch, exchange.state.clock())
    return _batch_dict(exchange, batch)


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    batch = _batch(exchange)
    exchange.state.batches.delete(batch)
    return {"id": batch.id, "type": "message_batch_deleted"}


async def _results(exchange: Exchange, raw: bytes) -> Any:
    batch = _batch(exchange)
    lines = exchange.state.batches.results_lines(batch)
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    headers = exchange.state.response_headers(exchange.entry, {"content-type": "application/x-jsonl"})
    return web.Response(status=200, body=body, headers=headers)


handle_batch_create = payload_route("batches", _create, body_limit=lambda c: c.max_batch_body_bytes)
handle_batch_get = payload_route("batches", _get)
handle_batch_list = payload_route("batches", _list)
handle_batch_cancel = payload_route("batches", _cancel)
handle_batch_delete = payload_route("batches", _delete)
handle_batch_results = payload_route("batches", _results)
