"""The Anthropic error vocabulary: which ``error.type`` and message go with an HTTP status."""

from __future__ import annotations

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

# retry-after of a 429 whose scenario names none: the smallest whole second, since the SDKs sleep
# as long as retry-after says (reference section 10, point 4); a scenario says `retry_after_s: null`
# for a 429 without it. The spend-limit 429 carries none, as the real one does.
DEFAULT_RETRY_AFTER_S = 1.0


def default_error(status: int) -> tuple[str, str]:
    """(error.type, message) for ``status``; unlisted 4xx are invalid_request_error, 5xx api_error."""
    known = _KNOWN.get(status)
    if known is not None:
        return known
    if 400 <= status < 500:
        return ("invalid_request_error", f"Request failed with status {status}")
    return ("api_error", f"Server error {status}")


def format_seconds(value: float) -> str:
    """A header value for seconds: an integer when whole, else a short decimal."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")
