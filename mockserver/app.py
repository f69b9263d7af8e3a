"""The aiohttp application: the Messages API surface, the fault seam, the control plane.

``create_app(config, scenario=... | engine=...)`` builds the app; all per-server state lives in
one :class:`MockState` stored on it (``app[STATE]``). Handlers are thin: parse and validate
with the pure modules, ask the fault engine, apply its decision, journal the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import socket
import struct
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import StreamReader, web

from mockserver import control_guard, protocol_errors
from mockserver.config import API_VERSIONS, ServerConfig
from mockserver.control_head import journal_head
from mockserver.control_token import token_matches
from mockserver.faults import (
    Decision,
    FaultEngine,
    HttpError,
    RequestFacts,
    ScenarioEngine,
    ScenarioError,
    build_engine,
)
from mockserver.faults.ratelimits import DEFAULT_TIER, tier_headers
from mockserver.journal import (
    RETRY_COUNT_AT,
    VERSION_AT,
    Journal,
    JournalEntry,
    JournalFilter,
    body_digest,
    kept_header_values,
    logical_id,
    parse_retry_count,
)
from mockserver.journal import export as journal_export
from mockserver.metrics import Metrics, Stats
from mockserver.scenario_status import scenario_name, scenario_status
from mockserver.web import bodies
from mockserver.wire import request_text
from mockserver.wire.batches import Batch, BatchItem, BatchStore, parse_create_body
from mockserver.wire.errors import ApiError, IdFactory, error_body, error_object, invalid, not_found
from mockserver.wire.generation import Completion, canonical_prompt, content_key, generate
from mockserver.wire.keyids import KeyIds, salt_bytes
from mockserver.wire.response_headers import JSON_TYPE, header_templates
from mockserver.wire.sse import (
    SseEvent,
    error_event,
    message_json,
    message_json_tail_fast,
    message_object,
    stream_events,
)
from mockserver.wire.validation import (
    MessageRequest,
    validate_count_tokens_request,
    validate_messages_request,
)

log = logging.getLogger("busysignal.mock")
STATE: web.AppKey[MockState] = web.AppKey("busysignal_state")
CONTROL_PREFIX = "/_busysignal"
MESSAGES_PATH = "/v1/messages"
SSE_TYPE = "text/event-stream; charset=utf-8"
POLL_S = 0.05  # how often long waits look for a client that went away
GARBAGE = b"<html><head><title>502 Bad Gateway</title></head><body>upstream connect error</body></html>\n"
Spec = Any  # what build_engine accepts: None, a name, a path, YAML text, a mapping

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything derived from one raw Messages body (memoised by the raw bytes)."""

    request: MessageRequest
    prompt_digest: str
    completion: Completion
    json_tail: bytes  # the JSON message after its id
    body_digest: str
    logical_ids: dict[str, str] = field(default_factory=dict)  # api_key_id -> logical_id

    def logical_id(self, key_id: str) -> str:
        found = self.logical_ids.get(key_id)
        if found is None:
            found = logical_id(key_id, self.body_digest)
            if len(self.logical_ids) < 64:
                self.logical_ids[key_id] = found
        return found


def _digest_text(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def prompt_digest_of(body: Mapping[str, Any], prompt: bytes | None = None) -> str:
    """Digest of the parsed body without ``model`` and ``max_tokens`` (groups a call across fallback).

    ``prompt`` is ``canonical_prompt(body)`` when already computed; the fields it leaves out
    besides model and max_tokens (stop_sequences, stream) are hashed after it."""
    if prompt is None:
        prompt = canonical_prompt(dict(body))
    h = hashlib.blake2b(prompt, digest_size=12)
    h.update(json.dumps([body.get("stop_sequences", "-"), body.get("stream", "-")], default=str).encode())
    return h.hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes) -> Any:
    request_text.check_json_bytes(raw)  # UTF-16/32, a BOM: 400
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise invalid(f"The request body is not valid UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise invalid(
            f"The request body is not valid JSON: {exc.msg}: line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise invalid(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid("The request body is not valid JSON: nesting too deep") from None
    return request_text.check_parsed(raw, body)  # lone surrogates: 400


def _client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait(request: web.BaseRequest, seconds: float) -> bool:
    """Sleep ``seconds`` (real time); False as soon as the client has gone away."""
    if seconds <= 0:
        return not _client_gone(request)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        if _client_gone(request):
            return False
        remaining = end - loop.time()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, POLL_S))


def _abort(request: web.BaseRequest, *, rst: bool) -> None:
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


class MockState:
    """Per-server state: config, journal, engine, batches, counters."""

    def __init__(self, config: ServerConfig, engine: FaultEngine, scenario: Spec) -> None:
        self.config = config
        self.clock = config.clock
        self.journal = Journal(config.journal_size)
        self.ids = IdFactory()
        self.metrics = Metrics()
        self.stats = Stats(self.metrics)
        self.batches = BatchStore(
            processing_s=config.batch_processing_s,
            cancel_s=config.batch_cancel_s,
            clock=config.clock,
            max_batches=config.max_batches,
        )
        self.in_flight = 0
        self.engine: FaultEngine = engine
        self.scenario: Spec = scenario
        self.scenario_seed = config.seed
        self.index = 0
        self._cache: OrderedDict[bytes, Prepared] = OrderedDict()
        self._cache_size = config.response_cache_size
        self._api_keys = frozenset(config.api_keys) if config.api_keys is not None else None
        self._default_tps = config.tokens_per_s or None
        self.paced = config.ttft_s > 0 or bool(self._default_tps)  # the server's own latency model waits
        self._wall_clock = config.wall_clock
        self._on_done = config.on_request_done
        self.refresh_headers(self._wall_clock())
        self._journal_add = self.journal.add
        self.key_ids = KeyIds(salt_bytes(config.key_salt))
        self._request_id = self.ids.request_id
        self.bind_host: str | None = None  # set by the server that binds the app (control_guard)

    def refresh_headers(self, wall: float) -> None:
        """Every response's headers (base), a 200's and an error's templates, for wall time ``wall``."""
        t = header_templates(wall, tier_headers(DEFAULT_TIER, wall))
        self.base_headers, self.json_headers, self.error_headers = t.base, t.json, t.error
        self.headers_until = t.until

    # ---- engine ------------------------------------------------------------------------

    def set_engine(self, engine: FaultEngine, scenario: Spec, *, seed: int | None = None) -> None:
        """Swap the engine atomically (on the loop thread) and restart its clock and index."""
        engine.restart(self.clock())
        self.engine = engine
        self.scenario = scenario
        self.scenario_seed = self.config.seed if seed is None else seed
        self.index = 0

    def pacing(self, decision: Decision) -> tuple[float, float | None]:
        """Time to first token and tokens per second (None: unpaced) for a response: the decision's
        overrides, else the server's defaults."""
        ttft = decision.ttft_s if decision.ttft_s is not None else self.config.ttft_s
        tps = decision.tokens_per_s if decision.tokens_per_s is not None else self._default_tps
        return ttft, tps

    def generation_waits(self, decision: Decision) -> bool:
        """Whether the latency model makes this response wait."""
        ttft, tps = self.pacing(decision)
        return ttft > 0 or bool(tps)

    def restart_engine(self) -> None:
        self.engine.restart(self.clock())
        self.index = 0

    def reset(self) -> None:
        self.journal.clear()
        self.stats.reset()
        self.restart_engine()

    # ---- per request ---------------------------------------------------------------------

    def open(self, request: web.Request, method: str, path: str) -> tuple[JournalEntry, str | None]:
        """Journal a request as it arrives (``method`` and ``path``: the request's, which a
        handler serving one route knows without asking the request) and count it in flight."""
        headers = request.headers
        key = headers.get("x-api-key")
        if key is None:
            key = _bearer(headers)
        if key is not None and not key.isascii():
            key = request_text.key_text(key)  # bytes that were not UTF-8: hashable, refused by check_auth
        kept = kept_header_values(headers)
        retry = kept[RETRY_COUNT_AT]  # x-stainless-retry-count
        wall = self._wall_clock()
        if wall > self.headers_until:  # the rate-limit headers' reset names the next second
            self.refresh_headers(wall)
        entry = self._journal_add(
            self._request_id(),
            method,
            path,
            wall,
            self.clock(),
            self.key_ids[key] if key else "",  # salted per server (keyids)
            None if retry is None else parse_retry_count(retry),
            kept,
        )
        self.in_flight += 1
        return entry, key

    def close(self, entry: JournalEntry, route: str) -> None:
        entry.end = self.clock()
        self.in_flight -= 1
        self.metrics.record(entry, route)
        hook = self._on_done
        if hook is not None:
            hook(entry)

    def check_auth(self, request: web.Request, key: str | None) -> None:
        if self.config.auth:
            if not key:
                raise ApiError(401, "authentication_error", "x-api-key header is required")
            if (self._api_keys is not None and key not in self._api_keys) or not key.isascii():
                raise ApiError(401, "authentication_error", "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if version is None:
            raise invalid("anthropic-version: header is required")
        if version not in API_VERSIONS:
            raise invalid(f"anthropic-version: unknown version {version!r}")

    async def read_body(self, request: web.Request, limit: int) -> bytes:
        content = request.content
        if content.is_eof():  # the whole body has arrived (the usual case): no read loop
            raw = _whole_body(content)
            return _within(content.read_nowait(-1) if raw is None else raw, limit)
        return await bodies.read_limited(request, limit)  # 413 as soon as past the limit

    def prepare_messages(self, raw: bytes, *, cache: bool = True) -> Prepared:
        if cache and self._cache_size:
            hit = self._cache.get(raw)
            if hit is not None:
                return hit
        body = _parse_json(raw)
        try:
            request = validate_messages_request(body, self.config.catalogue)
            prompt = canonical_prompt(body)
        except RecursionError:
            raise invalid("The request body is nested too deeply") from None
        completion = generate(request, content_key(body, self.config.seed, prompt))
        prepared = Prepared(
            request,
            prompt_digest_of(body, prompt),
            completion,
            message_json_tail_fast(request.model, completion, request.input_tokens),
            body_digest(raw),
        )
        if cache and self._cache_size and len(raw) <= 65536:
            self._cache[raw] = prepared
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prepared

    def next_index(self) -> int:
        """The engine's arrival index of the next request (counted from the scenario's (re)start)."""
        index = self.index
        self.index = index + 1
        return index

    def facts(
        self,
        request: web.Request,
        entry: JournalEntry,
        model: str | None,
        stream: bool,
        input_tokens: int,
        max_tokens: int,
    ) -> RequestFacts:
        index = self.index
        self.index = index + 1  # next_index(), inline
        return RequestFacts(
            index,
            entry.method,
            entry.path,
            model,
            stream,
            entry.api_key_id,
            entry.body_digest,
            request.headers,  # case-insensitive: lookups by lower-case name work
            input_tokens,
            max_tokens,
            entry.retry_count,
            _is_loopback(request.remote),
        )

    def response_headers(self, entry: JournalEntry, *extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"request-id": entry.request_id, **self.base_headers}
        for more in extra:
            headers.update(more)
        return headers


def _whole_body(content: StreamReader) -> bytes | None:
    """The body when all of it has arrived, in one piece (the usual case), taken without draining
    the reader: read_nowait would also run aiohttp's flow control (resume reading, feed the parser
    nothing) for a connection that was never paused. What stays in the reader goes with the
    request. None otherwise (then the reader's own read_nowait or read)."""
    if type(content) is not StreamReader or not content.is_eof():
        return None
    try:
        if content._exception is None and not content._buffer_offset:
            chunks = content._buffer
            if len(chunks) == 1:
                return chunks[0]
    except AttributeError:  # a reader laid out otherwise (another aiohttp): the public read path
        pass
    return None


_too_large = bodies.too_large


def _within(raw: bytes, limit: int) -> bytes:
    if len(raw) > limit:
        raise _too_large()
    return raw


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header (None without one)."""
    auth = headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _is_loopback(remote: str | None) -> bool:
    """Whether the peer is a loopback address; an unknown peer (None) is not (fail closed)."""
    return remote is not None and (remote.startswith("127.") or remote in ("::1", "localhost"))


async def _send(request: web.Request, entry: JournalEntry, resp: web.Response) -> web.Response:
    """Write a whole response inside the handler, so the journal knows whether it arrived."""
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:
        entry.client_gone = True
        return resp
    body = resp.body
    entry.bytes_sent = len(body) if isinstance(body, (bytes, bytearray)) else 0
    return resp


async def _send_error(
    request: web.Request,
    state: MockState,
    entry: JournalEntry,
    err: ApiError | HttpError,
    extra: Mapping[str, str] | None = None,
) -> web.Response:
    status = err.status
    error_type = err.error_type
    entry.status = status
    entry.error_type = error_type
    headers: Mapping[str, str]
    if extra or err.headers:
        headers = state.response_headers(entry, {"content-type": JSON_TYPE}, extra or {}, err.headers)
    else:  # the same headers, from the template (cheaper)
        headers = template = state.error_headers.copy()
        template["request-id"] = entry.request_id  # keeps its place, first
    resp = web.Response(
        status=status, body=error_body(error_type, err.message, entry.request_id), headers=headers
    )
    return await _send(request, entry, resp)


def _json_response(
    state: MockState, entry: JournalEntry, payload: Any, extra: Mapping[str, str] | None = None
) -> web.Response:
    entry.status = 200
    headers = state.response_headers(entry, {"content-type": JSON_TYPE}, extra or {})
    return web.Response(status=200, body=json.dumps(payload, separators=(",", ":")).encode(), headers=headers)


# ---- applying a decision -----------------------------------------------------------------


class _Outcome:
    """What one request did, and the fault engine's part in it (completed when the request ends)."""

    __slots__ = ("decision", "engine", "facts", "output_tokens")

    def __init__(self) -> None:
        self.output_tokens = 0
        self.engine: FaultEngine | None = None
        self.facts: RequestFacts | None = None
        self.decision: Decision | None = None

    def judge(
        self,
        request: web.Request,
        state: MockState,
        entry: JournalEntry,
        model: str | None,
        stream: bool,
        input_tokens: int,
        max_tokens: int,
    ) -> Decision:
        """Ask the engine what to do with this request, and journal why."""
        facts = state.facts(request, entry, model, stream, input_tokens, max_tokens)
        engine = state.engine
        decision = engine.decide(facts, state.clock())
        entry.reason = decision.reason
        self.engine, self.facts, self.decision = engine, facts, decision
        return decision

    def complete(self, state: MockState, entry: JournalEntry) -> None:
        """Tell the engine how a judged request ended (its buckets and capacity settle)."""
        if self.engine is not None and self.facts is not None and self.decision is not None:
            self.engine.complete(
                self.facts,
                self.decision,
                state.clock(),
                status=entry.status or 0,
                output_tokens=self.output_tokens,
                client_gone=entry.client_gone,
            )


Work = Callable[[web.Request, MockState, JournalEntry, _Outcome], Awaitable[web.StreamResponse]]
Route = Callable[[MockState], Handler]  # a route's handler, made for one server's state


def _journalled(route: str, work: Work) -> Route:
    """The handler of an authenticated API route: journal entry, auth, refusals, bugs, the end.

    ``work`` answers the request (raising ApiError to refuse it); whatever happens, the entry is
    closed and the engine told how the request ended. (``handle_messages`` is this with its
    work written out inline; a change here belongs there too.)"""

    def bind(state: MockState) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            entry, key = state.open(request, request.method, request.path)
            outcome = _Outcome()
            try:
                try:
                    state.check_auth(request, key)
                    return await work(request, state, entry, outcome)
                except ApiError as err:
                    return await _send_error(request, state, entry, err)
            except asyncio.CancelledError:
                entry.client_gone = True
                raise
            except ConnectionResetError:
                # the client went away (e.g. while its body was still arriving): nobody is left to
                # answer, which is the client's doing, not a bug of the mock
                entry.client_gone = True
                return web.Response(status=499)  # never reaches the peer; the entry keeps status None
            except Exception:
                return await _internal_error(request, state, entry)
            finally:
                outcome.complete(state, entry)
                state.close(entry, route)

        handler.__name__ = handler.__qualname__ = f"handle_{route}"
        return handler

    return bind


def _note_digest(entry: JournalEntry, raw: bytes) -> None:
    entry.body_digest = body_digest(raw)
    entry.logical_id = logical_id(entry.api_key_id, entry.body_digest)


async def _connection_fault(
    request: web.Request,
    state: MockState,
    entry: JournalEntry,
    decision: Decision,
    body: bytes,
    content_type: str,
) -> web.StreamResponse:
    fault = decision.connection_fault
    assert fault is not None
    kind = fault.kind
    entry.fault = kind
    if kind == "reset":
        _abort(request, rst=True)
        return web.Response()
    if kind == "hang":
        if await _wait(request, fault.hang_s):
            _abort(request, rst=False)
        else:
            entry.client_gone = True
        return web.Response()
    headers = state.response_headers(entry, {"content-type": content_type}, decision.headers)
    if kind == "garbage":
        entry.status = 200
        return await _send(request, entry, web.Response(status=200, body=GARBAGE, headers=headers))
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_length = len(body)
    entry.status = 200
    try:
        await resp.prepare(request)
        chunk = body[: len(body) // 2] if kind == "truncated_body" else b""
        await resp.write(chunk)
        entry.bytes_sent = len(chunk)
    except ConnectionError:
        entry.client_gone = True
        return resp
    _abort(request, rst=False)
    return resp


def _message_id(entry: JournalEntry) -> str:
    """A message's id shares the suffix of its request's id."""
    return "msg_" + entry.request_id[4:]


def _stream_events(entry: JournalEntry, prepared: Prepared) -> list[SseEvent]:
    req = prepared.request
    return stream_events(_message_id(entry), req.model, prepared.completion, req.input_tokens)


async def _stream(
    request: web.Request,
    state: MockState,
    entry: JournalEntry,
    prepared: Prepared,
    decision: Decision,
    outcome: _Outcome,
) -> web.StreamResponse:
    events = _stream_events(entry, prepared)
    headers = state.response_headers(
        entry, {"content-type": SSE_TYPE, "cache-control": "no-cache"}, decision.headers
    )
    resp = web.StreamResponse(status=200, headers=headers)
    entry.status = 200
    ttft, tps = state.pacing(decision)
    interval = 1.0 / tps if tps else 0.0
    fault = decision.stream_fault
    fault_at = min(max(fault.after_events, 0), len(events) - 1) if fault is not None else -1
    loop = asyncio.get_running_loop()
    pending: list[bytes] = []

    async def flush() -> None:
        if pending:
            data = b"".join(pending)
            await resp.write(data)
            entry.bytes_sent += len(data)
            entry.events_sent += len(pending)
            pending.clear()

    try:
        await resp.prepare(request)
        await resp.write(b"")  # the status line and headers go out now, before the first token
        if ttft > 0 and not await _wait(request, ttft):
            entry.client_gone = True
            return resp
        t0 = loop.time()
        tokens = 0
        for i, ev in enumerate(events):
            if i == fault_at and fault is not None:
                await flush()
                if fault.kind == "error_event":
                    entry.fault = "stream_error_event"
                    entry.error_type = fault.error_type
                    pending.append(error_event(fault.error_type, fault.message))
                    await flush()
                    await resp.write_eof()
                    return resp
                if fault.kind == "cut":
                    entry.fault = "stream_cut"
                    _abort(request, rst=False)
                    return resp
                entry.fault = "stream_stall"
                if not await _wait(request, fault.stall_s):
                    entry.client_gone = True
                    return resp
                t0 += fault.stall_s
            if ev.token:
                if interval:
                    delay = t0 + tokens * interval - loop.time()
                    if delay > 0:
                        await flush()
                        if not await _wait(request, delay):
                            entry.client_gone = True
                            return resp
                tokens += 1
                outcome.output_tokens = tokens
            pending.append(ev.data)
        await flush()
        outcome.output_tokens = prepared.completion.output_tokens
        await resp.write_eof()
    except ConnectionError:
        entry.client_gone = True
    return resp


async def _apply(
    request: web.Request,
    state: MockState,
    entry: JournalEntry,
    decision: Decision,
    outcome: _Outcome,
    prepared: Prepared | None,
    json_payload: Callable[[], bytes],
) -> web.StreamResponse:
    if decision.delay_s > 0:
        entry.fault = "delay"
        if not await _wait(request, decision.delay_s):
            entry.client_gone = True
            return web.Response()
    if decision.error is not None:
        entry.fault = "http_error"
        return await _send_error(request, state, entry, decision.error, decision.headers)
    stream = prepared is not None and prepared.request.stream
    if decision.connection_fault is not None:
        if stream and prepared is not None:
            body = b"".join(e.data for e in _stream_events(entry, prepared))
            return await _connection_fault(request, state, entry, decision, body, SSE_TYPE)
        return await _connection_fault(request, state, entry, decision, json_payload(), JSON_TYPE)
    if stream and prepared is not None:
        return await _stream(request, state, entry, prepared, decision, outcome)
    if prepared is not None:
        ttft, tps = state.pacing(decision)
        wait = ttft + (prepared.completion.output_tokens / tps if tps else 0.0)
        if wait > 0 and not await _wait(request, wait):
            entry.client_gone = True
            return web.Response()
        outcome.output_tokens = prepared.completion.output_tokens
    entry.status = 200
    headers = state.response_headers(entry, {"content-type": JSON_TYPE}, decision.headers)
    return await _send(request, entry, web.Response(status=200, body=json_payload(), headers=headers))


# ---- API handlers --------------------------------------------------------------------------


def _prepare_or_note(state: MockState, entry: JournalEntry, raw: bytes) -> Prepared:
    """``state.prepare_messages(raw)``; what can be read of a refused body is journalled too."""
    try:
        return state.prepare_messages(raw)
    except ApiError:
        _note_digest(entry, raw)
        _note_body(entry, raw)
        raise


def handle_messages(state: MockState) -> Handler:
    """POST /v1/messages: ``_journalled("messages", work)`` with the work written out in the one
    coroutine, the route every client hits hardest (the ``check_auth`` test too). The
    common case (a whole JSON message with no fault and no wait) answers right here; everything
    else goes through ``_apply``.

    Only this route's requests reach it, so their method is POST and their path (``request.path``,
    the decoded path the router matched exactly) is /v1/messages: the journal takes both as they
    are instead of asking the request."""
    clock = state.clock
    auth = state.config.auth
    api_keys = state._api_keys
    limit = state.config.max_body_bytes
    cache = state._cache if state._cache_size else None

    async def handle_messages(request: web.Request) -> web.StreamResponse:
        # request.method and request.path: all this route serves (see handle_messages)
        entry, key = state.open(request, "POST", MESSAGES_PATH)
        headers = request.headers
        outcome: _Outcome | None = None
        engine: FaultEngine | None = None
        facts: RequestFacts | None = None
        decision: Decision | None = None
        output_tokens = 0
        try:
            try:
                # state.check_auth(request, key), written out
                if auth and (not key or (api_keys is not None and key not in api_keys) or not key.isascii()):
                    state.check_auth(request, key)  # raises the right 401
                if entry.kept_values[VERSION_AT] not in API_VERSIONS:  # headers.get("anthropic-version")
                    state.check_auth(request, key)  # raises the right 400
                raw = _whole_body(request.content)  # state.read_body's first step, written out
                if raw is None:
                    raw = await state.read_body(request, limit)
                elif len(raw) > limit:
                    raise _too_large()
                prepared = cache.get(raw) if cache is not None else None
                if prepared is None:
                    prepared = _prepare_or_note(state, entry, raw)
                req = prepared.request
                entry.body_digest = prepared.body_digest
                key_id = entry.api_key_id
                entry.logical_id = prepared.logical_ids.get(key_id) or prepared.logical_id(key_id)
                entry.model = model = req.model
                entry.stream = stream = req.stream
                entry.prompt_digest = prepared.prompt_digest
                engine = state.engine
                reason = None
                if type(engine) is ScenarioEngine:  # nothing in the scenario touches it? (no facts)
                    index = state.index
                    reason = engine.quiet_reason(
                        entry.method, entry.path, model, stream, headers, index, clock()
                    )
                extra: Mapping[str, str] | None = None
                if reason is not None:  # a pass: no fault, no wait, no headers of its own
                    state.index = index + 1
                    entry.reason = reason
                    fast = not stream and not state.paced
                else:
                    facts = state.facts(request, entry, model, stream, req.input_tokens, req.max_tokens)
                    decision = engine.decide(facts, clock())
                    entry.reason = decision.reason
                    extra = decision.headers
                    fast = (
                        not stream
                        and decision.error is None
                        and decision.connection_fault is None
                        and decision.delay_s <= 0
                        and not (
                            (decision.ttft_s is not None or decision.tokens_per_s is not None or state.paced)
                            and state.generation_waits(decision)
                        )
                    )
                message_id = "msg_" + entry.request_id[4:]  # _message_id(entry)
                if fast:
                    # the common case: a whole JSON message, now (_apply's last lines, and _send)
                    output_tokens = prepared.completion.output_tokens
                    entry.status = 200
                    response_headers = state.json_headers.copy()
                    response_headers["request-id"] = entry.request_id  # keeps its place, first
                    if extra:
                        response_headers.update(extra)
                    body = b"".join(
                        (b'{"id":"', message_id.encode(), b'"', prepared.json_tail)
                    )  # message_json
                    resp = web.Response(body=body, headers=response_headers)
                    try:
                        await resp.prepare(request)
                        await resp.write_eof()
                    except ConnectionError:
                        entry.client_gone = True
                        return resp
                    entry.bytes_sent = len(body)
                    return resp
                if decision is not None and decision.error is not None and decision.delay_s <= 0:
                    # an HTTP error now (_apply's first steps): nothing generated, nothing to wait for
                    entry.fault = "http_error"
                    return await _send_error(request, state, entry, decision.error, decision.headers)
                outcome = _Outcome()
                if decision is None:
                    decision = Decision(reason=entry.reason)
                else:
                    outcome.engine, outcome.facts, outcome.decision = engine, facts, decision
                return await _apply(
                    request,
                    state,
                    entry,
                    decision,
                    outcome,
                    prepared,
                    lambda: message_json(message_id, prepared.json_tail),
                )
            except ApiError as err:
                return await _send_error(request, state, entry, err)
        except asyncio.CancelledError:
            entry.client_gone = True
            raise
        except ConnectionResetError:
            entry.client_gone = True  # the client went away (see _journalled)
            return web.Response(status=499)  # never reaches the peer; the entry keeps status None
        except Exception:
            return await _internal_error(request, state, entry)
        finally:
            if outcome is not None:
                outcome.complete(state, entry)
            elif engine is not None and facts is not None and decision is not None:
                # (a pass from quiet_reason holds nothing: no facts, nothing to complete)
                engine.complete(
                    facts,
                    decision,
                    clock(),
                    status=entry.status or 0,
                    output_tokens=output_tokens,
                    client_gone=entry.client_gone,
                )
            state.close(entry, "messages")

    return handle_messages


async def _internal_error(request: web.Request, state: MockState, entry: JournalEntry) -> web.StreamResponse:
    """A bug in the mock: logged, and answered as the API's 500 when nothing was sent yet."""
    log.exception("busysignal mock: internal error on %s %s (%s)", entry.method, entry.path, entry.request_id)
    if entry.status is not None:
        raise
    return await _send_error(request, state, entry, ApiError(500, "api_error", "Internal server error"))


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


async def _count_tokens(
    request: web.Request, state: MockState, entry: JournalEntry, outcome: _Outcome
) -> web.StreamResponse:
    raw = await state.read_body(request, state.config.max_body_bytes)
    _note_digest(entry, raw)
    body = _parse_json(raw)
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        entry.model = body["model"]
    try:
        req = validate_count_tokens_request(body, state.config.catalogue)
        entry.prompt_digest = prompt_digest_of(body)
    except RecursionError:
        raise invalid("The request body is nested too deeply") from None
    decision = outcome.judge(request, state, entry, req.model, False, req.input_tokens, 0)
    payload = json.dumps({"input_tokens": req.input_tokens}).encode()
    return await _apply(request, state, entry, decision, outcome, None, lambda: payload)


handle_count_tokens = _journalled("count_tokens", _count_tokens)


def _page(items: list[Any], ident: Callable[[Any], str], query: Mapping[str, str]) -> dict[str, Any]:
    """The documented list paging over ``items`` (already in listing order)."""
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid(f"limit: Input should be a valid integer, got {raw_limit!r}") from None
    if not 1 <= limit <= 1000:
        raise invalid("limit: Input should be between 1 and 1000")
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise invalid("after_id and before_id cannot both be given")
    ids = [ident(i) for i in items]
    if after is not None:
        if after not in ids:
            raise invalid(f"after_id: unknown id {after!r}")
        start = ids.index(after) + 1
        chosen = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before is not None:
        if before not in ids:
            raise invalid(f"before_id: unknown id {before!r}")
        end = ids.index(before)
        chosen = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        chosen = items[:limit]
        has_more = limit < len(items)
    return {
        "data": chosen,
        "has_more": has_more,
        "first_id": ident(chosen[0]) if chosen else None,
        "last_id": ident(chosen[-1]) if chosen else None,
    }


def _simple(route: str, *, reads_body: bool = False) -> Callable[[Callable[..., Any]], Route]:
    """Wrap a handler that needs auth and returns a payload (or raises ApiError); journal it."""

    def wrap(inner: Callable[..., Any]) -> Route:
        async def work(
            request: web.Request, state: MockState, entry: JournalEntry, outcome: _Outcome
        ) -> web.StreamResponse:
            raw = b""
            if reads_body:
                raw = await state.read_body(request, state.config.max_batch_body_bytes)
                _note_digest(entry, raw)
            result = await inner(request, state, entry, raw)
            if isinstance(result, web.Response):
                entry.status = result.status
                return await _send(request, entry, result)
            return await _send(request, entry, _json_response(state, entry, result))

        return _journalled(route, work)

    return wrap


@_simple("models")
async def handle_models_list(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    infos = [m.info() for m in state.config.catalogue.models]
    return _page(infos, lambda i: str(i["id"]), request.query)


@_simple("models")
async def handle_models_get(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    model_id = request.match_info["model_id"]
    model = state.config.catalogue.get(model_id)
    if model is None:
        raise not_found(f"model: {model_id}")
    entry.model = model_id
    return model.info()


def _results_url(request: web.Request, state: MockState, batch: Batch) -> str:
    base = state.config.public_url or f"{request.scheme}://{request.host}"
    return f"{base.rstrip('/')}/v1/messages/batches/{batch.id}/results"


def _process_item(
    state: MockState, request_headers: Mapping[str, str]
) -> Callable[[Batch, BatchItem, float], dict[str, Any]]:
    def process(batch: Batch, item: BatchItem, now: float) -> dict[str, Any]:
        raw = json.dumps(item.params, sort_keys=True, separators=(",", ":")).encode()
        try:
            if item.params.get("stream") is True:
                raise invalid("stream: Message Batches do not support streaming")
            body = item.params
            req = validate_messages_request(body, state.config.catalogue, allow_zero_max_tokens=False)
        except RecursionError:
            return {
                "type": "errored",
                "error": error_object("invalid_request_error", "params: nested too deeply"),
            }
        except ApiError as err:
            return {"type": "errored", "error": error_object(err.error_type, err.message)}
        facts = RequestFacts(
            index=state.next_index(),
            method="POST",
            path="/v1/messages/batches",
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
        if decision.error is not None:
            engine.complete(
                facts, decision, now, status=decision.error.status, output_tokens=0, client_gone=False
            )
            return {
                "type": "errored",
                "error": error_object(decision.error.error_type, decision.error.message),
            }
        completion = generate(req, content_key(body, state.config.seed))
        engine.complete(
            facts, decision, now, status=200, output_tokens=completion.output_tokens, client_gone=False
        )
        message = message_object(
            "msg_" + state.ids.next_suffix(), req.model, completion, req.input_tokens, "batch"
        )
        return {"type": "succeeded", "message": message}

    return process


def _advance(state: MockState, batch: Batch) -> Batch:
    return state.batches.advance(batch, state.clock(), _process_item(state, batch.headers))


def _batch(request: web.Request, state: MockState) -> Batch:
    """The batch the URL names, brought up to date (404 when unknown)."""
    return _advance(state, state.batches.get(request.match_info["batch_id"]))


@_simple("batches", reads_body=True)
async def handle_batch_create(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    requests = parse_create_body(_parse_json(raw))
    batch = state.batches.create(
        "msgbatch_" + state.ids.next_suffix(),
        requests,
        state.clock(),
        state.config.wall_clock(),
        headers={k.lower(): v for k, v in request.headers.items()},
        api_key_id=entry.api_key_id,
        loopback=_is_loopback(request.remote),
    )
    _advance(state, batch)
    return batch.to_dict(_results_url(request, state, batch))


@_simple("batches")
async def handle_batch_get(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    batch = _batch(request, state)
    return batch.to_dict(_results_url(request, state, batch))


@_simple("batches")
async def handle_batch_list(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    items = [_advance(state, b).to_dict(_results_url(request, state, b)) for b in state.batches.listing()]
    return _page(items, lambda b: str(b["id"]), request.query)


@_simple("batches")
async def handle_batch_cancel(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    batch = _batch(request, state)
    state.batches.cancel(batch, state.clock())
    return batch.to_dict(_results_url(request, state, batch))


@_simple("batches")
async def handle_batch_delete(request: web.Request, state: MockState, entry: JournalEntry, raw: bytes) -> Any:
    batch = _batch(request, state)
    state.batches.delete(batch)
    return {"id": batch.id, "type": "message_batch_deleted"}


@_simple("batches")
async def handle_batch_results(
    request: web.Request, state: MockState, entry: JournalEntry, raw: bytes
) -> Any:
    batch = _batch(request, state)
    lines = state.batches.results_lines(batch)
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    headers = state.response_headers(entry, {"content-type": "application/x-jsonl"})
    return web.Response(status=200, body=body, headers=headers)


async def handle_not_found(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    entry, _ = state.open(request, request.method, request.path)
    try:
        err = not_found(f"Not found: {request.method} {request.path}")
        return await _send_error(request, state, entry, err)
    finally:
        state.close(entry, "other")


# ---- control plane ---------------------------------------------------------------------------


def _control(inner: Callable[[web.Request, MockState], Awaitable[web.StreamResponse]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        if state.config.control_token is None:  # nothing proves who asks: Host must be ours (rebinding)
            refused = control_guard.host_refusal(request, state.config.public_url, state.bind_host)
            if refused is not None:
                return _control_error(refused.status, refused.error_type, refused.message)
        token = state.config.control_token
        if token is not None:
            given = request.headers.get("x-busysignal-token")
            if given is None:
                given = _bearer(request.headers)
            if not token_matches(given, token):  # constant time
                return _control_error(
                    401, "authentication_error", "control plane: x-busysignal-token is required"
                )
        try:
            return await inner(request, state)
        except ApiError as err:
            return _control_error(err.status, err.error_type, err.message)

    return handler


def _control_error(status: int, error_type: str, message: str) -> web.Response:
    return web.Response(status=status, body=error_body(error_type, message, None), content_type=JSON_TYPE)


def _control_json(payload: Any) -> web.Response:
    return web.Response(body=json.dumps(payload, default=str).encode(), content_type=JSON_TYPE)


def _journal_filter(query: Mapping[str, str]) -> JournalFilter:
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
    flt = _journal_filter(request.query)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "jsonl"):
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


# ---- the app -------------------------------------------------------------------------------


def create_app(
    config: ServerConfig | None = None,
    *,
    scenario: Spec = None,
    engine: FaultEngine | None = None,
) -> web.Application:
    """The mock as an aiohttp app. Give either ``scenario`` (for ``build_engine``) or ``engine``."""
    config = config or ServerConfig()
    if engine is not None and scenario is not None:
        raise ValueError("give either scenario= or engine=, not both")
    if engine is None:
        engine = build_engine(scenario, seed=config.seed)
    state = MockState(config, engine, scenario)
    app = web.Application(client_max_size=max(config.max_batch_body_bytes, config.max_body_bytes) + 1)
    app[STATE] = state

    async def on_startup(app: web.Application) -> None:
        state.restart_engine()

    app.on_startup.append(on_startup)
    r = app.router
    r.add_post(MESSAGES_PATH, handle_messages(state))
    r.add_post("/v1/messages/count_tokens", handle_count_tokens(state))
    r.add_get("/v1/models", handle_models_list(state), allow_head=True)
    r.add_get("/v1/models/{model_id}", handle_models_get(state), allow_head=True)
    r.add_post("/v1/messages/batches", handle_batch_create(state))
    r.add_get("/v1/messages/batches", handle_batch_list(state), allow_head=True)
    r.add_get("/v1/messages/batches/{batch_id}", handle_batch_get(state), allow_head=True)
    r.add_post("/v1/messages/batches/{batch_id}/cancel", handle_batch_cancel(state))
    r.add_delete("/v1/messages/batches/{batch_id}", handle_batch_delete(state))
    r.add_get("/v1/messages/batches/{batch_id}/results", handle_batch_results(state), allow_head=True)
    r.add_get(f"{CONTROL_PREFIX}/health", _control(control_health), allow_head=True)
    r.add_get(f"{CONTROL_PREFIX}/journal", _control(control_journal), allow_head=False)
    r.add_route("HEAD", f"{CONTROL_PREFIX}/journal", _control(journal_head(_journal_filter)))
    r.add_delete(f"{CONTROL_PREFIX}/journal", _control(control_journal_clear))
    r.add_get(f"{CONTROL_PREFIX}/stats", _control(control_stats), allow_head=True)
    r.add_post(f"{CONTROL_PREFIX}/reset", _control(control_reset))
    r.add_get(f"{CONTROL_PREFIX}/scenario", _control(control_scenario_get), allow_head=True)
    r.add_put(f"{CONTROL_PREFIX}/scenario", _control(control_scenario_put))
    r.add_get("/metrics", _control(control_metrics), allow_head=True)
    r.add_route("*", "/{tail:.*}", handle_not_found)
    return app


def app_state(app: web.Application) -> MockState:
    return app[STATE]
