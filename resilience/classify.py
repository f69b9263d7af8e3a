"""What failed, and may it be retried? A pure rule over (status, error type, headers), plus the
adapter that reads those facts off SDK and transport exceptions.

Rules, first match wins:

1. 400, 401, 403, 404, 413: the caller's mistake. **Never** retried, whatever the headers say.
2. ``x-should-retry: false``: not retried (this is how the API marks the spend-limit 429).
   A 429 whose ``error.details.error_code`` names a spend limit is not retried either.
3. ``x-should-retry: true``: retried (any other status).
4. 529 or ``overloaded_error`` (also inside a 200 stream), 429, 500/502/503/504, 408, 409:
   retried. Any other status: not retried.
5. Connection errors and timeouts (SDK, httpx and builtin): retried.

Anything not recognised (a bug in the caller's code, a KeyboardInterrupt) is not classified
at all: the policy lets it through untouched.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import anthropic
import httpx2

from resilience.backoff import _header, parse_retry_after

__all__ = [
    "NEVER_RETRY",
    "CircuitOpenError",
    "Failure",
    "IncompleteStreamError",
    "Kind",
    "classify_exception",
    "classify_status",
]

NEVER_RETRY: frozenset[int] = frozenset({400, 401, 403, 404, 413})
RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
SPEND_LIMIT_CODES: frozenset[str] = frozenset({"enforced_spend_limit_reached", "spend_limit_reached"})


class Kind(str, enum.Enum):
    """The category of a failure (its value is what logs and events show)."""

    OVERLOADED = "overloaded"  # 529, or overloaded_error in a 200 stream
    RATE_LIMITED = "rate_limited"  # retryable 429
    SPEND_LIMITED = "spend_limited"  # 429 the API says not to retry
    SERVER = "server_error"  # 5xx other than 529
    TIMEOUT = "timeout"  # client-side timeout or 408
    CONNECTION = "connection"  # reset, refused, dropped stream
    CONFLICT = "conflict"  # 409
    CALLER = "caller_error"  # 4xx: the request itself is wrong
    CIRCUIT_OPEN = "circuit_open"  # the breaker refused the call (no request sent)


@dataclass(frozen=True, slots=True)
class Failure:
    """One classified failure."""

    kind: Kind
    retryable: bool
    status: int | None = None  # HTTP status (200 for an error event inside a stream)
    error_type: str | None = None  # Anthropic error.type
    request_id: str | None = None
    retry_after_s: float | None = None  # what the server asked for, parsed
    headers: Mapping[str, str] = field(default_factory=dict)
    mid_stream: bool = False  # the error arrived inside a 200 stream


def _kind_for(status: int, error_type: str | None) -> Kind:
    if status == 529 or error_type == "overloaded_error":
        return Kind.OVERLOADED
    if status == 429:
        return Kind.RATE_LIMITED
    if status == 408:
        return Kind.TIMEOUT
    if status == 409:
        return Kind.CONFLICT
    if status >= 500:
        return Kind.SERVER
    if status == 200:  # an error event inside a stream that is not an overload
        if error_type == "rate_limit_error":
            return Kind.RATE_LIMITED
        if error_type in ("api_error", "timeout_error"):
            return Kind.SERVER
        return Kind.CALLER
    return Kind.CALLER


def classify_status(
    status: int,
    error_type: str | None = None,
    should_retry: str | None = None,
    error_code: str | None = None,
) -> tuple[Kind, bool]:
    """``(kind, retryable)`` for an HTTP status (200 = an error event inside a stream), the
    body's ``error.type``, the ``x-should-retry`` header value and ``error.details.error_code``.

    This is the house's one retryable rule: the policy, the document runner and the load
    tests' reference clients all ask it (``classify_status(status)[1]`` for a bare status)."""
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"classify_status: status must be an HTTP status code 100-599, got {status!r}")
    kind = _kind_for(status, error_type)
    if status in NEVER_RETRY:
        return Kind.CALLER, False
    if should_retry == "false":
        return (Kind.SPEND_LIMITED if status == 429 else kind), False
    if status == 429 and error_code in SPEND_LIMIT_CODES:
        return Kind.SPEND_LIMITED, False
    if should_retry == "true":
        return kind, True
    if status in RETRY_STATUSES:
        return kind, True
    if status == 200:
        return kind, kind is not Kind.CALLER
    return kind, False


def _error_field(body: object, *path: str) -> str | None:
    """``body["error"][path...]`` when every step is a mapping and the value is a string."""
    value: object = body
    for key in ("error", *path):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, str) else None


def _error_code(body: object) -> str | None:
    return _error_field(body, "details", "error_code")


def _error_type(body: object) -> str | None:
    return _error_field(body, "type")


def _transport_kind(exc: BaseException) -> Kind | None:
    """Timeouts and connection failures from the SDK, httpx2/httpx, or the standard library."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "APITimeoutError" in names or "TimeoutException" in names or isinstance(exc, TimeoutError):
        return Kind.TIMEOUT
    if (
        "APIConnectionError" in names
        or "TransportError" in names  # httpx: RemoteProtocolError, ReadError, ConnectError ...
        or "StreamError" in names
        or "RetryableError" in names
        or isinstance(exc, (ConnectionError, EOFError))
    ):
        return Kind.CONNECTION
    return None


def classify_exception(exc: BaseException, *, now_wall: float) -> Failure | None:
    """Classify an exception raised by one attempt; None when it is not ours to judge."""
    if not isinstance(exc, Exception):
        return None
    if isinstance(exc, CircuitOpenError):
        return Failure(Kind.CIRCUIT_OPEN, retryable=False)
    if isinstance(exc, IncompleteStreamError):
        return Failure(Kind.CONNECTION, retryable=True, status=200, mid_stream=True)
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    if isinstance(status, int) and not isinstance(status, bool) and response is not None:
        headers: Mapping[str, str] = getattr(response, "headers", None) or {}
        body = getattr(exc, "body", None)
        error_type = getattr(exc, "type", None)
        if not isinstance(error_type, str):
            error_type = _error_type(body)
        if status == 200 and type(exc).__name__ == "APIResponseValidationError":
            kind, retryable = Kind.SERVER, True  # a 200 whose body is not a message
        else:
            try:
                kind, retryable = classify_status(
                    status, error_type, _header(headers, "x-should-retry"), _error_code(body)
                )
            except ValueError:
                return None
        request_id = getattr(exc, "request_id", None) or _header(headers, "request-id")
        return Failure(
            kind,
            retryable,
            status=status,
            error_type=error_type,
            request_id=request_id if isinstance(request_id, str) else None,
            retry_after_s=parse_retry_after(headers, now_wall=now_wall) if retryable else None,
            headers=headers,
            mid_stream=status == 200,
        )
    transport = _transport_kind(exc)
    if transport is not None:
        return Failure(transport, retryable=True)
    cause = exc.__cause__
    if cause is not None and cause is not exc:
        inner = classify_exception(cause, now_wall=now_wall)
        if inner is not None and inner.kind in (Kind.CONNECTION, Kind.TIMEOUT):
            return inner
    return None


class CircuitOpenError(anthropic.AnthropicError):
    """The model's circuit breaker is open: no request was sent. An ``anthropic.AnthropicError``,
    so code that catches the SDK's base error catches this too."""

    def __init__(self, model: str, retry_in_s: float) -> None:
        super().__init__(f"circuit breaker for model {model!r} is open; next probe in {retry_in_s:.1f}s")
        self.model = model
        self.retry_in_s = retry_in_s


class IncompleteStreamError(anthropic.APIConnectionError):
    """A 200 stream ended without ``message_stop``: cut off cleanly, or a body that was not an
    event stream at all. The SDK ends such a stream silently; the resilient wrapper treats it
    as the dropped connection it is (an ``anthropic.APIConnectionError``; retried while nothing
    was handed over)."""

    def __init__(self, last_event: str | None, *, request: httpx2.Request) -> None:
        where = f"after a {last_event!r} event" if last_event else "before any event"
        super().__init__(message=f"the stream ended {where}, without message_stop", request=request)
        self.last_event = last_event
