"""What the conformance kit needs from a client: a way to make one call, and what it claims.

A *client factory* takes the mock's base URL and returns either a :class:`ClientUnderTest` or any
object with the SDK's surface (``.messages.create(...)``); :func:`as_client_under_test` adapts the
latter. The kit never looks inside: it makes calls and judges the server's journal.
"""

from __future__ import annotations

from collections.abc import Callable
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


def as_client_under_test(obj: Any, *, name: str | None = None) -> ClientUnderTest:
    """Accept a ClientUnderTest, or anything with ``.messages.create`` (an SDK client or a
    wrapper keeping its surface). An SDK client's claim is ``max_retries + 1``."""
    if isinstance(obj, ClientUnderTest):
        return obj
    messages = getattr(obj, "messages", None)
    if messages is None or not callable(getattr(messages, "create", None)):
        raise TypeError(
            f"a client factory must return a ClientUnderTest or an object with .messages.create, "
            f"got {type(obj).__name__}"
        )
    max_retries = getattr(obj, "max_retries", None)
    claim = max_retries + 1 if isinstance(max_retries, int) else None
    close = getattr(obj, "close", None)
    return ClientUnderTest(
        name=name or type(obj).__name__,
        create=messages.create,
        stream=sdk_stream(obj),
        claimed_max_attempts=claim,
        close=close if callable(close) else (lambda: None),
    )
