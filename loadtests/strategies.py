"""Client strategies under test, each a real SDK client pointed at the mock (no Locust here).

Every strategy is built on an SDK client whose HTTP transport is wrapped by
:class:`AttemptRecorder`, which sees each HTTP attempt the stack makes (the SDK's own retries,
tenacity's, the bundled policy's) and reports it to a callback when its response body is done
(or when it failed or was interrupted). The Locust users turn those callbacks into request
events; a strategy's ``call`` is one *logical* call.

Strategies (``STRATEGIES``):

``no-retry``          SDK with ``max_retries=0``: one attempt per call.
``immediate-retry``   SDK with ``max_retries=0`` plus a loop retrying retryable failures at once, up to
                      3 attempts (the SDK's count, without its backoff).
``sdk-defaults``      the SDK as shipped: 2 retries, 0.5 s doubling backoff with jitter, Retry-After.
``article-recipe``    tenacity ``retry_if_exception_type(APIStatusError)``,
                      ``wait_exponential(min=4, max=60)``, ``stop_after_attempt(5)`` around the
                      default SDK client, which keeps its own 2 retries (up to 5 × 3 = 15 attempts).
``bundled``           ``resilience.ResilientAnthropic`` with ``Policy.default()`` (SDK retries off
                      underneath) but a static concurrency limit: adaptive throttling switched off.
``bundled-adaptive``  ``Policy.default()`` as shipped, whose concurrency limit adapts (AIMD: halved on
                      each burst of 529s or timed-out attempts, +1 per round of successes).

Every strategy uses the same per-attempt timeout (``timeout_s``; the SDK's 600 s when not given),
so that they differ only in how they retry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic
import httpx2

from loadtests.strategy_names import STRATEGIES

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

IMMEDIATE_RETRY_ATTEMPTS = 3


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


def _sdk(
    base_url: str,
    api_key: str,
    http_client: httpx2.Client,
    *,
    max_retries: int,
    timeout: float | anthropic.Timeout,
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key=api_key, http_client=http_client, max_retries=max_retries, timeout=timeout
    )


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


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
    """One logical call of strategy ``name``: ``call(prompt)`` returns the message or raises."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    if timeout_s is not None and not timeout_s > 0:
        raise StrategyError(f"timeout_s must be > 0, got {timeout_s}")
    http_client = recording_http_client(on_attempt, is_closed=is_closed, inner=inner_transport)
    timeout: float | anthropic.Timeout = anthropic.DEFAULT_TIMEOUT if timeout_s is None else timeout_s

    def params(prompt: str) -> dict[str, Any]:
        return {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}]}

    if name in ("no-retry", "sdk-defaults"):
        client = _sdk(
            base_url, api_key, http_client, max_retries=0 if name == "no-retry" else 2, timeout=timeout
        )

        def plain(prompt: str) -> object:
            return client.messages.create(**params(prompt))

        return plain

    if name == "immediate-retry":
        bare = _sdk(base_url, api_key, http_client, max_retries=0, timeout=timeout)

        def immediate(prompt: str) -> object:
            for attempt in range(IMMEDIATE_RETRY_ATTEMPTS):
                try:
                    return bare.messages.create(**params(prompt))
                except Exception as exc:
                    if attempt == IMMEDIATE_RETRY_ATTEMPTS - 1 or not _retryable(exc):
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        return immediate

    if name == "article-recipe":
        from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

        sdk = _sdk(base_url, api_key, http_client, max_retries=2, timeout=timeout)

        @retry(
            retry=retry_if_exception_type(anthropic.APIStatusError),
            wait=wait_exponential(min=4, max=60),
            stop=stop_after_attempt(5),
            reraise=True,
        )
        def recipe(prompt: str) -> object:
            return sdk.messages.create(**params(prompt))

        return recipe

    return _bundled(
        name, base_url=base_url, api_key=api_key, http_client=http_client, timeout=timeout, params=params
    )


def _bundled(
    name: str,
    *,
    base_url: str,
    api_key: str,
    http_client: httpx2.Client,
    timeout: float | anthropic.Timeout,
    params: Callable[[str], dict[str, Any]],
) -> CallFn:
    from resilience import Policy, ResilientAnthropic

    policy = Policy.default()
    policy.log_events = False  # one log line per event would cost more CPU than the calls
    if name == "bundled" and policy.limit is not None:
        policy.limit.adaptive = None  # the same policy with a static concurrency limit
    sdk = anthropic.Anthropic(
        base_url=base_url, api_key=api_key, http_client=http_client, max_retries=0, timeout=timeout
    )
    client = ResilientAnthropic(sdk, policy=policy)

    def bundled(prompt: str) -> object:
        return client.messages.create(**params(prompt))

    return bundled


def new_prompt(prefix: str = "busysignal load") -> str:
    """A prompt unique to one logical call, so the journal never merges two calls."""
    return f"{prefix} {uuid.uuid4().hex}"
