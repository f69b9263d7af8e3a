"""ResilientAnthropic / AsyncResilientAnthropic over the real SDK, with a scripted in-process
transport (no sockets): the kept surface, SDK retries off, fallback, mid-stream retries, the
cache layer, count_tokens."""

from __future__ import annotations

import json
import warnings
from typing import Any

import anthropic
import httpx2
import pytest

from resilience import (
    AsyncResilientAnthropic,
    Event,
    FallbackChain,
    NoJitter,
    Policy,
    RateLimitPacer,
    ResilientAnthropic,
    Retry,
    RetryBudget,
    StreamInterrupted,
    outcome_of,
)
from resilience.cache import MemoryCache
from resilience.classify import IncompleteStreamError
from resilience.policy import StreamRetry

MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]


def message_body(model: str, text: str = "Hi") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


def error_body(error_type: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": error_type}}


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def stream_events(model: str, text: str = "Hello") -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_s",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[:3]}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[3:]}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]


ERROR_EVENT = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


class Server:
    """A scripted Messages API. ``script[model]`` is a list of actions: an int status (error
    JSON), "ok" (a message or a full stream), ("cut", n) (a stream with n events and then an
    overloaded_error event), ("say", text) (a full stream saying ``text``), ("end_after", n) (a
    stream of n events that then ends without an error), a dict (a message
    with these response headers). Missing or exhausted scripts answer "ok"."""

    def __init__(self, script: dict[str, list[Any]] | None = None) -> None:
        self.script = {m: list(s) for m, s in (script or {}).items()}
        self.requests: list[httpx2.Request] = []

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        model = body["model"]
        headers = {"request-id": f"req_{len(self.requests)}"}
        if request.url.path.endswith("count_tokens"):
            action = self.script.get(model, []).pop(0) if self.script.get(model) else "ok"
            if action == "ok":
                return httpx2.Response(200, json={"input_tokens": 12}, headers=headers)
            return httpx2.Response(int(action), json=error_body("overloaded_error"), headers=headers)
        action = self.script.get(model, []).pop(0) if self.script.get(model) else "ok"
        if isinstance(action, int):
            kind = {529: "overloaded_error", 429: "rate_limit_error", 400: "invalid_request_error"}
            return httpx2.Response(action, json=error_body(kind.get(action, "api_error")), headers=headers)
        stream_headers = {**headers, "content-type": "text/event-stream"}
        if isinstance(action, tuple) and action[0] == "end_after":  # a stream that just stops
            return httpx2.Response(
                200, content=sse(stream_events(model)[: action[1]]), headers=stream_headers
            )
        if isinstance(action, tuple) and action[0] == "say":
            return httpx2.Response(200, content=sse(stream_events(model, action[1])), headers=stream_headers)
        if isinstance(action, tuple):
            _, n = action
            payload = sse(stream_events(model)[:n]) + sse([ERROR_EVENT])
            return httpx2.Response(200, content=payload, headers=stream_headers)
        if body.get("stream"):
            return httpx2.Response(200, content=sse(stream_events(model)), headers=stream_headers)
        if action in ("garbage", "garbage-json"):  # a 200 whose body is not a message
            content_type = "application/json" if action == "garbage-json" else "text/html"
            return httpx2.Response(
                200, content=b"<html>bad gateway", headers={**headers, "content-type": content_type}
            )
        extra = action if isinstance(action, dict) else {}
        return httpx2.Response(200, json=message_body(model), headers={**headers, **extra})


def fast_policy(**kwargs: Any) -> Policy:
    kwargs.setdefault(
        "retry", Retry(max_attempts=3, backoff=NoJitter(base=0.001, cap=0.001), deadline_s=30.0)
    )
    kwargs.setdefault("log_events", False)
    return Policy(**kwargs)


def client_for(server: Server, **policy_kwargs: Any) -> ResilientAnthropic:
    http = httpx2.Client(transport=httpx2.MockTransport(server))
    sdk = anthropic.Anthropic(api_key="k", base_url="http://mock.invalid", max_retries=0, http_client=http)
    return ResilientAnthropic(sdk, policy=fast_policy(**policy_kwargs))


def async_client_for(server: Server, **policy_kwargs: Any) -> AsyncResilientAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(server))
    sdk = anthropic.AsyncAnthropic(
        api_key="k", base_url="http://mock.invalid", max_retries=0, http_client=http
    )
    return AsyncResilientAnthropic(sdk, policy=fast_policy(**policy_kwargs))


# --- construction ---------------------------------------------------------------------------
def test_a_client_with_sdk_retries_on_is_warned_about_and_switched_off() -> None:
    sdk = anthropic.Anthropic(api_key="k", base_url="http://mock.invalid")
    with pytest.warns(RuntimeWarning, match="max_retries=2") as caught:
        client = ResilientAnthropic(sdk)
    assert client.client.max_retries == 0
    assert caught[0].filename == __file__  # the warning points at the line that built the wrapper


async def test_the_async_wrapper_warns_at_the_callers_line_too() -> None:
    sdk = anthropic.AsyncAnthropic(api_key="k", base_url="http://mock.invalid")
    with pytest.warns(RuntimeWarning, match="max_retries=2") as caught:
        client = AsyncResilientAnthropic(sdk)
    assert client.client.max_retries == 0 and caught[0].filename == __file__


def test_a_client_without_retries_is_wrapped_silently() -> None:
    sdk = anthropic.Anthropic(api_key="k", base_url="http://mock.invalid", max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = ResilientAnthropic(sdk)
    assert client.client.max_retries == 0


def test_building_a_client_never_lets_sdk_retries_in() -> None:
    client = AsyncResilientAnthropic(api_key="k", base_url="http://mock.invalid")
    assert client.client.max_retries == 0
    with pytest.raises(TypeError, match="max_retries"):
        ResilientAnthropic(api_key="k", max_retries=3)
    with pytest.raises(TypeError, match=r"anthropic\.Anthropic"):
        ResilientAnthropic(anthropic.AsyncAnthropic(api_key="k"))  # type: ignore[arg-type]


def test_missing_model_gets_a_clear_error() -> None:
    client = client_for(Server())
    with pytest.raises(TypeError, match="'model'"):
        client.messages.create(max_tokens=5, messages=MESSAGES)


def test_everything_else_passes_through_to_the_sdk_client() -> None:
    client = client_for(Server())
    assert client.models is client.client.models
    assert client.messages.batches is client.client.messages.batches


# --- non-streaming --------------------------------------------------------------------------
def test_overloads_are_retried_and_the_retry_count_header_says_which_attempt() -> None:
    server = Server({"m": [529, 500]})
    client = client_for(server)
    message = client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert isinstance(message, anthropic.types.Message) and message.content[0].text == "Hi"  # type: ignore[union-attr]
    assert [r.headers.get("x-stainless-retry-count") for r in server.requests] == ["0", "1", "2"]
    outcome = outcome_of(message)
    assert outcome is not None and outcome.attempts == 3 and outcome.model == "m"
    assert message._request_id == "req_3"


def test_a_one_shot_iterable_of_messages_is_sent_whole_on_every_attempt() -> None:
    server = Server({"m": [529]})
    client = client_for(server)
    client.messages.create(model="m", max_tokens=5, messages=iter(MESSAGES))
    assert [b["messages"] for b in server.bodies()] == [MESSAGES, MESSAGES]


def test_a_200_whose_body_is_not_json_is_retried_as_a_server_fault() -> None:
    server = Server({"m": ["garbage"]})
    message = client_for(server).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert message.content[0].type == "text" and len(server.requests) == 2


async def test_async_a_200_whose_body_is_not_json_is_retried() -> None:
    server = Server({"m": ["garbage-json", "garbage", "garbage-json"]})
    with pytest.raises(anthropic.APIResponseValidationError, match="not a message"):
        await async_client_for(server).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert len(server.requests) == 3


def test_caller_errors_are_raised_at_once() -> None:
    server = Server({"m": [400]})
    with pytest.raises(anthropic.BadRequestError):
        client_for(server, fallback=["m", "n"]).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert len(server.requests) == 1


def test_fallback_answers_with_the_next_model_and_clamped_max_tokens() -> None:
    server = Server({"big": [529, 529, 529]})
    client = client_for(server, fallback=FallbackChain(["big", "small"], max_tokens={"small": 64}))
    message = client.messages.create(model="big", max_tokens=1000, messages=MESSAGES, system="be brief")
    outcome = outcome_of(message)
    assert message.model == "small" and outcome is not None and outcome.model == "small" and outcome.fell_back
    last = server.bodies()[-1]
    assert last == {"model": "small", "max_tokens": 64, "messages": MESSAGES, "system": "be brief"}


def test_each_attempt_gets_only_the_time_left_before_the_deadline() -> None:
    server = Server()
    client = client_for(server, retry=Retry(deadline_s=5.0))
    client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    timeout = server.requests[0].extensions["timeout"]
    assert 0 < timeout["read"] <= 5.0


def test_a_deadline_as_long_as_the_client_timeout_leaves_the_first_attempt_to_the_sdk() -> None:
    server = Server({"m": [529]})
    client = client_for(
        server, retry=Retry(max_attempts=2, backoff=NoJitter(base=0.001, cap=0.001), deadline_s=600)
    )
    client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    first, retry = (r.extensions["timeout"]["read"] for r in server.requests)
    assert first == 600  # the SDK's own timeout (and its own checks) on the first attempt
    assert retry < 600  # a retry gets only what is left of the deadline


def test_the_first_attempt_on_a_fallback_model_gets_only_the_time_left() -> None:
    server = Server({"m": [529]})
    client = client_for(
        server,
        retry=Retry(max_attempts=1, deadline_s=600),
        fallback=["m", "n"],
    )
    message = client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert message.model == "n"
    first, fallback = (r.extensions["timeout"]["read"] for r in server.requests)
    assert first == 600  # the first attempt of the call: the SDK's own timeout
    assert fallback < 600  # the fallback model's first attempt must not outlive the deadline


def test_ratelimit_headers_of_a_success_reach_the_pacer() -> None:
    pacer = RateLimitPacer(reserve=0.5)
    headers = {
        "anthropic-ratelimit-requests-limit": "10",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": "2999-01-01T00:00:00Z",
    }
    client = client_for(Server({"m": [headers]}), pacer=pacer)
    client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert pacer.interval > 0


# --- streaming ------------------------------------------------------------------------------
def texts(stream: Any) -> str:
    return "".join(e.delta.text for e in stream if e.type == "content_block_delta")


def test_an_overload_inside_a_200_stream_before_any_output_is_retried_transparently() -> None:
    server = Server({"m": [("cut", 2), ("cut", 1)]})
    stream = client_for(server).messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert isinstance(stream, anthropic.Stream)
    assert texts(stream) == "Hello"
    outcome = outcome_of(stream)
    assert outcome is not None and outcome.attempts == 3 and len(server.requests) == 3


def test_a_stream_overloaded_before_output_falls_back_to_the_next_model() -> None:
    server = Server({"big": [("cut", 2)] * 3})
    client = client_for(server, fallback=["big", "small"])
    stream = client.messages.create(model="big", max_tokens=5, messages=MESSAGES, stream=True)
    events = list(stream)
    assert events[0].type == "message_start" and events[0].message.model == "small"
    assert outcome_of(stream) is not None and outcome_of(stream).model == "small"  # type: ignore[union-attr]


def test_after_output_was_handed_over_a_mid_stream_error_is_raised_and_reported() -> None:
    events: list[Event] = []
    server = Server({"m": [("cut", 3)]})
    stream = client_for(server, on_event=events.append).messages.create(
        model="m", max_tokens=5, messages=MESSAGES, stream=True
    )
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in stream:
            seen.append(event.type)
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    assert seen == ["message_start", "content_block_start", "content_block_delta"]
    interrupted = [e for e in events if isinstance(e, StreamInterrupted)]
    assert (
        len(interrupted) == 1 and interrupted[0].events_delivered == 3 and interrupted[0].kind == "overloaded"
    )


@pytest.mark.parametrize("resume", [False, True])
def test_with_nothing_held_back_an_error_event_before_any_event_is_still_retried(resume: bool) -> None:
    events: list[Event] = []
    server = Server({"m": [("cut", 0)]})  # a 200 whose first event is an overloaded_error
    client = client_for(server, stream_retry="none", stream_resume=resume, on_event=events.append)
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert texts(stream) == "Hello" and len(server.requests) == 2
    assert [(e.events_delivered, e.resumed) for e in events if isinstance(e, StreamInterrupted)] == [
        (0, True)
    ]


async def test_async_with_nothing_held_back_an_error_event_first_is_retried() -> None:
    server = Server({"m": [("cut", 0)]})
    client = async_client_for(server, stream_retry="none")
    stream = await client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    text = "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])  # type: ignore[union-attr]
    assert text == "Hello" and len(server.requests) == 2


@pytest.mark.parametrize(("mode", "retried"), [("buffer", True), ("preamble", False), ("none", False)])
def test_stream_retry_mode_decides_how_late_a_failure_is_still_retried(
    mode: StreamRetry, retried: bool
) -> None:
    server = Server({"m": [("cut", 4)]})  # fails after two deltas
    client = client_for(server, stream_retry=mode)
    if retried:
        stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
        assert texts(stream) == "Hello" and len(server.requests) == 2
    else:
        with pytest.raises(anthropic.APIStatusError):
            texts(client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True))
        assert len(server.requests) == 1


def test_stream_resume_continues_a_stream_whose_retry_replays_the_delivered_output() -> None:
    events: list[Event] = []
    server = Server({"m": [("cut", 3)]})  # message_start, block start, "Hel", then overloaded
    client = client_for(server, stream_resume=True, on_event=events.append)
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    types = [e.type for e in stream]
    assert types == [e["type"] for e in stream_events("m")]  # every event once, none repeated
    assert len(server.requests) == 2
    assert [(e.events_delivered, e.resumed) for e in events if isinstance(e, StreamInterrupted)] == [
        (3, True)
    ]


def test_stream_resume_takes_a_retry_token_and_deposits_none() -> None:
    budget = RetryBudget(ratio=0.1, floor=1)
    server = Server({"m": [("cut", 3), ("cut", 3)]})
    client = client_for(server, stream_resume=True, budget=budget)
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        list(stream)  # the first resumption spends the only token; the second is refused
    assert len(server.requests) == 2
    assert budget.requests == 1 and budget.retries == 1 and budget.refused == 1
    assert client.policy.counters.snapshot()["budget_refusals"] == 1


def test_stream_resume_with_an_empty_budget_raises_the_failure() -> None:
    server = Server({"m": [("cut", 3)]})
    client = client_for(server, stream_resume=True, budget=RetryBudget(ratio=0.0, floor=0.0))
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        list(stream)
    assert len(server.requests) == 1


def test_stream_resume_raises_the_original_error_when_the_retry_says_something_else() -> None:
    server = Server({"m": [("cut", 3), ("say", "Goodbye")]})
    client = client_for(server, stream_resume=True)
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in stream:
            if event.type == "content_block_delta":
                seen.append(event.delta.text)  # type: ignore[union-attr]
    assert seen == ["Hel"]  # nothing from the diverging retry reached the caller
    assert caught.value.type == "overloaded_error"
    assert any("did not replay" in note for note in caught.value.__notes__)


def test_stream_resume_raises_when_the_retry_is_shorter_than_what_was_delivered() -> None:
    server = Server({"m": [("cut", 5), ("end_after", 3)]})  # the retry stops after "Hel"
    client = client_for(server, stream_resume=True)
    stream = client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(stream)
    assert any("did not replay" in note for note in caught.value.__notes__)


def test_a_stream_that_ends_without_message_stop_before_any_output_is_retried() -> None:
    server = Server({"m": [("end_after", 0), ("end_after", 2)]})  # empty body, then cut clean
    stream = client_for(server).messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert texts(stream) == "Hello" and len(server.requests) == 3


def test_a_stream_cut_clean_after_output_is_an_error_not_a_short_answer() -> None:
    server = Server({"m": [("end_after", 4)]})
    stream = client_for(server).messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    with pytest.raises(IncompleteStreamError, match="without message_stop"):
        texts(stream)


async def test_async_stream_resume_continues_after_delivered_output() -> None:
    server = Server({"m": [("cut", 4)]})
    client = async_client_for(server, stream_resume=True)
    stream = await client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    text = "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])  # type: ignore[union-attr]
    assert text == "Hello" and len(server.requests) == 2


def test_stream_helper_keeps_the_sdk_surface_and_retries() -> None:
    server = Server({"m": [529, ("cut", 2)]})
    client = client_for(server)
    with client.messages.stream(model="m", max_tokens=5, messages=MESSAGES) as stream:
        assert stream.get_final_text() == "Hello"
        final = stream.get_final_message()
    assert final.model == "m" and len(server.requests) == 3
    assert all(r.headers.get("x-stainless-helper-method") == "stream" for r in server.requests)
    outcome = outcome_of(stream)
    assert outcome is not None and outcome.attempts == 3


def test_the_private_sdk_hook_the_stream_helper_relies_on_still_exists() -> None:
    manager = anthropic.Anthropic(api_key="k").messages.stream(model="m", max_tokens=1, messages=MESSAGES)
    assert callable(getattr(manager, "_MessageStreamManager__api_request", None))


# --- count_tokens ---------------------------------------------------------------------------
def test_count_tokens_is_retried_but_never_falls_back() -> None:
    server = Server({"m": [529, 529, 529]})
    client = client_for(server, fallback=["m", "n"])
    with pytest.raises(anthropic.APIStatusError):
        client.messages.count_tokens(model="m", messages=MESSAGES)
    assert [b["model"] for b in server.bodies()] == ["m", "m", "m"]
    assert client.messages.count_tokens(model="m", messages=MESSAGES).input_tokens == 12


# --- cache ------------------------------------------------------------------------------------
def test_the_cache_answers_repeated_requests_and_can_be_bypassed() -> None:
    server = Server()
    cache = MemoryCache()
    client = client_for(server, cache=cache)
    first = client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    second = client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert len(server.requests) == 1
    assert second.to_dict() == first.to_dict()
    outcome = outcome_of(second)
    assert outcome is not None and outcome.cached and outcome.model == "m"
    client.messages.create(model="m", max_tokens=5, messages=MESSAGES, use_cache=False)
    assert len(server.requests) == 2
    client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert len(server.requests) == 3  # streams never come from the cache
    assert client.policy.counters.snapshot()["cache_hits"] == 1


def test_a_request_the_cache_cannot_key_is_sent_uncached() -> None:
    server = Server()
    cache = MemoryCache()
    client = client_for(server, cache=cache)
    client.messages.create(
        model="m", max_tokens=5, messages=MESSAGES, metadata={"user_id": "u"}, extra_body={"x": {1, 2}}
    )
    assert len(server.requests) == 1 and len(cache) == 0


def test_a_fallback_answer_is_not_cached_for_the_primary_request() -> None:
    server = Server({"big": [529, 529, 529]})
    cache = MemoryCache()
    client = client_for(server, cache=cache, fallback=["big", "small"])
    assert client.messages.create(model="big", max_tokens=5, messages=MESSAGES).model == "small"
    assert len(cache) == 0
    assert client.messages.create(model="big", max_tokens=5, messages=MESSAGES).model == "big"  # recovered
    assert len(cache) == 1


def test_failed_calls_are_not_cached() -> None:
    server = Server({"m": [400]})
    cache = MemoryCache()
    client = client_for(server, cache=cache)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert len(cache) == 0


# --- async ----------------------------------------------------------------------------------
async def test_async_create_retries_and_falls_back() -> None:
    server = Server({"big": [529, 529, 529]})
    client = async_client_for(server, fallback=["big", "small"])
    message = await client.messages.create(model="big", max_tokens=5, messages=MESSAGES)
    assert message.model == "small" and len(server.requests) == 4


async def test_async_stream_overload_before_output_is_retried() -> None:
    server = Server({"m": [("cut", 2)]})
    client = async_client_for(server)
    stream = await client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    text = "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])  # type: ignore[union-attr]
    assert text == "Hello" and len(server.requests) == 2


async def test_async_stream_helper_and_count_tokens() -> None:
    server = Server({"m": [("cut", 1)]})
    client = async_client_for(server)
    async with client.messages.stream(model="m", max_tokens=5, messages=MESSAGES) as stream:
        assert await stream.get_final_text() == "Hello"
    assert (await client.messages.count_tokens(model="m", messages=MESSAGES)).input_tokens == 12
    await client.close()
