"""The hand-written two-model fallback loop, as commonly written::

    for model in (PRIMARY, FALLBACK):
        try:
            return client.messages.create(model=model, **params)
        except anthropic.APIError as exc:
            last = exc
    raise last

Each model gets the SDK's own three attempts. It catches every API error, so a 400 caused by the
caller's own request is sent to the second model as well.
"""

from __future__ import annotations

from typing import Any

import anthropic

from mockserver.clients.base import FALLBACK_MODEL, PRIMARY_MODEL, ClientUnderTest, sdk_stream
from mockserver.clients.connection import Target, connection


def fallback_loop(
    target: Target, *, models: tuple[str, ...] = (PRIMARY_MODEL, FALLBACK_MODEL)
) -> ClientUnderTest:
    if len(models) < 1:
        raise ValueError("fallback_loop needs at least one model")
    sdk = connection(target).sdk()

    def _loop(call: Any, params: dict[str, Any]) -> Any:
        params.pop("model", None)
        last: anthropic.APIError | None = None
        for model in models:
            try:
                return call(model=model, **params)
            except anthropic.APIError as exc:
                last = exc
        assert last is not None
        raise last

    def create(**params: Any) -> Any:
        return _loop(sdk.messages.create, params)

    stream_one = sdk_stream(sdk)

    def stream(**params: Any) -> Any:
        return _loop(stream_one, params)

    return ClientUnderTest(
        name="fallback-loop",
        create=create,
        stream=stream,
        models=models,
        claimed_max_attempts=sdk.max_retries + 1,
        close=sdk.close,
    )
