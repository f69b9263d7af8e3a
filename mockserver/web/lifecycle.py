"""The one request lifecycle every API route goes through, the messages hot path included.

:func:`lifecycle` makes a route's handler from its *work*: the request gets its id and journal
entry, the key, ``anthropic-version`` and ``anthropic-beta`` are checked, the body is read
(within the route's limit), then the work answers. A refusal it raises (:class:`ApiError`)
becomes the API's error body, a client that went away is journalled as gone, a bug of the mock
is logged and answered as the API's 500. Whatever happens, the fault engine is told how a judged
request ended and the journal entry is closed. The work sees one :class:`Exchange`: the request,
the state, the entry and what the fault engine decided (:meth:`Exchange.judge`).

A route that answers with a payload (models, batches, files, agents, ...) is
:func:`mockserver.web.payload.payload_route`; any other path gets :func:`handle_not_found`,
journalled the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from mockserver.config import ServerConfig
from mockserver.faults import Decision, FaultEngine, HttpError, RequestFacts, ScenarioEngine
from mockserver.faults.decision import PASS
from mockserver.journal import JournalEntry, body_digest, logical_id
from mockserver.web.bodies import arrived_body, read_limited
from mockserver.web.state import BETA_AT, MockState
from mockserver.wire.errors import ApiError, error_body, not_found
from mockserver.wire.response_headers import JSON_TYPE

log = logging.getLogger("busysignal.mock")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = Callable[[MockState], Handler]  # a route's handler, made for one server's state
BodyLimit = Callable[[ServerConfig], int]  # the largest body a route reads, from the config


class Exchange:
    """One request in the lifecycle: what the work needs, and the fault engine's part in it."""

    __slots__ = ("entry", "judged", "output_tokens", "request", "state")

    def __init__(self, request: web.Request, state: MockState, entry: JournalEntry) -> None:
        self.request = request
        self.state = state
        self.entry = entry
        self.output_tokens = 0
        # the engine, what it was asked and what it decided; None until judged (or for a pass)
        self.judged: tuple[FaultEngine, RequestFacts, Decision] | None = None

    def judge(
        self, model: str | None, stream: bool, input_tokens: int, max_tokens: int, speed: str | None = None
    ) -> Decision:
        """Ask the engine what to do with this request, and journal why. A request nothing in a
        scenario can touch passes without facts (it holds nothing: nothing to complete).
        ``speed``: a Messages request's ``speed``, when it sent one."""
        state, entry = self.state, self.entry
        engine = state.engine
        if type(engine) is ScenarioEngine:
            index = state.index
            reason = engine.quiet_reason(
                entry.method, entry.path, model, stream, self.request.headers, index, state.clock()
            )
            if reason is not None:
                state.index = index + 1
                entry.reason = reason
                return PASS
        facts = state.facts(self.request, entry, model, stream, input_tokens, max_tokens, speed)
        decision = engine.decide(facts, state.clock())
        entry.reason = decision.reason
        self.judged = (engine, facts, decision)
        return decision

    def judge_hop(
        self, model: str, stream: bool, input_tokens: int, max_tokens: int, speed: str | None
    ) -> Decision:
        """A server-side fallback's next attempt, on ``model``: the attempt so far ends (it
        declined, without output: its buckets and capacity settle), and the engine judges the hop
        as a request of its own (its rate limits, rules and capacity). The journal keeps the first
        decision's reason, each hop's under ``reason["fallbacks"]``."""
        reason = dict(self.entry.reason or {})
        self.complete()
        self.judged = None
        decision = self.judge(model, stream, input_tokens, max_tokens, speed)
        reason.setdefault("fallbacks", []).append({"model": model, **decision.reason})
        self.entry.reason = reason
        return decision

    def complete(self) -> None:
        """Tell the engine how a judged request ended (its buckets and capacity settle)."""
        judged = self.judged
        if judged is not None:
            engine, facts, decision = judged
            entry = self.entry
            engine.complete(
                facts,
                decision,
                self.state.clock(),
                status=entry.status or 0,
                output_tokens=self.output_tokens,
                client_gone=entry.client_gone,
            )


Work = Callable[[Exchange, bytes], Awaitable[web.StreamResponse]]


def lifecycle(
    route: str,
    work: Work,
    *,
    body_limit: BodyLimit | None = None,
    method: str | None = None,
    path: str | None = None,
    auth: bool = True,
) -> Route:
    """The handler of an API route: journal entry, auth, body, ``work``, refusals, bugs, the end.

    ``work(exchange, raw)`` answers (raising ApiError to refuse); ``raw`` is the body when the
    route reads one (``body_limit``), else empty. ``method`` and ``path``, when given, are all
    the route serves (the journal takes them as they are instead of asking the request)."""

    def bind(state: MockState) -> Handler:
        limit = -1 if body_limit is None else body_limit(state.config)

        async def handler(request: web.Request) -> web.StreamResponse:
            entry, key = state.open(request, method or request.method, path or request.path)
            exchange = Exchange(request, state, entry)
            try:
                try:
                    if auth:
                        state.check_auth(entry, key)
                        if entry.kept_values[BETA_AT] is not None:  # (none: the hot path)
                            state.check_betas(request.headers)
                    raw = b"" if limit < 0 else arrived_body(request, limit)
                    if raw is None:  # more of it is to come
                        raw = await read_limited(request, limit)
                    return await work(exchange, raw)
                except ApiError as err:
                    return await send_error(exchange, err, code=err.code)
            except asyncio.CancelledError:
                entry.client_gone = True
                raise
            except ConnectionResetError:
                # the client went away (e.g. while its body was still arriving): nobody is left to
                # answer, which is the client's doing, not a bug of the mock
                entry.client_gone = True
                return web.Response(status=499)  # never reaches the peer; the entry keeps status None
            except Exception:
                return await _internal_error(exchange)
            finally:
                if exchange.judged is not None:  # (a pass holds nothing: no call)
                    exchange.complete()
                state.close(entry, route)

        handler.__name__ = handler.__qualname__ = f"handle_{route}"
        return handler

    return bind


async def send(request: web.Request, entry: JournalEntry, resp: web.Response, size: int) -> web.Response:
    """Write a whole response (its body ``size`` bytes) inside the handler, so the journal knows
    whether it arrived."""
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:
        entry.client_gone = True
        return resp
    entry.bytes_sent = size
    return resp


def send_json(exchange: Exchange, body: bytes, extra: Mapping[str, str]) -> Awaitable[web.Response]:
    """A 200 with the JSON ``body``, the mock's headers and ``extra`` (to await: the sending)."""
    entry = exchange.entry
    entry.status = 200
    headers = exchange.state.json_headers.copy()  # the template: cheaper to copy than to build
    headers["request-id"] = entry.request_id  # it keeps its place, first
    if extra:
        headers.update(extra)
    return send(exchange.request, entry, web.Response(body=body, headers=headers), len(body))


async def send_error(
    exchange: Exchange,
    err: ApiError | HttpError,
    extra: Mapping[str, str] | None = None,
    *,
    code: str | None = None,
) -> web.Response:
    """The API's error body for ``err``, journalled (status and error type). ``code``: an
    ApiError's ``code`` (``error.details.error_code``); a fault's error has none, and passes
    nothing, so the fault's answer pays for no look-up."""
    state, entry = exchange.state, exchange.entry
    entry.status = status = err.status
    entry.error_type = error_type = err.error_type
    headers: Mapping[str, str]
    if extra or err.headers:
        headers = state.response_headers(entry, {"content-type": JSON_TYPE}, extra or {}, err.headers)
    else:  # the same headers, from the template (cheaper)
        headers = state.error_headers_for(entry)
    body = error_body(error_type, err.message, entry.request_id, code)
    return await send(
        exchange.request, entry, web.Response(status=status, body=body, headers=headers), len(body)
    )


async def _internal_error(exchange: Exchange) -> web.StreamResponse:
    """A bug in the mock: logged, and answered as the API's 500 when nothing was sent yet."""
    entry = exchange.entry
    log.exception("busysignal mock: internal error on %s %s (%s)", entry.method, entry.path, entry.request_id)
    if entry.status is not None:
        raise
    return await send_error(exchange, ApiError(500, "api_error", "Internal server error"))


def note_digest(entry: JournalEntry, raw: bytes) -> None:
    """Journal the digest of a body, and the logical request it makes with the key."""
    entry.body_digest = body_digest(raw)
    entry.logical_id = logical_id(entry.api_key_id, entry.body_digest)


async def _not_found(exchange: Exchange, raw: bytes) -> web.StreamResponse:
    request = exchange.request
    raise not_found(f"Not found: {request.method} {request.path}")


# any path the API does not have: the API's 404, journalled (route "other"), with no auth to pass
handle_not_found = lifecycle("other", _not_found, auth=False)
