"""Requests aiohttp could not parse, answered like the API and counted, never echoed nor traced.

aiohttp answers a request it cannot parse (bad method, invalid request line, bad Content-Length,
too many or too long headers, an unsupported Content-Encoding) from
``web.RequestHandler.handle_error``: a ``text/plain`` body that quotes the offending bytes, and a
logged traceback per request. :class:`JsonErrorHandler` overrides that one public method: the
answer is ``{"type":"error","error":{...},"request_id":...}`` with a fixed message per kind of
fault (nothing of the request in it), each kind is logged once without a traceback, and every
malformed request is counted in :data:`MALFORMED` (shown in ``/_busysignal/stats``). A 500 there is
a bug of the mock or of aiohttp: it keeps its traceback.

The mock's connections are made by :mod:`mockserver.web.conn_guard`, whose handler (read deadlines
against slowloris) is this one's subclass: one handler class serves both.

An unsupported ``Content-Encoding`` (``zstd`` without its codec) is a 415: RFC 9110 section
15.5.16 names 415 for a content coding the server does not accept; the real API's edge does not
document request codings, and a 415 tells a client exactly what to change.
"""

from __future__ import annotations

import logging
from collections import Counter

from aiohttp import http_exceptions as hx
from aiohttp import web

from mockserver.web.bodies import BODY_STATS
from mockserver.web.metrics import render_refused
from mockserver.wire.errors import IdFactory, default_error, error_body

log = logging.getLogger("mockserver.protocol")

MALFORMED: Counter[str] = Counter()  # kind -> malformed requests answered since the process began
_ids = IdFactory()

# exception class -> (kind, message); the first class in the request's MRO that is listed wins
_KINDS: dict[type[BaseException], tuple[str, str]] = {
    hx.BadHttpMethod: ("bad_method", "The request's method is not a valid HTTP method"),
    hx.InvalidURLError: ("bad_target", "The request target is not a valid URL path"),
    hx.BadStatusLine: ("bad_request_line", "The request line is not valid HTTP/1.1"),
    hx.LineTooLong: ("line_too_long", "The request line or a header is too long"),
    hx.InvalidHeader: ("bad_header", "A request header is not valid (name, value or Content-Length)"),
    hx.ContentLengthError: ("bad_content_length", "The body does not match its Content-Length"),
    hx.TransferEncodingError: ("bad_transfer_encoding", "The chunked body is not valid"),
    hx.ContentEncodingError: ("unsupported_content_encoding", ""),
    hx.BadHttpMessage: ("bad_message", "The request is not valid HTTP/1.1"),
}
# a phrase of aiohttp's message (lower case) -> (kind, message), for the catch-all classes above
_PHRASES: tuple[tuple[str, str, str], ...] = (
    ("too many headers", "too_many_headers", "The request has too many headers"),
    ("content-length", "bad_content_length", "The Content-Length header is not valid"),
    ("transfer-encoding", "bad_transfer_encoding", "The Transfer-Encoding header is not valid"),
    ("chunk", "bad_transfer_encoding", "The chunked body is not valid"),
)
_SUPPORTED_CODINGS = "identity, gzip, deflate or br"


def classify(status: int, exc: BaseException | None) -> tuple[int, str, str]:
    """(status, kind, message) for an error aiohttp hands to ``handle_error``."""
    if status >= 500 or exc is None:
        return 500, "internal", "Internal server error"
    for cls in type(exc).__mro__:
        if cls in _KINDS:
            kind, message = _KINDS[cls]
            break
    else:
        kind, message = "other", "The request is not valid HTTP/1.1"
    if kind in ("bad_message", "bad_header"):  # aiohttp's own words name the fault: look, never quote
        kind, message = next(((k, m) for word, k, m in _PHRASES if word in str(exc).lower()), (kind, message))
    if kind == "unsupported_content_encoding":
        return (
            415,
            kind,
            f"The request's Content-Encoding is not supported; send the body as {_SUPPORTED_CODINGS}",
        )
    return (status if 400 <= status < 500 else 400), kind, message


def shaped_response(status: int, kind: str, message: str) -> web.Response:
    error_type, _ = default_error(status)
    resp = web.Response(
        status=status,
        body=error_body(error_type, message, _ids.request_id()),
        content_type="application/json",
        headers={"x-should-retry": "false"} if status < 500 else None,
    )
    resp.force_close()
    return resp


class JsonErrorHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse as the API would."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        status, kind, text = classify(status, exc)
        MALFORMED[kind] += 1
        if status >= 500:
            self.log_exception("busysignal mock: error handling a request", exc_info=exc)
        elif MALFORMED[kind] == 1:
            log.warning(
                "busysignal mock: malformed request (%s) answered %d; further ones are counted", kind, status
            )
        if request.writer.output_size > 0:  # an answer has begun: the connection can only be closed
            raise ConnectionError("a response was already being sent")
        return shaped_response(status, kind, text)


def refused_stats() -> dict[str, dict[str, int]]:
    """What ``/_busysignal/stats`` adds (process-wide, journal-independent: a malformed request
    never reaches the app, a refused body may reach no journal entry's JSON)."""
    malformed = {"total": sum(MALFORMED.values()), **dict(sorted(MALFORMED.items()))}
    return {"malformed_requests": malformed, "bodies_refused": BODY_STATS.to_dict()}


def refused_metrics() -> str:
    """The Prometheus text of :func:`refused_stats` (appended to ``/metrics``)."""
    return render_refused(MALFORMED, BODY_STATS.too_large, BODY_STATS.bad_encoding)
