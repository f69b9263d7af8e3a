"""Anthropic-shaped errors: which `error.type` and message go with a status, the exception the
request pipeline raises and the body it becomes.

A refusal the real API names with a stable code carries it as ``code``: its body then holds
``"details": {"error_code": code}`` inside ``error`` (what the SDK reads as ``APIStatusError.error_code``
and uses, with the status, to choose its class); a refusal without one has no ``details`` at all."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii  # what json.dumps(str) calls
from typing import Any

# status -> (error.type, message) as the real API (or its edge) sends them.
_KNOWN: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    408: ("timeout_error", "Request timed out"),
    409: ("conflict_error", "Conflict"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out while processing"),
    529: ("overloaded_error", "Overloaded"),
}


def default_error(status: int) -> tuple[str, str]:
    """(error.type, message) for ``status``; unlisted 4xx are invalid_request_error, 5xx api_error."""
    known = _KNOWN.get(status)
    if known is not None:
        return known
    if 400 <= status < 500:
        return ("invalid_request_error", f"Request failed with status {status}")
    return ("api_error", f"Server error {status}")


class ApiError(Exception):
    """A request the API refuses; becomes ``{"type":"error","error":{...},"request_id":...}``
    (with ``error.details.error_code`` when ``code`` names the cause)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers: Mapping[str, str] = headers or {}
        self.code = code


def invalid(message: str, *, code: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", message, code=code)


def not_found(message: str, *, code: str | None = None) -> ApiError:
    return ApiError(404, "not_found_error", message, code=code)


def error_object(error_type: str, message: str, code: str | None = None) -> dict[str, object]:
    """``{"type": "error", "error": {...}}``; ``error.details.error_code`` only when ``code`` is given."""
    if code is None:
        return {"type": "error", "error": {"type": error_type, "message": message}}
    error = {"type": error_type, "message": message, "details": {"error_code": code}}
    return {"type": "error", "error": error}


_error_heads: dict[tuple[str, str], bytes] = {}


def error_body(error_type: str, message: str, request_id: str | None, code: str | None = None) -> bytes:
    """The compact JSON error body; ``request_id`` (when given) is its last field, ``code`` (when
    given) is ``error.details.error_code``.

    A scenario sends the same few errors over and over: the encoded head of each (everything but
    the request id) is kept, so a repeat costs one id encoding. A coded refusal is rare and is
    encoded whole."""
    if code is not None:
        coded = error_object(error_type, message, code)
        if request_id is not None:
            coded["request_id"] = request_id
        return json.dumps(coded, separators=(",", ":")).encode()
    if request_id is None:
        return json.dumps(error_object(error_type, message), separators=(",", ":")).encode()
    head = _error_heads.get((error_type, message))
    if head is None:
        head = json.dumps(error_object(error_type, message), separators=(",", ":")).encode()[:-1]
        head += b',"request_id":'
        if len(_error_heads) < 1024:
            _error_heads[(error_type, message)] = head
    return head + encode_basestring_ascii(request_id).encode() + b"}"  # json.dumps(request_id)


_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class IdFactory:
    """Unique ids shaped like the API's (``req_011C…``, ``msg_011C…``), cheap to make.

    A random per-server prefix keeps ids unique across server runs; a counter keeps them
    unique within one. Ids are not content, so they are not derived from the seed.
    """

    __slots__ = ("_counter", "_prefix", "_request_prefix")

    def __init__(self, prefix: str | None = None) -> None:
        if prefix is None:
            raw = os.urandom(8)
            prefix = "".join(_ALPHABET[b % len(_ALPHABET)] for b in raw)
        self._prefix = "011C" + prefix
        self._request_prefix = "req_" + self._prefix
        self._counter = 0

    def next_suffix(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:012x}"

    def request_id(self) -> str:
        """``"req_" + next_suffix()`` (one call: a request id is made for every request)."""
        self._counter = counter = self._counter + 1
        return "%s%012x" % (self._request_prefix, counter)  # noqa: UP031 - faster than the f-string


def bounded_list(raw: Any, name: str, *, most: int, empty: str, too_many: str) -> list[Any]:
    """``raw`` when it is a list of 1 to ``most`` items; else the 400 that says which (the
    messages ``empty`` and ``too_many`` follow ``name: ``)."""
    if not isinstance(raw, list):
        raise invalid(f"{name}: Input should be a valid list")
    if not raw:
        raise invalid(f"{name}: {empty}")
    if len(raw) > most:
        raise invalid(f"{name}: {too_many}")
    return raw
