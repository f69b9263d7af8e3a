"""Reading a request body within a limit, and refusing bodies the real API would refuse.

- **The whole body.** When all of it has arrived (the usual case) :func:`arrived_body` takes it
  as it lies (no read loop, no coroutine); else :func:`read_limited` reads it.
- **Limits.** :func:`read_limited` answers 413 ``request_too_large`` as soon as a limit is passed:
  from ``Content-Length`` before anything is read, or while the body streams in (chunked or
  compressed), never after reading everything. The limit is the route's (32 MB for Messages and
  count_tokens, 256 MB for Batches; the scenario PUT keeps its own 1 MiB cap in
  :mod:`mockserver.web.control_guard`).
- **Compressed bodies.** aiohttp inflates ``gzip``/``deflate``/``br`` bodies incrementally as they
  arrive (a bounded piece per step, paused by the reader's flow control), so counting the inflated
  bytes as they are read bounds the decompressed size by the same limit: a gzip bomb is refused
  once it has inflated past the route's limit. A body that does not decode as its
  ``Content-Encoding`` says is a 400 ``invalid_request_error``, not a 500.
- **Stats.** :data:`BODY_STATS` counts the refusals and keeps the largest number of (inflated)
  bytes any refused read had taken in, so a test can prove the bound without timing RSS.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import ContentEncodingError

from mockserver.wire.errors import ApiError, invalid

TOO_LARGE_MESSAGE = "Request exceeds the maximum allowed number of bytes."


@dataclass
class BodyStats:
    """Process-wide counts of refused bodies (the reader has no app at hand)."""

    too_large: int = 0
    bad_encoding: int = 0
    largest_refused_read: int = 0  # inflated bytes taken in by a refused read, the most seen

    def to_dict(self) -> dict[str, int]:
        return {
            "too_large": self.too_large,
            "bad_encoding": self.bad_encoding,
            "largest_refused_read": self.largest_refused_read,
        }


BODY_STATS = BodyStats()


def too_large(read: int = 0) -> ApiError:
    BODY_STATS.too_large += 1
    BODY_STATS.largest_refused_read = max(BODY_STATS.largest_refused_read, read)
    return ApiError(413, "request_too_large", TOO_LARGE_MESSAGE)


def _bad_encoding(request: web.BaseRequest) -> ApiError:
    BODY_STATS.bad_encoding += 1
    coding = request.headers.get("Content-Encoding", "").strip().lower()[:32]
    shown = coding if coding.isascii() and coding.isprintable() else "the given coding"
    return invalid(f"The request body could not be decoded as Content-Encoding {shown!r}")


async def read_limited(request: web.BaseRequest, limit: int) -> bytes:
    """The (inflated) body, or a 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        _stop_reading(request)
        raise too_large()
    content = request.content
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := await content.readany():
            size += len(chunk)
            if size > limit:
                parts.clear()
                _stop_reading(request)
                raise too_large(size)
            parts.append(chunk)
    except ContentEncodingError:
        raise _bad_encoding(request) from None
    except web.RequestPayloadError as exc:  # aiohttp wraps the parser's decoding error in it
        if isinstance(exc.__cause__, ContentEncodingError):
            raise _bad_encoding(request) from None
        raise
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _stop_reading(request: web.BaseRequest) -> None:
    """After a 413 the rest of the body is not wanted: the connection is not kept alive once the
    answer is sent (aiohttp still reads and drops what follows for a short lingering time, so
    the client gets the answer; nothing of it is kept)."""
    request.protocol.close()


def arrived_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The request's body when all of it has arrived (the usual case: no read loop, no coroutine),
    a 413 when that is over ``limit`` bytes, None when more is to come (then :func:`read_limited`).

    A body that arrived in one piece is taken as it lies, without draining the reader:
    read_nowait would also run aiohttp's flow control (resume reading, feed the parser nothing)
    for a connection that was never paused; what stays in the reader goes with the request.
    Anything else (several pieces, a failed reader, another reader) is the reader's read_nowait."""
    content = request.content
    if not content.is_eof():
        return None
    raw = None
    if type(content) is StreamReader:
        try:
            if content._exception is None and not content._buffer_offset:
                chunks = content._buffer
                if len(chunks) == 1:
                    raw = chunks[0]
        except AttributeError:  # a reader laid out otherwise (another aiohttp): the public read path
            pass
    if raw is None:
        raw = content.read_nowait(-1)
    if len(raw) > limit:
        raise too_large()
    return raw
