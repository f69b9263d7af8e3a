"""An answer that would run past the model's context window (input plus max_tokens over the
catalogue's max_input_tokens) stops where the window is full, with the SDK 2.x stop reason
``model_context_window_exceeded`` (a 200, not a refusal), JSON and streamed alike."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types import MessageParam
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.wire.catalogue import catalogue_from_data

WINDOW = 40  # the tiny model's context window, in tokens
CATALOGUE = catalogue_from_data(
    {
        "models": [
            {"id": "claude-tiny", "max_tokens": 1000, "max_input_tokens": WINDOW},
            {"id": "claude-roomy", "max_tokens": 1000},  # the default window, 200,000 tokens
        ]
    }
)
HI: list[MessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(catalogue=CATALOGUE) as srv:
        yield srv


@pytest.fixture(scope="module")
def sdk(server: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=TEST_KEY, _strict_response_validation=True)


def test_the_answer_stops_when_the_window_is_full(sdk: anthropic.Anthropic) -> None:
    message = sdk.messages.create(model="claude-tiny", max_tokens=500, messages=HI)
    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.input_tokens + message.usage.output_tokens == WINDOW
    assert message.content and message.content[0].type == "text"


def test_a_stream_ends_with_the_same_stop_reason(sdk: anthropic.Anthropic) -> None:
    with sdk.messages.stream(model="claude-tiny", max_tokens=500, messages=HI) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "model_context_window_exceeded"
    assert final.usage.input_tokens + final.usage.output_tokens == WINDOW


def test_within_the_window_nothing_changes(sdk: anthropic.Anthropic) -> None:
    full = sdk.messages.create(model="claude-tiny", max_tokens=500, messages=HI)
    room = WINDOW - full.usage.input_tokens
    cut = sdk.messages.create(model="claude-tiny", max_tokens=room - 1, messages=HI)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == room - 1
    roomy = sdk.messages.create(model="claude-roomy", max_tokens=500, messages=HI)
    assert roomy.stop_reason in ("end_turn", "max_tokens")


async def test_the_async_client_sees_it_too(server: MockServer) -> None:
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key=TEST_KEY) as sdk:
        message = await sdk.messages.create(model="claude-tiny", max_tokens=500, messages=HI)
    assert message.stop_reason == "model_context_window_exceeded"
