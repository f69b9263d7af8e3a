"""Drop-in wrappers for the official SDK: ``ResilientAnthropic`` and ``AsyncResilientAnthropic``.

::

    client = ResilientAnthropic(anthropic.Anthropic())          # or ResilientAnthropic(api_key=...)
    message = client.messages.create(model=..., max_tokens=..., messages=[...])
    outcome_of(message).model                                    # which model answered

Kept surface: ``messages.create`` (streaming and not), ``messages.stream(...)`` and
``messages.count_tokens``, each run under the :class:`~resilience.policy.Policy`. Everything
else (``models``, ``messages.batches`` ...) passes through to the wrapped client untouched.

* The wrapped client's own retries are switched off (``with_options(max_retries=0)``): the
  policy does the retrying, never stacked on top of the SDK's. Passing a client with retries
  on is allowed but warned about (``RuntimeWarning`` and a log line).
* Which model answered: the returned ``Message`` and stream objects are the SDK's own types;
  :func:`outcome_of` reads the :class:`~resilience.policy.CallOutcome` attached to them
  (``message.model`` also names the model, as the API echoes it).
* Cache (``Policy(cache=...)``): outermost, non-streaming ``create`` only, complete successful
  messages only, never a fallback model's answer (it would keep serving the degraded model
  after the primary recovered); ``use_cache=False`` on a call opts out.
* Streams: see :data:`~resilience.policy.StreamRetry` for what is held back so that an
  ``overloaded_error`` arriving inside a 200 stream is retried before anything reached the caller.
* Each attempt's timeout is the time left before the policy's deadline (when that is shorter
  than the client's own timeout and the caller gave none), so a hung connection cannot outlive
  the deadline.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Literal, cast, overload

import anthropic
import httpx2
from anthropic import AsyncStream, Stream
from anthropic.lib.streaming import AsyncMessageStreamManager, MessageStreamManager
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent

from resilience._layers import attach_outcome, outcome_of
from resilience.policy import Attempt, Policy, through_cache, through_cache_async
from resilience.streams import (
    AsyncResilientStream,
    ResilientStream,
    _aprefetch,
    _Opened,
    _prefetch,
)

__all__ = [
    "AsyncResilientAnthropic",
    "AsyncResilientStream",
    "ResilientAnthropic",
    "ResilientStream",
    "outcome_of",
]

log = logging.getLogger("busysignal.resilience")

# The SDK's stream managers keep the request they will make in a private attribute; calling it
# is how each attempt sends exactly what `messages.stream(...)` would (helper headers,
# output_format). Pinned by a test against the installed SDK.
_SYNC_API_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_API_REQUEST = "_AsyncMessageStreamManager__api_request"


def _no_retries(client: Any, kind: str) -> Any:
    retries = getattr(client, "max_retries", 0)
    if retries:
        message = (
            f"busysignal: the {kind} passed to the resilient wrapper has max_retries={retries}; the SDK's "
            "own retries are now switched off (with_options(max_retries=0)) so that they do not stack with "
            "the policy's. Build the client with max_retries=0 to silence this warning."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=4)  # the line that built the wrapper
        log.warning("busysignal.sdk_retries_disabled client=%s max_retries=%s", kind, retries)
    return client.with_options(max_retries=0)


def _client_timeout_s(client: Any) -> float:
    timeout = getattr(client, "timeout", None)
    if isinstance(timeout, (int, float)):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, (int, float)) else math.inf


def _require_model(params: Mapping[str, Any], where: str) -> str:
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise TypeError(f"{where}: missing required keyword argument 'model' (a non-empty string)")
    return model


def _attempt_kwargs(
    attempt: Attempt, params: Mapping[str, Any], timeouts: tuple[float, bool], retry_count: int | None = None
) -> dict[str, Any]:
    """The SDK keyword arguments for one attempt: the attempt's parameters, the retry count
    header (``retry_count``, by default the attempt's number on this model minus one), and a
    timeout no longer than the time left before the deadline. The first attempt of the call
    keeps the SDK's own timeout logic (including its refusal of non-streaming requests too long
    for one response) unless the policy's deadline is shorter than the client's timeout; every
    later one (a retry, or the first attempt on a fallback model) gets only what is left."""
    client_timeout_s, deadline_shorter = timeouts
    retries = attempt.number - 1 if retry_count is None else retry_count
    kwargs = dict(attempt.params if attempt.params is not None else params)
    if retries > 0:  # tell the server which retry this is, as the SDK itself would
        kwargs["extra_headers"] = {
            "x-stainless-retry-count": str(retries),
            **(kwargs.get("extra_headers") or {}),
        }
    if "timeout" not in params and (retries > 0 or attempt.number_in_call > 1 or deadline_shorter):
        left = attempt.timeout_s
        if left is not None and left < client_timeout_s:
            kwargs["timeout"] = left
    return kwargs


def _not_a_message(response: httpx2.Response, detail: str) -> anthropic.APIResponseValidationError:
    return anthropic.APIResponseValidationError(
        response,
        None,
        message=f"busysignal: the {response.status_code} response body is not a message ({detail})",
    )


def _timeouts(client_timeout_s: float, policy: Policy) -> tuple[float, bool]:
    deadline = policy.retry.deadline_s
    return client_timeout_s, deadline is not None and deadline < client_timeout_s


def _materialize(params: dict[str, Any]) -> dict[str, Any]:
    """One-shot iterables (a generator of messages) would be empty on the second attempt: the
    SDK builds its body once, but the policy calls the SDK once per attempt. Lists are kept."""
    for key, value in params.items():
        if isinstance(value, Iterator):
            params[key] = list(value)
    return params


def _adopt(client: Any, options: dict[str, Any], sdk_type: type[Any], wrapper: str) -> Any:
    """The SDK client a wrapper uses: built from ``options`` (retries off), or ``client``
    checked and with its retries switched off."""
    if client is None:
        if "max_retries" in options:
            raise TypeError(f"{wrapper}: do not pass max_retries; the policy does the retrying")
        return sdk_type(max_retries=0, **options)
    if options:
        raise TypeError(
            f"{wrapper}: pass either a client or client options, not both (got {sorted(options)})"
        )
    if not isinstance(client, sdk_type):
        raise TypeError(
            f"{wrapper}: client must be an anthropic.{sdk_type.__name__}, got {type(client).__name__}"
        )
    return _no_retries(client, f"anthropic.{sdk_type.__name__}")


def _message(response: httpx2.Response, parsed: object) -> Message:
    """The parsed body of a 200 that must be a message; anything else (e.g. a text/plain 200)
    is the server's fault (retryable), as an ``APIResponseValidationError``."""
    if not isinstance(parsed, Message):
        raise _not_a_message(response, f"parsed as {type(parsed).__name__}")
    return parsed


class _StreamAttempts:
    """What both stream openers share: the retry count per model (resumptions included, as
    the ``x-stainless-retry-count`` header) and the SDK arguments of each attempt."""

    def __init__(self, policy: Policy, params: Mapping[str, Any], client_timeout_s: float) -> None:
        self.params = params
        self.mode = policy.stream_retry
        self.timeouts = _timeouts(client_timeout_s, policy)
        self.sent: dict[str, int] = {}

    def kwargs(self, a: Attempt) -> dict[str, Any]:
        self.sent[a.model] = self.sent.get(a.model, 0) + 1
        return _attempt_kwargs(a, self.params, self.timeouts, self.sent[a.model] - 1)

    def opened(self, a: Attempt, inner: Any, held: list[RawMessageStreamEvent], done: bool) -> _Opened:
        return _Opened(inner, held, done, a.model, a.params if a.params is not None else self.params)


class ResilientMessages:
    """``client.messages`` under the policy."""

    def __init__(self, owner: ResilientAnthropic) -> None:
        self._owner = owner

    @property
    def _sdk(self) -> anthropic.Anthropic:
        return self._owner.client

    @overload
    def create(self, *, stream: Literal[True], use_cache: bool = ..., **params: Any) -> ResilientStream: ...

    @overload
    def create(self, *, stream: Literal[False] = ..., use_cache: bool = ..., **params: Any) -> Message: ...

    @overload
    def create(self, *, stream: bool, use_cache: bool = ..., **params: Any) -> Message | ResilientStream: ...

    def create(
        self, *, stream: bool = False, use_cache: bool = True, **params: Any
    ) -> Message | ResilientStream:
        """``messages.create`` with the policy around it; same parameters as the SDK's, plus
        ``use_cache=False`` to bypass the response cache for this request."""
        model = _require_model(params, "messages.create")
        params = _materialize(params)
        if stream:
            sdk = self._sdk

            def open_stream(kwargs: dict[str, Any]) -> Stream[RawMessageStreamEvent]:
                return cast(Stream[RawMessageStreamEvent], sdk.messages.create(stream=True, **kwargs))

            return self._owner._open_stream(model, params, open_stream)
        policy = self._owner.policy
        client_timeout = _timeouts(self._owner._timeout_s, policy)

        def attempt(a: Attempt) -> Message:
            raw = self._sdk.messages.with_raw_response.create(**_attempt_kwargs(a, params, client_timeout))
            a.response_headers = raw.headers
            try:
                parsed: object = raw.parse()
            except ValueError as exc:  # a 200 whose body is not JSON: the server's fault, retryable
                raise _not_a_message(raw.http_response, str(exc)) from exc
            return _message(raw.http_response, parsed)

        return through_cache(
            policy,
            params,
            use_cache=use_cache,
            call=lambda: policy.call_with_outcome(attempt, model=model, params=params),
        )

    def stream(self, **params: Any) -> MessageStreamManager[Any]:
        """``messages.stream(...)``: the SDK's stream manager, opened under the policy."""
        model = _require_model(params, "messages.stream")
        params = _materialize(params)
        sdk = self._sdk

        def open_stream(kwargs: dict[str, Any]) -> Stream[RawMessageStreamEvent]:
            manager = sdk.messages.stream(**kwargs)
            api_request: Callable[[], Stream[RawMessageStreamEvent]] = getattr(manager, _SYNC_API_REQUEST)
            return api_request()

        return MessageStreamManager(
            lambda: self._owner._open_stream(model, params, open_stream),
            output_format=params.get("output_format", anthropic.NOT_GIVEN),
        )

    def count_tokens(self, **params: Any) -> MessageTokensCount:
        """``messages.count_tokens`` with retries, budget and throttle (no fallback: the count
        is only true for the model asked; no breaker: it is not a generation)."""
        model = _require_model(params, "messages.count_tokens")
        params = _materialize(params)
        client_timeout = _timeouts(self._owner._timeout_s, self._owner.policy)

        def attempt(a: Attempt) -> MessageTokensCount:
            return self._sdk.messages.count_tokens(**_attempt_kwargs(a, params, client_timeout))

        return self._owner.policy.call(
            attempt, model=model, params=params, use_fallback=False, use_breaker=False
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sdk.messages, name)


class ResilientAnthropic:
    """``anthropic.Anthropic`` under a :class:`Policy` (``Policy.default()`` when none given).

    ``ResilientAnthropic(client)`` wraps an existing client; ``ResilientAnthropic(**options)``
    builds one (same options as ``anthropic.Anthropic``, without ``max_retries``)."""

    def __init__(
        self,
        client: anthropic.Anthropic | None = None,
        *,
        policy: Policy | None = None,
        **client_options: Any,
    ) -> None:
        self.client: anthropic.Anthropic = _adopt(
            client, client_options, anthropic.Anthropic, "ResilientAnthropic"
        )
        self.policy = policy if policy is not None else Policy.default()
        self._timeout_s = _client_timeout_s(self.client)
        self.messages = ResilientMessages(self)

    def with_options(self, **options: Any) -> ResilientAnthropic:
        """A copy with different client options and the same policy (and so the same budget,
        breakers and limits)."""
        return ResilientAnthropic(self.client.with_options(**options), policy=self.policy)

    def _open_stream(
        self,
        model: str,
        params: Mapping[str, Any],
        open_stream: Callable[[dict[str, Any]], Stream[RawMessageStreamEvent]],
    ) -> ResilientStream:
        policy = self.policy
        attempts = _StreamAttempts(policy, params, self._timeout_s)

        def attempt(a: Attempt) -> _Opened:
            inner = open_stream(attempts.kwargs(a))
            a.response_headers = inner.response.headers
            try:
                held, done = _prefetch(inner, attempts.mode)
            except BaseException:
                inner.close()
                raise
            return attempts.opened(a, inner, held, done)

        def reopen(previous: _Opened) -> _Opened:
            previous.inner.close()
            return policy.call(
                attempt, model=previous.model, params=previous.params, use_fallback=False, resumption=True
            )

        opened, outcome = policy.call_with_outcome(attempt, model=model, params=params)
        stream = ResilientStream(opened, policy=policy, reopen=reopen)
        attach_outcome(stream, outcome)
        return stream

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ResilientAnthropic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


# --- async -----------------------------------------------------------------------------------
class AsyncResilientMessages:
    """``client.messages`` of the async client under the policy."""

    def __init__(self, owner: AsyncResilientAnthropic) -> None:
        self._owner = owner

    @property
    def _sdk(self) -> anthropic.AsyncAnthropic:
        return self._owner.client

    @overload
    async def create(
        self, *, stream: Literal[True], use_cache: bool = ..., **params: Any
    ) -> AsyncResilientStream: ...

    @overload
    async def create(
        self, *, stream: Literal[False] = ..., use_cache: bool = ..., **params: Any
    ) -> Message: ...

    @overload
    async def create(
        self, *, stream: bool, use_cache: bool = ..., **params: Any
    ) -> Message | AsyncResilientStream: ...

    async def create(
        self, *, stream: bool = False, use_cache: bool = True, **params: Any
    ) -> Message | AsyncResilientStream:
        """Async ``messages.create`` with the policy around it (see the sync one)."""
        model = _require_model(params, "messages.create")
        params = _materialize(params)
        if stream:
            sdk = self._sdk

            async def open_stream(kwargs: dict[str, Any]) -> AsyncStream[RawMessageStreamEvent]:
                return cast(
                    AsyncStream[RawMessageStreamEvent], await sdk.messages.create(stream=True, **kwargs)
                )

            return await self._owner._open_stream(model, params, open_stream)
        policy = self._owner.policy
        client_timeout = _timeouts(self._owner._timeout_s, policy)

        async def attempt(a: Attempt) -> Message:
            raw = await self._sdk.messages.with_raw_response.create(
                **_attempt_kwargs(a, params, client_timeout)
            )
            a.response_headers = raw.headers
            try:
                parsed: object = await raw.parse()
            except ValueError as exc:  # a 200 whose body is not JSON: the server's fault, retryable
                raise _not_a_message(raw.http_response, str(exc)) from exc
            return _message(raw.http_response, parsed)

        return await through_cache_async(  # a hung Redis never holds the event loop
            policy,
            params,
            use_cache=use_cache,
            call=lambda: policy.acall_with_outcome(attempt, model=model, params=params),
        )

    def stream(self, **params: Any) -> AsyncMessageStreamManager[Any]:
        """Async ``messages.stream(...)`` opened under the policy (use ``async with``)."""
        model = _require_model(params, "messages.stream")
        params = _materialize(params)
        sdk = self._sdk

        async def open_stream(kwargs: dict[str, Any]) -> AsyncStream[RawMessageStreamEvent]:
            manager = sdk.messages.stream(**kwargs)
            api_request: Awaitable[AsyncStream[RawMessageStreamEvent]] = getattr(manager, _ASYNC_API_REQUEST)
            return await api_request

        return AsyncMessageStreamManager(
            self._owner._open_stream(model, params, open_stream),
            output_format=params.get("output_format", anthropic.NOT_GIVEN),
        )

    async def count_tokens(self, **params: Any) -> MessageTokensCount:
        """Async ``messages.count_tokens`` with retries, budget and throttle (no fallback, no breaker)."""
        model = _require_model(params, "messages.count_tokens")
        params = _materialize(params)
        client_timeout = _timeouts(self._owner._timeout_s, self._owner.policy)

        async def attempt(a: Attempt) -> MessageTokensCount:
            return await self._sdk.messages.count_tokens(**_attempt_kwargs(a, params, client_timeout))

        return await self._owner.policy.acall(
            attempt, model=model, params=params, use_fallback=False, use_breaker=False
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sdk.messages, name)


class AsyncResilientAnthropic:
    """``anthropic.AsyncAnthropic`` under a :class:`Policy` (see :class:`ResilientAnthropic`)."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic | None = None,
        *,
        policy: Policy | None = None,
        **client_options: Any,
    ) -> None:
        self.client: anthropic.AsyncAnthropic = _adopt(
            client, client_options, anthropic.AsyncAnthropic, "AsyncResilientAnthropic"
        )
        self.policy = policy if policy is not None else Policy.default()
        self._timeout_s = _client_timeout_s(self.client)
        self.messages = AsyncResilientMessages(self)

    def with_options(self, **options: Any) -> AsyncResilientAnthropic:
        return AsyncResilientAnthropic(self.client.with_options(**options), policy=self.policy)

    async def _open_stream(
        self,
        model: str,
        params: Mapping[str, Any],
        open_stream: Callable[[dict[str, Any]], Awaitable[AsyncStream[RawMessageStreamEvent]]],
    ) -> AsyncResilientStream:
        policy = self.policy
        attempts = _StreamAttempts(policy, params, self._timeout_s)

        async def attempt(a: Attempt) -> _Opened:
            inner = await open_stream(attempts.kwargs(a))
            a.response_headers = inner.response.headers
            try:
                held, done = await _aprefetch(inner, attempts.mode)
            except BaseException:
                await inner.close()
                raise
            return attempts.opened(a, inner, held, done)

        async def reopen(previous: _Opened) -> _Opened:
            await previous.inner.close()
            return await policy.acall(
                attempt, model=previous.model, params=previous.params, use_fallback=False, resumption=True
            )

        opened, outcome = await policy.acall_with_outcome(attempt, model=model, params=params)
        stream = AsyncResilientStream(opened, policy=policy, reopen=reopen)
        attach_outcome(stream, outcome)
        return stream

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> AsyncResilientAnthropic:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
