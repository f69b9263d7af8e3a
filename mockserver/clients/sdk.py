"""Reference clients built on the official SDK alone: what most code does today.

Each factory takes a target (a base URL or a :class:`~mockserver.clients.connection.Connection`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anthropic

from mockserver.clients.base import ClientUnderTest, sdk_stream
from mockserver.clients.connection import Target, connection
from resilience import classify_exception

IMMEDIATE_RETRY_ATTEMPTS = 3


def _plain(name: str, target: Target, max_retries: int) -> ClientUnderTest:
    sdk = connection(target).sdk(max_retries=max_retries)
    return ClientUnderTest(
        name=name,
        create=sdk.messages.create,
        stream=sdk_stream(sdk),
        claimed_max_attempts=max_retries + 1,
        close=sdk.close,
    )


def no_retry(target: Target) -> ClientUnderTest:
    """The SDK with ``max_retries=0``: one attempt per call, every failure reaches the caller."""
    return _plain("no-retry", target, 0)


def sdk_defaults(target: Target) -> ClientUnderTest:
    """``anthropic.Anthropic()`` as shipped: 2 retries (3 attempts), 0.5 s·2^n backoff with up
    to 25 % jitter, retry-after honoured, no fallback, no retry of a mid-stream error."""
    return _plain("sdk-defaults", target, anthropic.DEFAULT_MAX_RETRIES)


def sdk_max_retries_5(target: Target) -> ClientUnderTest:
    """The SDK with ``max_retries=5``: the usual first reaction to 529s (6 attempts, up to ~15 s)."""
    return _plain("sdk-max-retries-5", target, 5)


def retryable(exc: Exception) -> bool:
    """Whether ``exc`` may be retried, by resilience's one rule (:func:`resilience.classify_exception`,
    whose statuses are :func:`resilience.classify_status`'s)."""
    failure = classify_exception(exc, now_wall=time.time())
    return failure is not None and failure.retryable


def _at_once(call: Callable[..., Any]) -> Callable[..., Any]:
    def retrying(**params: Any) -> Any:
        for attempt in range(1, IMMEDIATE_RETRY_ATTEMPTS + 1):
            try:
                return call(**params)
            except Exception as exc:
                if attempt == IMMEDIATE_RETRY_ATTEMPTS or not retryable(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return retrying


def immediate_retry(target: Target) -> ClientUnderTest:
    """The SDK with ``max_retries=0`` in a loop that retries what is retryable (:func:`retryable`),
    at once, up to 3 attempts (the SDK's count without its backoff, and without retry-after)."""
    sdk = connection(target).sdk(max_retries=0)
    return ClientUnderTest(
        name="immediate-retry",
        create=_at_once(sdk.messages.create),
        stream=_at_once(sdk_stream(sdk)),
        claimed_max_attempts=IMMEDIATE_RETRY_ATTEMPTS,
        close=sdk.close,
    )
