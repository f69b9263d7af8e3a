"""Reference clients built on the official SDK alone: what most code does today."""

from __future__ import annotations

import anthropic

from mockserver.clients.base import TEST_API_KEY, ClientUnderTest, sdk_stream

# Generous for a local mock, short enough that a hung connection cannot stall a test run.
TEST_TIMEOUT = anthropic.Timeout(30.0, connect=5.0)


def _sdk(base_url: str, *, max_retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key=TEST_API_KEY, max_retries=max_retries, timeout=TEST_TIMEOUT
    )


def sdk_defaults(base_url: str) -> ClientUnderTest:
    """``anthropic.Anthropic()`` as shipped: 2 retries (3 attempts), 0.5 s·2^n backoff with up
    to 25 % jitter, retry-after honoured, no fallback, no retry of a mid-stream error."""
    sdk = _sdk(base_url, max_retries=anthropic.DEFAULT_MAX_RETRIES)
    return ClientUnderTest(
        name="sdk-defaults",
        create=sdk.messages.create,
        stream=sdk_stream(sdk),
        claimed_max_attempts=sdk.max_retries + 1,
        close=sdk.close,
    )


def sdk_max_retries_5(base_url: str) -> ClientUnderTest:
    """The SDK with ``max_retries=5``: the usual first reaction to 529s (6 attempts, up to ~15 s)."""
    sdk = _sdk(base_url, max_retries=5)
    return ClientUnderTest(
        name="sdk-max-retries-5",
        create=sdk.messages.create,
        stream=sdk_stream(sdk),
        claimed_max_attempts=6,
        close=sdk.close,
    )
