"""What the fault engine adds to the API's errors: the retry-after of a 429 that names none, and
how seconds are written in a header. Which ``error.type`` and message go with a status is the
wire's (:func:`mockserver.wire.errors.default_error`)."""

from __future__ import annotations

# retry-after of a 429 whose scenario names none: the smallest whole second, since the SDKs sleep
# as long as retry-after says (reference section 10, point 4); a scenario says `retry_after_s: null`
# for a 429 without it. The spend-limit 429 carries none, as the real one does.
DEFAULT_RETRY_AFTER_S = 1.0


def format_seconds(value: float) -> str:
    """A header value for seconds: an integer when whole, else a short decimal."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")
