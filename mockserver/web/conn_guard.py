"""Connection guards against slow and hostile peers: read timeouts, the fd limit, EMFILE.

- **Read timeouts.** A connection must deliver a request's headers within ``header_timeout_s`` of
  its first byte (or of being opened), and, while a request body is still coming, some of it
  every ``body_timeout_s``; otherwise it is closed. They bound *reading the request* only: once
  the body is complete the connection has no read deadline, so a slow stream being written, or
  an idle keep-alive connection, is never cut by them (aiohttp's keep-alive timeout handles
  idle ones). The deadline is kept on a lazily re-armed timer, one per connection.
- **The fd limit.** :func:`raise_fd_limit` raises the soft ``RLIMIT_NOFILE`` to the hard limit
  (``busysignal serve`` calls it at start), so that thousands of connections fit.
- **EMFILE.** asyncio already pauses ``accept()`` for a second when the process is out of file
  descriptors, but reports every occurrence to the loop's exception handler, a traceback each.
  :func:`install_accept_error_handler` logs the first one with what to do and then counts
  them, logging the count at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from mockserver.config import DEFAULT_BODY_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S
from mockserver.web.protocol_errors import JsonErrorHandler

log = logging.getLogger("busysignal.server")

_ACCEPT_ERROR = "socket.accept() out of system resource"

_HEADERS, _BODY, _IDLE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ReadTimeouts:
    header_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_s: float = DEFAULT_BODY_TIMEOUT_S

    def __post_init__(self) -> None:
        if not (self.header_s > 0 and self.body_s > 0):
            raise ValueError(f"read timeouts must be > 0 s, got {self.header_s} and {self.body_s}")


class GuardedHandler(JsonErrorHandler):
    """aiohttp's request handler with the read deadlines described in the module note, answering
    what it cannot parse as the API would (:class:`~mockserver.web.protocol_errors.JsonErrorHandler`)."""

    __slots__ = ("_guard_deadline", "_guard_handle", "_guard_payload", "_guard_phase", "_guard_timeouts")

    def __init__(self, manager: Server, timeouts: ReadTimeouts, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard_timeouts = timeouts
        self._guard_phase = _HEADERS
        self._guard_deadline = 0.0
        self._guard_handle: asyncio.TimerHandle | None = None
        self._guard_payload: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard_arm(_HEADERS, self._guard_timeouts.header_s)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        phase = self._guard_phase
        if phase == _BODY and self._guard_payload is not None and self._guard_payload.is_eof():
            phase = _IDLE
        if self._request_count != before:  # headers complete: now the body, if any is to come
            self._guard_payload = self._messages[-1][1] if self._messages else None
            if self._guard_payload is None or self._guard_payload.is_eof():
                self._guard_disarm()
            else:
                self._guard_arm(_BODY, self._guard_timeouts.body_s)
        elif phase == _IDLE and data:  # the first bytes of the next request
            self._guard_arm(_HEADERS, self._guard_timeouts.header_s)
        elif phase == _BODY:  # body bytes: the deadline moves on
            self._guard_deadline = self._loop.time() + self._guard_timeouts.body_s

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard_disarm()
        super().connection_lost(exc)

    def _guard_arm(self, phase: int, seconds: float) -> None:
        self._guard_phase = phase
        self._guard_deadline = self._loop.time() + seconds
        if self._guard_handle is None:
            self._guard_handle = self._loop.call_at(self._guard_deadline, self._guard_fire)

    def _guard_disarm(self) -> None:
        self._guard_phase = _IDLE
        if self._guard_handle is not None:
            self._guard_handle.cancel()
            self._guard_handle = None

    def _guard_fire(self) -> None:
        self._guard_handle = None
        if self._guard_phase == _IDLE:
            return
        if self._guard_phase == _BODY and self._guard_payload is not None and self._guard_payload.is_eof():
            self._guard_phase = _IDLE  # the body is all in: no read deadline while answering
            return
        if self._loop.time() < self._guard_deadline:  # data came meanwhile: wait on
            self._guard_handle = self._loop.call_at(self._guard_deadline, self._guard_fire)
            return
        log.debug(
            "closing a connection: request %s not read in time",
            "headers" if self._guard_phase == _HEADERS else "body",
        )
        self.force_close()  # closes the transport; a handler reading the body sees the connection go


class GuardedServer(Server):
    """aiohttp's connection factory, making :class:`GuardedHandler` connections."""

    def __init__(self, inner: Server, timeouts: ReadTimeouts) -> None:
        self.__dict__.update(vars(inner))  # the app's handler, request factory and handler options
        self._guard_timeouts = timeouts

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, self._guard_timeouts, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` whose connections have read timeouts."""

    def __init__(self, app: web.Application, timeouts: ReadTimeouts, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guard_timeouts = timeouts

    async def _make_server(self) -> Server:
        return GuardedServer(await super()._make_server(), self._guard_timeouts)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (when the hard limit is not infinite);
    returns the (old, new) soft limit. Never lowers it; an OS that refuses leaves it as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, hard


@dataclass(slots=True)
class AcceptErrors:
    """Counts of accept() failing for want of file descriptors, logged once and then summed."""

    clock: Callable[[], float]
    every_s: float = 60.0
    count: int = 0
    logged: int = 0
    last_log: float = 0.0

    def seen(self, exc: BaseException | None) -> str | None:
        """Count one failure; the line to log now, if any (the first, then one a minute)."""
        self.count += 1
        now = self.clock()
        if self.count == 1:
            self.last_log, self.logged = now, 1
            return (
                f"out of file descriptors accepting connections ({exc}); accepting again in 1 s. "
                "Raise the limit (ulimit -n) or close idle connections; further failures are counted"
            )
        if now - self.last_log >= self.every_s:
            new, self.logged, self.last_log = self.count - self.logged, self.count, now
            return f"out of file descriptors accepting connections: {new} more times ({self.count} in all)"
        return None


def install_accept_error_handler(loop: asyncio.AbstractEventLoop) -> AcceptErrors:
    """Route the loop's 'accept() out of system resource' reports to :class:`AcceptErrors`;
    every other report goes to the handler that was there before (or the default)."""
    errors = AcceptErrors(loop.time)
    previous = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_ERROR:
            line = errors.seen(context.get("exception"))
            if line is not None:
                log.warning(line)
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return errors
