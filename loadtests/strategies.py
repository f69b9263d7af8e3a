"""Client strategies under test: the catalogue's reference clients, pointed at the mock and
recorded (no Locust here).

A strategy is the reference client of the same name from the one catalogue,
``mockserver/clients/`` (``STRATEGIES``: the names of ``mockserver/clients/names.py`` that have a
Locust user), the very client ``busysignal verify --client NAME`` and ``demo --clients NAME``
judge. Only its connection differs: its SDK clients send through :class:`AttemptRecorder`, which
sees each HTTP attempt the stack makes (the SDK's own retries, tenacity's, the bundled policy's)
and reports it to a callback when its response body is done (or when it failed or was
interrupted), with the run's API key and per-attempt timeout. The Locust users turn those
callbacks into request events; a strategy's ``call`` is one *logical* call.

``no-retry``          SDK with ``max_retries=0``: one attempt per call.
``immediate-retry``   SDK with ``max_retries=0`` plus a loop retrying retryable failures (resilience's
                      rule) at once, up to 3 attempts (the SDK's count, without its backoff).
``sdk-defaults``      the SDK as shipped: 2 retries, 0.5 s doubling backoff with jitter, Retry-After.
``article-recipe``    tenacity ``retry_if_exception_type(APIStatusError)``,
                      ``wait_exponential(min=4, max=60)``, ``stop_after_attempt(5)`` around the
                      default SDK client, which keeps its own 2 retries (up to 5 × 3 = 15 attempts).
``bundled``           ``resilience.ResilientAnthropic`` with the catalogue's ``Policy.default()`` (SDK
                      retries off underneath) but a static concurrency limit: adaptive throttling off.
``bundled-adaptive``  the same policy as shipped, whose concurrency limit adapts (AIMD: halved on
                      each burst of 529s or timed-out attempts, +1 per round of successes).

The bundled clients' fallback chain is the catalogue's (``PRIMARY_MODEL`` → ``FALLBACK_MODEL``);
a run whose model is not in it (the default ``claude-sonnet-5-5``) never falls back. Every
strategy uses the same per-attempt timeout (``timeout_s``; the SDK's 600 s when not given), so
that they differ only in how they retry. Everything here is synchronous: it runs in Locust's
gevent-patched processes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import anthropic
import httpx2

from mockserver.clients import reference_client
from mockserver.clients.connection import Connection
from mockserver.clients.names import STRATEGY_NAMES

__all__ = [
    "STRATEGIES",
    "AttemptRecord",
    "AttemptRecorder",
    "CallFn",
    "RunEnded",
    "StrategyError",
    "build_strategy",
    "recording_http_client",
]

STRATEGIES: tuple[str, ...] = STRATEGY_NAMES


class StrategyError(ValueError):
    """An unknown strategy, or one whose dependencies are missing."""


class RunEnded(BaseException):
    """Raised instead of sending an attempt once the run is closing.

    A ``BaseException`` so that no retry layer (the SDK, tenacity, the policy) retries it: the
    call ends at once, nothing reaches the server, and no attempt is reported.
    """


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    method: str
    path: str
    started: float  # epoch seconds
    duration_s: float
    status: int | None  # None when no response came back
    error: str | None  # exception class name, or "interrupted"
    response_bytes: int


AttemptCallback = Callable[[AttemptRecord], None]


class _RecordedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, done: Callable[[int, str | None], None]) -> None:
        self._inner = inner
        self._done = done
        self._bytes = 0
        self._finished = False

    def _finish(self, error: str | None) -> None:
        if not self._finished:
            self._finished = True
            self._done(self._bytes, error)

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._bytes += len(chunk)
                yield chunk
        except BaseException as exc:
            self._finish(type(exc).__name__)
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._finish(None)


class AttemptRecorder(httpx2.BaseTransport):
    """A transport that reports every HTTP attempt passing through it, exactly once.

    An attempt is reported when its body has been read and closed, when the transport raised,
    or when the greenlet/thread running it was interrupted (``error="interrupted"`` for
    ``GreenletExit``/``KeyboardInterrupt``) so that an attempt the server saw is never lost from
    the client-side count. Once ``is_closed()`` is true it refuses new attempts (:class:`RunEnded`),
    so a run can end cleanly: no attempt is cut between the client and the server.
    """

    def __init__(
        self,
        inner: httpx2.BaseTransport,
        on_attempt: AttemptCallback,
        *,
        is_closed: Callable[[], bool] | None = None,
    ) -> None:
        self._inner = inner
        self._on_attempt = on_attempt
        self._is_closed = is_closed

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._is_closed is not None and self._is_closed():
            raise RunEnded("the run is closing: no new attempts")
        started = time.time()
        t0 = time.perf_counter()
        method, path = request.method, request.url.path
        try:
            response = self._inner.handle_request(request)
        except BaseException as exc:
            error = type(exc).__name__ if isinstance(exc, Exception) else "interrupted"
            self._on_attempt(AttemptRecord(method, path, started, time.perf_counter() - t0, None, error, 0))
            raise
        status = response.status_code

        def done(nbytes: int, error: str | None) -> None:
            self._on_attempt(
                AttemptRecord(method, path, started, time.perf_counter() - t0, status, error, nbytes)
            )

        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _RecordedStream(response.stream, done)
        return response

    def close(self) -> None:
        self._inner.close()


def recording_http_client(
    on_attempt: AttemptCallback,
    *,
    max_connections: int = 1000,
    is_closed: Callable[[], bool] | None = None,
    inner: httpx2.BaseTransport | None = None,
) -> httpx2.Client:
    """An HTTP client with the SDK's default timeout and limits whose attempts are all recorded.

    ``inner`` replaces the real network transport (tests use ``httpx2.MockTransport``)."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=min(100, max_connections)
    )
    base = inner if inner is not None else httpx2.HTTPTransport(limits=limits)
    transport = AttemptRecorder(base, on_attempt, is_closed=is_closed)
    return httpx2.Client(transport=transport, timeout=anthropic.DEFAULT_TIMEOUT, limits=limits)


class CallFn(Protocol):
    def __call__(self, prompt: str) -> object: ...


def build_strategy(
    name: str,
    *,
    base_url: str,
    api_key: str,
    on_attempt: AttemptCallback,
    model: str,
    max_tokens: int = 16,
    timeout_s: float | None = None,
    is_closed: Callable[[], bool] | None = None,
    inner_transport: httpx2.BaseTransport | None = None,
) -> CallFn:
    """One logical call of strategy ``name``: ``call(prompt)`` returns the message or raises.

    The client is the catalogue's (:func:`mockserver.clients.reference_client`), connected
    through the recording transport with this run's key and per-attempt timeout."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    if timeout_s is not None and not timeout_s > 0:
        raise StrategyError(f"timeout_s must be > 0, got {timeout_s}")
    http_client = recording_http_client(on_attempt, is_closed=is_closed, inner=inner_transport)
    timeout: float | anthropic.Timeout = anthropic.DEFAULT_TIMEOUT if timeout_s is None else timeout_s
    target = Connection(base_url, api_key=api_key, timeout=timeout, http_client=http_client)
    client = reference_client(name)(target)

    def call(prompt: str) -> object:
        messages = [{"role": "user", "content": prompt}]
        return client.create(model=model, max_tokens=max_tokens, messages=messages)

    return call


def new_prompt(prefix: str = "busysignal load") -> str:
    """A prompt unique to one logical call, so the journal never merges two calls."""
    return f"{prefix} {uuid.uuid4().hex}"
