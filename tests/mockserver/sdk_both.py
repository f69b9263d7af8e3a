"""One test body for the installed SDK's sync and async clients (tests/mockserver/test_sdk1_*.py).

The ``sdk`` fixture there gives either client, both with strict response validation and no
retries; a body written ``await done(client.beta.vaults.create(...))`` runs the sync call as it
is and awaits the async one, ``await every(client.x.list())`` reads every item of every page
(auto-paging, sync or async) and of a stream. These modules run under whichever major of the SDK
is installed: 2.x in .venv, the newest 1.x in .venv-sdk1 (``make sdk1``).
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import anthropic
import pytest
from tests.support import TEST_KEY, error_message, strict_client

from mockserver import MockServer

MAJOR = int(anthropic.__version__.split(".")[0])
MODES = ("sync", "async")
Mode = Literal["sync", "async"]


def both_clients(server: MockServer, mode: Mode) -> Any:
    """The strict client of ``mode`` for ``server`` (no retries)."""
    if mode == "sync":
        return strict_client(server)
    return anthropic.AsyncAnthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
    )


async def close(client: Any) -> None:
    await done(client.close())


async def done(value: Any) -> Any:
    """A sync call's answer as it is, an async call's awaited."""
    return await value if inspect.isawaitable(value) else value


async def every(listing: Any) -> list[Any]:
    """Every item of a listing (all its pages) or of a stream, sync or async."""
    if inspect.isawaitable(listing) and not hasattr(listing, "__aiter__"):
        listing = await listing  # an async stream call answers the stream when awaited
    if hasattr(listing, "__aiter__"):
        return [item async for item in listing]
    return list(listing)


async def read(response: Any) -> bytes:
    """The bytes of a binary answer (a download), sync or async."""
    body: bytes = await done(response.read())
    return body


async def not_found(call: Any, *names: str) -> str:
    """The 404 the API answers for ``call`` (a zero-argument callable): the SDK's NotFoundError,
    the body's ``not_found_error`` type, a message naming each of ``names``; the message."""
    with pytest.raises(anthropic.NotFoundError) as err:
        await done(call())
    assert err.value.status_code == 404
    assert err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    message = error_message(err)
    for name in names:
        assert name in message, (name, message)
    return message
