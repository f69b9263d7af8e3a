"""Applying a fault Decision to a request: an error, a delay, a connection fault, a stream fault.

:func:`apply` is what every judged route ends with: it waits what the decision or the latency
model says, answers the decision's HTTP error, breaks the connection as the decision's
connection fault says, or sends the answer (``payload``, or the Messages stream with its
stream fault); :func:`apply_stream` does the same for any route whose answer is an SSE stream
(the legacy completions, a session's events). Long waits look for a client that went away
every :data:`POLL_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Sequence

from aiohttp import web

from mockserver.faults import ConnectionFault, Decision, StreamFault
from mockserver.journal import JournalEntry
from mockserver.web.lifecycle import Exchange, send, send_error, send_json
from mockserver.web.state import Prepared
from mockserver.wire.response_headers import JSON_TYPE
from mockserver.wire.sse import SseEvent, error_event, stream_events

SSE_TYPE = "text/event-stream; charset=utf-8"
POLL_S = 0.05  # how often long waits look for a client that went away
GARBAGE = b"<html><head><title>502 Bad Gateway</title></head><body>upstream connect error</body></html>\n"


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def wait(request: web.BaseRequest, seconds: float) -> bool:
    """Sleep ``seconds`` (real time); False as soon as the client has gone away."""
    if seconds <= 0:
        return not client_gone(request)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        if client_gone(request):
            return False
        remaining = end - loop.time()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, POLL_S))


def abort(request: web.BaseRequest, *, rst: bool) -> None:
    """Drop the connection: a TCP reset (``rst``) or a plain close."""
    transport = request.transport
    if transport is None:
        return
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


def message_id(entry: JournalEntry) -> str:
    """A message's id shares the suffix of its request's id."""
    return "msg_" + entry.request_id[4:]


def events_of(entry: JournalEntry, prepared: Prepared) -> list[SseEvent]:
    """The SSE events of a prepared Messages answer."""
    req = prepared.request
    extra = None if req.speed is None else {"speed": req.speed}
    return stream_events(message_id(entry), req.model, prepared.completion, req.input_tokens, extra)


def apply(
    exchange: Exchange, decision: Decision, prepared: Prepared | None, payload: bytes
) -> Awaitable[web.StreamResponse]:
    """Answer a judged request as ``decision`` says (``payload``: the whole JSON answer;
    ``prepared``: a Messages body's answer, which a stream is made of); to await. An answer with
    nothing to wait for and nothing to break is sent at once (no coroutine of its own: the route
    every client hits hardest mostly answers so)."""
    if (
        decision.delay_s <= 0
        and decision.error is None
        and decision.connection_fault is None
        and (prepared is None or not prepared.request.stream)
    ):
        if prepared is None:
            return send_json(exchange, payload, decision.headers)
        tokens = prepared.completion.output_tokens
        if exchange.state.generation_wait(decision, tokens) <= 0:
            exchange.output_tokens = tokens
            return send_json(exchange, payload, decision.headers)
    return _apply(exchange, decision, prepared, payload)


async def _refused_or_delayed(exchange: Exchange, decision: Decision) -> web.StreamResponse | None:
    """The decision's delay (waited), then its HTTP error (answered); None when the answer goes on."""
    request, entry = exchange.request, exchange.entry
    if decision.delay_s > 0:
        entry.fault = "delay"
        if not await wait(request, decision.delay_s):
            entry.client_gone = True
            return web.Response()
    if decision.error is not None:
        entry.fault = "http_error"
        return await send_error(exchange, decision.error, decision.headers)
    return None


async def _apply(
    exchange: Exchange, decision: Decision, prepared: Prepared | None, payload: bytes
) -> web.StreamResponse:
    request, entry = exchange.request, exchange.entry
    if prepared is not None and prepared.request.stream:
        events = events_of(entry, prepared)
        return await apply_stream(exchange, decision, events, prepared.completion.output_tokens)
    refused = await _refused_or_delayed(exchange, decision)
    if refused is not None:
        return refused
    fault = decision.connection_fault
    if fault is not None:
        return await connection_fault(exchange, decision, fault, payload, JSON_TYPE)
    if prepared is not None:
        tokens = prepared.completion.output_tokens
        delay = exchange.state.generation_wait(decision, tokens)
        if delay > 0 and not await wait(request, delay):
            entry.client_gone = True
            return web.Response()
        exchange.output_tokens = tokens
    return await send_json(exchange, payload, decision.headers)


async def apply_stream(
    exchange: Exchange, decision: Decision, events: Sequence[SseEvent], output_tokens: int = 0
) -> web.StreamResponse:
    """Answer a judged request with the SSE stream ``events`` as ``decision`` says: its delay, its
    HTTP error, its connection fault (on the stream's bytes), or the stream with its stream fault
    (a mid-stream error event, a cut, a stall). Events marked ``token`` are paced by the latency
    model; ``output_tokens`` is what a whole stream generated (journal and capacity)."""
    refused = await _refused_or_delayed(exchange, decision)
    if refused is not None:
        return refused
    fault = decision.connection_fault
    if fault is not None:
        body = b"".join(e.data for e in events)
        return await connection_fault(exchange, decision, fault, body, SSE_TYPE)
    return await _stream(exchange, events, output_tokens, decision)


async def connection_fault(
    exchange: Exchange, decision: Decision, fault: ConnectionFault, body: bytes, content_type: str
) -> web.StreamResponse:
    request, entry = exchange.request, exchange.entry
    kind = fault.kind
    entry.fault = kind
    if kind == "reset":
        abort(request, rst=True)
        return web.Response()
    if kind == "hang":
        if await wait(request, fault.hang_s):
            abort(request, rst=False)
        else:
            entry.client_gone = True
        return web.Response()
    headers = exchange.state.response_headers(entry, {"content-type": content_type}, decision.headers)
    entry.status = 200
    if kind == "garbage":
        garbage = web.Response(status=200, body=GARBAGE, headers=headers)
        return await send(request, entry, garbage, len(GARBAGE))
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_length = len(body)
    try:
        await resp.prepare(request)
        chunk = body[: len(body) // 2] if kind == "truncated_body" else b""
        await resp.write(chunk)
        entry.bytes_sent = len(chunk)
    except ConnectionError:
        entry.client_gone = True
        return resp
    abort(request, rst=False)
    return resp


class _Stream:
    """One SSE answer going out: events batched between waits, counted into the journal."""

    def __init__(self, exchange: Exchange, resp: web.StreamResponse) -> None:
        self.exchange = exchange
        self.resp = resp
        self.pending: list[bytes] = []

    async def flush(self) -> None:
        pending = self.pending
        if pending:
            data = b"".join(pending)
            await self.resp.write(data)
            entry = self.exchange.entry
            entry.bytes_sent += len(data)
            entry.events_sent += len(pending)
            pending.clear()

    async def wait(self, seconds: float) -> bool:
        """Flush, then wait; False (the entry says the client is gone) when it went away."""
        await self.flush()
        if await wait(self.exchange.request, seconds):
            return True
        self.exchange.entry.client_gone = True
        return False

    async def fault(self, fault: StreamFault) -> bool:
        """Apply the stream fault; True when the stream ends here."""
        entry, request = self.exchange.entry, self.exchange.request
        await self.flush()
        if fault.kind == "error_event":
            entry.fault = "stream_error_event"
            entry.error_type = fault.error_type
            self.pending.append(error_event(fault.error_type, fault.message))
            await self.flush()
            await self.resp.write_eof()
            return True
        if fault.kind == "cut":
            entry.fault = "stream_cut"
            abort(request, rst=False)
            return True
        entry.fault = "stream_stall"
        return not await self.wait(fault.stall_s)


async def _stream(
    exchange: Exchange, events: Sequence[SseEvent], output_tokens: int, decision: Decision
) -> web.StreamResponse:
    entry, state = exchange.entry, exchange.state
    headers = state.response_headers(
        entry, {"content-type": SSE_TYPE, "cache-control": "no-cache"}, decision.headers
    )
    resp = web.StreamResponse(status=200, headers=headers)
    entry.status = 200
    ttft, tps = state.pacing(decision)
    interval = 1.0 / tps if tps else 0.0
    fault = decision.stream_fault
    fault_at = min(max(fault.after_events, 0), len(events) - 1) if fault is not None and events else -1
    loop = asyncio.get_running_loop()
    out = _Stream(exchange, resp)
    try:
        await resp.prepare(exchange.request)
        await resp.write(b"")  # the status line and headers go out now, before the first token
        if ttft > 0 and not await out.wait(ttft):
            return resp
        t0 = loop.time()
        tokens = 0
        for i, ev in enumerate(events):
            if i == fault_at and fault is not None:
                if await out.fault(fault):
                    return resp
                t0 += fault.stall_s
            if ev.token:
                delay = t0 + tokens * interval - loop.time() if interval else 0.0
                if delay > 0 and not await out.wait(delay):
                    return resp
                tokens += 1
                exchange.output_tokens = tokens
            out.pending.append(ev.data)
        await out.flush()
        exchange.output_tokens = output_tokens
        await resp.write_eof()
    except ConnectionError:
        entry.client_gone = True
    return resp
