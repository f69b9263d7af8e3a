"""What the conformance kit needs from a client: a way to make one call, and what it claims.

A *client factory* takes the mock's base URL and returns either a :class:`ClientUnderTest` or any
object with the SDK's surface (``.messages.create(...)``); :func:`as_client_under_test` adapts the
latter. The kit never looks inside: it makes calls and judges the server's journal.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

PRIMARY_MODEL = "claude-opus-5-5"
FALLBACK_MODEL = "claude-haiku-5-5"
TEST_API_KEY = "sk-ant-busysignal-test"

CallFn = Callable[..., Any]


@dataclass
class ClientUnderTest:
    """A client as the kit drives it.

    ``create(**params)`` makes one non-streaming call and returns when the caller would have its
    answer (or raises what the caller would see); ``stream(**params)`` makes one streaming call and
    consumes it to the end. ``models`` is the fallback chain, primary first (the kit passes the
    primary as ``model``). ``claimed_max_attempts`` is what the client promises per logical request
    (one exact body), ``None`` when it makes no claim."""

    name: str
    create: CallFn
    stream: CallFn
    models: tuple[str, ...] = (PRIMARY_MODEL,)
    claimed_max_attempts: int | None = None
    close: Callable[[], None] = field(default=lambda: None)


def sdk_stream(sdk: Any) -> CallFn:
    def stream(**params: Any) -> Any:
        events = sdk.messages.create(stream=True, **params)
        last = None
        for event in events:
            last = event
        return last

    return stream


class _LoopThread:
    """An event loop in a daemon thread, so that the kit's threads can drive an async client
    (every call of one client runs on the same loop, as an async application's would)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="busysignal-async-client"
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def _async_adapter(obj: Any, name: str, claim: int | None) -> ClientUnderTest:
    runner = _LoopThread()

    async def stream_all(params: dict[str, Any]) -> Any:
        last = None
        async for event in await obj.messages.create(stream=True, **params):
            last = event
        return last

    def close() -> None:
        try:
            closer = getattr(obj, "close", None)
            if callable(closer):
                result = closer()
                if inspect.isawaitable(result):
                    runner.run(_awaited(result))
        finally:
            runner.stop()

    return ClientUnderTest(
        name=name,
        create=lambda **params: runner.run(obj.messages.create(**params)),
        stream=lambda **params: runner.run(stream_all(params)),
        claimed_max_attempts=claim,
        close=close,
    )


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def as_client_under_test(obj: Any, *, name: str | None = None) -> ClientUnderTest:
    """Accept a ClientUnderTest, or anything with ``.messages.create`` (an SDK client or a
    wrapper keeping its surface), sync or async (an async client runs on an event loop of its
    own). An SDK client's claim is ``max_retries + 1``."""
    if isinstance(obj, ClientUnderTest):
        return obj
    messages = getattr(obj, "messages", None)
    if messages is None or not callable(getattr(messages, "create", None)):
        raise TypeError(
            f"a client factory must return a ClientUnderTest or an object with .messages.create, "
            f"got {type(obj).__name__}"
        )
    claim, models = _claims(obj)
    label = name or type(obj).__name__
    if inspect.iscoroutinefunction(inspect.unwrap(messages.create)):
        cut = _async_adapter(obj, label, claim)
    else:
        close = getattr(obj, "close", None)
        cut = ClientUnderTest(
            name=label,
            create=messages.create,
            stream=sdk_stream(obj),
            claimed_max_attempts=claim,
            close=close if callable(close) else (lambda: None),
        )
    cut.models = models
    return cut


def _claims(obj: Any) -> tuple[int | None, tuple[str, ...]]:
    """(attempts per logical request, fallback chain) a client declares: a resilience wrapper's
    ``policy`` (retry.max_attempts, fallback.models), else an SDK client's ``max_retries + 1``."""
    policy = obj.__dict__.get("policy") if hasattr(obj, "__dict__") else None
    retry = getattr(policy, "retry", None)
    attempts = getattr(retry, "max_attempts", None)
    if isinstance(attempts, int):
        fallback = getattr(policy, "fallback", None)
        chain = tuple(getattr(fallback, "models", ()) or ()) or (PRIMARY_MODEL,)
        return attempts, chain
    max_retries = getattr(obj, "max_retries", None)
    return (max_retries + 1 if isinstance(max_retries, int) else None), (PRIMARY_MODEL,)
