"""Reference clients built on the official SDK alone: what most code does today."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic

from mockserver.clients.base import TEST_API_KEY, ClientUnderTest, sdk_stream

# Generous for a local mock, short enough that a hung connection cannot stall a test run.
TEST_TIMEOUT = anthropic.Timeout(30.0, connect=5.0)
IMMEDIATE_RETRY_ATTEMPTS = 3


def _sdk(base_url: str, *, max_retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key=TEST_API_KEY, max_retries=max_retries, timeout=TEST_TIMEOUT
    )


def _plain(name: str, base_url: str, max_retries: int) -> ClientUnderTest:
    sdk = _sdk(base_url, max_retries=max_retries)
    return ClientUnderTest(
        name=name,
        create=sdk.messages.create,
        stream=sdk_stream(sdk),
        claimed_max_attempts=max_retries + 1,
        close=sdk.close,
    )


def no_retry(base_url: str) -> ClientUnderTest:
    """The SDK with ``max_retries=0``: one attempt per call, every failure reaches the caller."""
    return _plain("no-retry", base_url, 0)


def sdk_defaults(base_url: str) -> ClientUnderTest:
    """``anthropic.Anthropic()`` as shipped: 2 retries (3 attempts), 0.5 s·2^n backoff with up
    to 25 % jitter, retry-after honoured, no fallback, no retry of a mid-stream error."""
    return _plain("sdk-defaults", base_url, anthropic.DEFAULT_MAX_RETRIES)


def sdk_max_retries_5(base_url: str) -> ClientUnderTest:
    """The SDK with ``max_retries=5``: the usual first reaction to 529s (6 attempts, up to ~15 s)."""
    return _plain("sdk-max-retries-5", base_url, 5)


def retryable(exc: Exception) -> bool:
    """What the SDK itself retries: a dropped connection, 408, 409, 429 and 5xx."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


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


def immediate_retry(base_url: str) -> ClientUnderTest:
    """The SDK with ``max_retries=0`` in a loop that retries what the SDK would retry, at once,
    up to 3 attempts (the SDK's count without its backoff, and without retry-after)."""
    sdk = _sdk(base_url, max_retries=0)
    return ClientUnderTest(
        name="immediate-retry",
        create=_at_once(sdk.messages.create),
        stream=_at_once(sdk_stream(sdk)),
        claimed_max_attempts=IMMEDIATE_RETRY_ATTEMPTS,
        close=sdk.close,
    )
