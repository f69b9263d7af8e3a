"""Fast mode on POST /v1/messages: ``speed`` accepted ("fast", "standard") on the models with fast
mode, echoed as ``usage.speed`` (JSON and the stream's message_start), refused when it is anything
else, on a model without fast mode, and without the fast-mode beta on a model that needs it; a
scenario rule with ``match.speed`` that overloads fast capacity while standard is fine."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, error_message

from mockserver import MockServer

MODEL = "claude-opus-5-5"  # fast mode without a beta
BETA_FAST = "claude-opus-4-6"  # fast mode with the fast-mode beta only
NOT_FAST = "claude-sonnet-4-6"  # no fast mode
FAST_BETA: Any = "fast-mode-2026-02-01"
SLOW: Any = "slow"  # not a speed the API knows
HI: Any = [{"role": "user", "content": "hi"}]
FAST_OVERLOADED = {
    "name": "fast-overloaded",
    "description": "fast capacity is overloaded, standard is fine",
    "rules": [
        {
            "id": "fast-529",
            "match": {"speed": "fast"},
            "fault": {"error": {"status": 529, "retry_after_ms": 1}},
        }
    ],
}
STANDARD_LIMITED = {
    "name": "standard-limited",
    "description": "standard requests (with or without speed) are rate limited",
    "rules": [{"match": {"speed": "standard"}, "fault": {"error": {"status": 429, "retry_after_ms": 1}}}],
}


def _client(server: MockServer, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=retries, _strict_response_validation=True
    )


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as srv:
        yield srv


@pytest.mark.parametrize("speed", ["fast", "standard"])
def test_the_speed_is_accepted_and_echoed(server: MockServer, speed: Any) -> None:
    client = _client(server)
    message = client.messages.create(model=MODEL, max_tokens=16, speed=speed, messages=HI)
    assert message.usage.speed == speed
    beta = client.beta.messages.create(model=MODEL, max_tokens=16, speed=speed, messages=HI)
    assert beta.usage.speed == speed


def test_a_request_without_speed_has_none_in_its_usage(server: MockServer) -> None:
    message = _client(server).messages.create(model=MODEL, max_tokens=16, messages=HI)
    assert message.usage.speed is None


def test_a_streamed_answer_echoes_the_speed(server: MockServer) -> None:
    with _client(server).messages.stream(model=MODEL, max_tokens=16, speed="fast", messages=HI) as stream:
        final = stream.get_final_message()
    assert final.usage.speed == "fast" and final.content


def test_any_other_speed_is_the_api_400(server: MockServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        _client(server).messages.create(model=MODEL, max_tokens=16, speed=SLOW, messages=HI)
    assert err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "speed" in err.value.message


@pytest.mark.parametrize("speed", ["fast", "standard"])
def test_a_model_without_fast_mode_refuses_any_speed(server: MockServer, speed: Any) -> None:
    client = _client(server)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model=NOT_FAST, max_tokens=16, speed=speed, messages=HI)
    assert error_message(err) == f"speed: `speed` is not supported for model {NOT_FAST}"
    assert client.messages.create(model=NOT_FAST, max_tokens=16, messages=HI).usage.speed is None


def test_a_model_that_needs_the_fast_mode_beta_refuses_speed_without_it(server: MockServer) -> None:
    client = _client(server)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model=BETA_FAST, max_tokens=16, speed="fast", messages=HI)
    assert FAST_BETA in err.value.message
    beta = client.beta.messages.create(
        model=BETA_FAST, max_tokens=16, speed="fast", messages=HI, betas=[FAST_BETA]
    )
    assert beta.usage.speed == "fast"


def test_lenient_takes_speed_on_any_model() -> None:
    with MockServer(strict=False) as server:
        client = _client(server)
        for model in (NOT_FAST, BETA_FAST):
            message = client.messages.create(model=model, max_tokens=16, speed="fast", messages=HI)
            assert message.usage.speed == "fast"


def test_the_models_list_names_each_models_fallbacks(server: MockServer) -> None:
    models = {m.id: m for m in _client(server).beta.models.list(limit=100)}
    assert models["claude-fable-5-2"].allowed_fallback_models == ["claude-sonnet-5-5", "claude-opus-5-5"]
    assert models[NOT_FAST].allowed_fallback_models == []


def test_fast_capacity_overloaded_while_standard_is_fine() -> None:
    with MockServer(scenario=FAST_OVERLOADED) as server:
        client = _client(server, retries=2)
        with pytest.raises(anthropic.InternalServerError) as err:
            client.messages.create(model=MODEL, max_tokens=16, speed="fast", messages=HI)
        assert err.value.status_code == 529
        assert client.messages.create(model=MODEL, max_tokens=16, speed="standard", messages=HI).content
        assert client.messages.create(model=MODEL, max_tokens=16, messages=HI).content
        entries = [e for e in server.journal.entries() if e.path == "/v1/messages"]
        seen = [(e.status, e.retry_count) for e in entries]
        assert seen == [(529, 0), (529, 1), (529, 2), (200, 0), (200, 0)]
        assert entries[0].reason["rule"] == "fast-529"


def test_a_standard_rule_covers_requests_that_send_no_speed() -> None:
    with MockServer(scenario=STANDARD_LIMITED) as server:
        client = _client(server)
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model=MODEL, max_tokens=16, messages=HI)
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model=MODEL, max_tokens=16, speed="standard", messages=HI)
        assert client.messages.create(model=MODEL, max_tokens=16, speed="fast", messages=HI).content


async def test_the_async_client_streams_fast() -> None:
    with MockServer(scenario=FAST_OVERLOADED) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        params: Any = {"model": MODEL, "max_tokens": 16, "speed": "standard", "messages": HI}
        async with client.messages.stream(**params) as stream:
            final = await stream.get_final_message()
        assert final.usage.speed == "standard"
        with pytest.raises(anthropic.InternalServerError):
            await client.messages.create(model=MODEL, max_tokens=16, speed="fast", messages=HI)
        await client.close()
