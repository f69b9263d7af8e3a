"""The real anthropic SDK (sync and async, strict response validation) against the mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY, FakeClock, user

from mockserver import AsyncMockServer, MockServer, ServerConfig

MODEL = "claude-sonnet-4-6"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=7) as srv:
        yield srv


@pytest.fixture
def client(server: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, _strict_response_validation=True, max_retries=0
    )


def test_create_returns_a_valid_message_with_ids_and_usage(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=1000, messages=user("Hi there"))
    assert message.id.startswith("msg_")
    assert message.role == "assistant" and message.type == "message"
    assert message.stop_reason == "end_turn"
    assert message.content and message.content[0].type == "text" and message.content[0].text
    assert message.usage.output_tokens > 0
    assert message._request_id is not None and message._request_id.startswith("req_")


def test_same_request_and_seed_give_the_same_content(client: anthropic.Anthropic) -> None:
    a = client.messages.create(model=MODEL, max_tokens=1000, messages=user("same"))
    b = client.messages.create(model=MODEL, max_tokens=1000, messages=user("same"))
    c = client.messages.create(model=MODEL, max_tokens=1000, messages=user("different"))
    assert a.content == b.content and a.id != b.id
    assert a.content != c.content


def test_usage_input_tokens_equal_count_tokens(client: anthropic.Anthropic) -> None:
    messages: Any = [
        {"role": "user", "content": "What is the weather like in a busy city today?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]
    tools: Any = [
        {"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    ]
    count = client.messages.count_tokens(model=MODEL, messages=messages, system="Be brief.", tools=tools)
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=messages, system="Be brief.", tools=tools
    )
    assert count.input_tokens == message.usage.input_tokens > 0


def test_max_tokens_cuts_the_output(client: anthropic.Anthropic) -> None:
    full = client.messages.create(model=MODEL, max_tokens=1000, messages=user("cut me"))
    cut = client.messages.create(model=MODEL, max_tokens=3, messages=user("cut me"))
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    assert full.content[0].type == "text" and cut.content[0].type == "text"
    assert full.content[0].text.startswith(cut.content[0].text)


def test_stop_sequence_ends_early_and_names_the_match(client: anthropic.Anthropic) -> None:
    full = client.messages.create(model=MODEL, max_tokens=1000, messages=user("stop me"))
    assert full.content[0].type == "text"
    word = full.content[0].text.split(" ")[3]
    stopped = client.messages.create(
        model=MODEL, max_tokens=1000, messages=user("stop me"), stop_sequences=[word]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == word
    assert stopped.content[0].type == "text"
    assert word not in stopped.content[0].text
    assert full.content[0].text.startswith(stopped.content[0].text)


def test_forced_tool_returns_tool_use_matching_the_schema(client: anthropic.Anthropic) -> None:
    schema: Any = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 3},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    }
    message = client.messages.create(
        model=MODEL,
        max_tokens=500,
        messages=user("Weather?"),
        tools=[{"name": "get_weather", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_") and block.name == "get_weather"
    value: Any = block.input
    assert isinstance(value["city"], str) and len(value["city"]) >= 3
    assert value["unit"] in ("celsius", "fahrenheit")
    assert 1 <= value["days"] <= 7


def test_stream_helper_accumulates_the_same_message(client: anthropic.Anthropic) -> None:
    plain = client.messages.create(model=MODEL, max_tokens=1000, messages=user("stream me"))
    with client.messages.stream(model=MODEL, max_tokens=1000, messages=user("stream me")) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert [b.to_dict() for b in final.content] == [b.to_dict() for b in plain.content]
    assert "".join(texts) == plain.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == plain.usage.output_tokens == len(texts)
    assert final.stop_reason == "end_turn"


def test_raw_stream_events_follow_the_documented_order(client: anthropic.Anthropic) -> None:
    events = list(client.messages.create(model=MODEL, max_tokens=5, messages=user("order"), stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 5
    delta = events[-2]
    assert (
        delta.type == "message_delta"
        and delta.delta.stop_reason == "max_tokens"
        and delta.usage.output_tokens == 5
    )


def test_streamed_tool_use_arrives_as_input_json_deltas(client: anthropic.Anthropic) -> None:
    tools: Any = [
        {
            "name": "lookup",
            "input_schema": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query", "limit"],
            },
        }
    ]
    with client.messages.stream(
        model=MODEL, max_tokens=500, messages=user("find"), tools=tools, tool_choice={"type": "any"}
    ) as stream:
        raw = [e for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert raw and all(e.delta.type == "input_json_delta" for e in raw)
    block = final.content[0]
    assert block.type == "tool_use" and set(block.input) == {"query", "limit"}  # type: ignore[arg-type]
    assert final.stop_reason == "tool_use"


def test_models_list_pages_forwards_and_backwards(client: anthropic.Anthropic, server: MockServer) -> None:
    all_ids = [m.id for m in server.config.catalogue.models]
    page = client.models.list(limit=4)
    assert [m.id for m in page.data] == all_ids[:4] and page.has_more
    assert [m.id for m in client.models.list(limit=4)] == all_ids  # auto-paging walks every page
    back = client.models.list(limit=2, before_id=all_ids[4])
    assert [m.id for m in back.data] == all_ids[2:4]
    assert page.first_id == all_ids[0] and page.last_id == all_ids[3]


def test_models_retrieve_by_id_and_alias(client: anthropic.Anthropic) -> None:
    info = client.models.retrieve("claude-opus-4-6")
    assert (
        info.id == "claude-opus-4-6" and info.display_name and info.max_tokens and info.lifecycle == "active"
    )
    alias = client.models.retrieve("claude-sonnet-4-5")
    assert alias.id == "claude-sonnet-4-5-20250929"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nonexistent")


def test_bad_request_raises_bad_request_error_with_request_id(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
    err = info.value
    assert err.status_code == 400
    assert isinstance(err.body, dict) and err.body["request_id"] == err.request_id
    assert err.body["error"] == {
        "type": "invalid_request_error",
        "message": "messages: at least one message is required",
    }


def test_max_tokens_over_the_model_limit_is_a_bad_request(
    client: anthropic.Anthropic, server: MockServer
) -> None:
    limit = server.config.catalogue.get(MODEL).max_tokens  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="maximum allowed number of output tokens"):
        client.messages.create(model=MODEL, max_tokens=limit + 1, messages=user(), stream=True)


def test_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="claude-imaginary-9", max_tokens=10, messages=user())
    assert info.value.body["error"]["message"] == "model: claude-imaginary-9"  # type: ignore[index]


def test_missing_key_is_authentication_error(server: MockServer) -> None:
    raw = httpx2.post(f"{server.url}/v1/messages", json={}, headers={"anthropic-version": "2023-06-01"})
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "authentication_error"
    assert raw.json()["request_id"] == raw.headers["request-id"]


def test_allow_list_rejects_other_keys() -> None:
    with MockServer(api_keys={"good"}) as srv:
        good = anthropic.Anthropic(base_url=srv.url, api_key="good", max_retries=0)
        bad = anthropic.Anthropic(base_url=srv.url, api_key="bad", max_retries=0)
        assert good.messages.create(model=MODEL, max_tokens=5, messages=user()).content
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model=MODEL, max_tokens=5, messages=user())


def test_x_api_key_and_bearer_are_both_accepted_and_auth_can_be_switched_off(server: MockServer) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": user()}
    for headers in ({"x-api-key": "k"}, {"authorization": "Bearer k"}):
        r = httpx2.post(
            f"{server.url}/v1/messages", json=body, headers={**headers, "anthropic-version": "2023-06-01"}
        )
        assert r.status_code == 200
    with MockServer(auth=False) as open_srv:
        r = httpx2.post(f"{open_srv.url}/v1/messages", json=body, headers={"anthropic-version": "2026-10-21"})
        assert r.status_code == 200


def test_missing_or_unknown_anthropic_version_is_a_bad_request(server: MockServer) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": user()}
    r = httpx2.post(f"{server.url}/v1/messages", json=body, headers={"x-api-key": "k"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "anthropic-version: header is required"
    r = httpx2.post(
        f"{server.url}/v1/messages", json=body, headers={"x-api-key": "k", "anthropic-version": "1999"}
    )
    assert r.status_code == 400


def test_unparseable_json_is_invalid_request(server: MockServer) -> None:
    r = httpx2.post(
        f"{server.url}/v1/messages",
        content=b"{not json",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_body_over_32_mb_raises_content_too_large(client: anthropic.Anthropic) -> None:
    big = "x" * (32 * 1024 * 1024 + 10)
    with pytest.raises(anthropic.ContentTooLargeError) as info:
        client.messages.create(model=MODEL, max_tokens=5, messages=user(big))
    assert info.value.status_code == 413 and info.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_unknown_route_is_an_anthropic_not_found(server: MockServer) -> None:
    r = httpx2.get(f"{server.url}/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "not_found_error"
    assert r.json()["request_id"] == r.headers["request-id"]


def test_current_optional_fields_are_accepted_and_unknown_ones_rejected(client: anthropic.Anthropic) -> None:
    ok = client.messages.create(
        model=MODEL,
        max_tokens=2000,
        messages=user(),
        metadata={"user_id": "u1"},
        service_tier="auto",
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"temperature": 0.5, "top_p": 0.99, "container": None, "inference_geo": "us"},
    )
    assert ok.stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs are not permitted"):
        client.messages.create(model=MODEL, max_tokens=5, messages=user(), extra_body={"bogus_field": 1})


def _batch_server(clock: FakeClock) -> MockServer:
    return MockServer(ServerConfig(clock=clock, batch_processing_s=60.0, batch_cancel_s=5.0))


def test_batches_progress_with_the_clock_and_serve_results(fake_clock: FakeClock) -> None:
    with _batch_server(fake_clock) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key=TEST_KEY, _strict_response_validation=True)
        batch = client.messages.batches.create(
            requests=[
                {"custom_id": "a", "params": {"model": MODEL, "max_tokens": 20, "messages": user("one")}},
                {
                    "custom_id": "b",
                    "params": {"model": "claude-unknown", "max_tokens": 20, "messages": user()},
                },
            ]
        )
        assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 2 and batch.results_url is None
        fake_clock.advance(59.0)
        assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        fake_clock.advance(1.0)
        done = client.messages.batches.retrieve(batch.id)
        assert done.processing_status == "ended" and done.ended_at is not None
        assert done.request_counts.succeeded == 1 and done.request_counts.errored == 1
        assert done.results_url == f"{srv.url}/v1/messages/batches/{batch.id}/results"
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert results["a"].type == "succeeded" and results["a"].message.usage.service_tier == "batch"
        assert results["b"].type == "errored" and results["b"].error.error.type == "not_found_error"
        assert [b.id for b in client.messages.batches.list()] == [batch.id]
        deleted = client.messages.batches.delete(batch.id)
        assert deleted.type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)


def test_batch_cancel_cancels_unfinished_items(fake_clock: FakeClock) -> None:
    with _batch_server(fake_clock) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key=TEST_KEY, _strict_response_validation=True)
        reqs: Any = [
            {"custom_id": f"r{i}", "params": {"model": MODEL, "max_tokens": 10, "messages": user(str(i))}}
            for i in range(4)
        ]
        batch = client.messages.batches.create(requests=reqs)
        fake_clock.advance(31.0)  # items finish at 15, 30, 45, 60 s
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        fake_clock.advance(5.0)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.request_counts.succeeded == 2 and ended.request_counts.canceled == 2
        kinds = sorted(r.result.type for r in client.messages.batches.results(batch.id))
        assert kinds == ["canceled", "canceled", "succeeded", "succeeded"]


async def test_async_client_create_stream_count_models_and_batches() -> None:
    async with AsyncMockServer(seed=3) as srv:
        client = anthropic.AsyncAnthropic(
            base_url=srv.url, api_key=TEST_KEY, _strict_response_validation=True
        )
        message = await client.messages.create(model=MODEL, max_tokens=50, messages=user("async"))
        async with client.messages.stream(model=MODEL, max_tokens=50, messages=user("async")) as stream:
            final = await stream.get_final_message()
        assert final.content[0].to_dict() == message.content[0].to_dict()
        count = await client.messages.count_tokens(model=MODEL, messages=user("async"))
        assert count.input_tokens == message.usage.input_tokens
        ids = [m.id async for m in client.models.list(limit=3)]
        assert len(ids) == len(srv.config.catalogue)
        assert (await client.models.retrieve(ids[0])).id == ids[0]
        batch = await client.messages.batches.create(
            requests=[{"custom_id": "x", "params": {"model": MODEL, "max_tokens": 5, "messages": user()}}]
        )
        ended = await client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        results = [r async for r in await client.messages.batches.results(batch.id)]
        assert results[0].custom_id == "x" and results[0].result.type == "succeeded"
        pages = -(-len(srv.config.catalogue) // 3)
        paths = [e.path for e in srv.journal.entries()]
        assert paths.count("/v1/models") == pages and len(paths) == 8 + pages  # results() retrieves first
        assert all(e.status == 200 for e in srv.journal.entries())


def test_thinking_comes_first_with_a_signature_streamed_or_not(client: anthropic.Anthropic) -> None:
    params: Any = {
        "model": MODEL,
        "max_tokens": 2000,
        "messages": user("think"),
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    message = client.messages.create(**params)
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and message.stop_reason == "end_turn"
    with client.messages.stream(**params) as stream:
        kinds = {e.delta.type for e in stream if e.type == "content_block_delta"}
        final = stream.get_final_message()
    assert kinds == {"thinking_delta", "signature_delta", "text_delta"}
    assert [b.to_dict() for b in final.content] == [b.to_dict() for b in message.content]
    assert final.usage.output_tokens == message.usage.output_tokens
    with pytest.raises(anthropic.BadRequestError, match="Thinking may not be enabled"):
        client.messages.create(
            **params,
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
            tool_choice={"type": "any"},
        )


def test_empty_content_and_trailing_whitespace_in_a_prefill_are_refused(client: anthropic.Anthropic) -> None:
    cases: list[tuple[Any, str]] = [
        ([{"role": "user", "content": ""}], "must have non-empty content"),
        (
            [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            "text content blocks must be non-empty",
        ),
        ([*user(), {"role": "assistant", "content": "Sure "}], "cannot end with trailing whitespace"),
    ]
    for messages, wording in cases:
        with pytest.raises(anthropic.BadRequestError, match=wording):
            client.messages.create(model=MODEL, max_tokens=5, messages=messages)
    prefill = client.messages.create(
        model=MODEL, max_tokens=5, messages=[*user(), {"role": "assistant", "content": ""}]
    )
    assert prefill.content
