"""The legacy Text Completions route, ``POST /v1/complete``: its JSON object and its own SSE
stream parsed exactly, the real 400s, and the fault engine's errors and stream faults on it (it is
a model route: a rule with no ``match.path`` reaches it). No installed SDK has a completions
resource, so the SDK is driven through its generic ``post`` (retries and SSE parsing included)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer

MODEL = "claude-opus-4-6"
PROMPT = "\n\nHuman: Tell me about retries\n\nAssistant:"
HEADERS = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": PROMPT, "max_tokens_to_sample": 200, **extra}


def _post(server: MockServer, body: dict[str, Any]) -> httpx2.Response:
    return httpx2.post(server.url + "/v1/complete", json=body, headers=HEADERS)


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event, every event checked to be one name and one data line."""
    frames = text.split("\n\n")
    assert frames[-1] == ""
    out = []
    for frame in frames[:-1]:
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        out.append((name_line[7:], json.loads(data_line[6:])))
    return out


def _sdk(server: MockServer, retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=retries, _strict_response_validation=True
    )


def test_a_completion_is_the_object_with_deterministic_text() -> None:
    with MockServer() as server:
        first = _post(server, _body())
        assert first.status_code == 200 and first.headers["content-type"].startswith("application/json")
        obj = first.json()
        assert set(obj) == {"type", "id", "completion", "stop_reason", "model"}
        assert obj["type"] == "completion" and obj["id"].startswith("compl_") and obj["model"] == MODEL
        assert obj["stop_reason"] == "stop_sequence" and obj["completion"]
        again = _post(server, _body()).json()
        assert again["completion"] == obj["completion"] and again["id"] != obj["id"]
        cut = _post(server, _body(max_tokens_to_sample=1)).json()
        assert cut["stop_reason"] == "max_tokens" and obj["completion"].startswith(cut["completion"])
        word = obj["completion"].split()[2]
        stopped = _post(server, _body(stop_sequences=[word])).json()
        assert stopped["stop_reason"] == "stop_sequence" and word not in stopped["completion"]


def test_the_stream_is_completion_frames_then_a_ping_and_a_last_frame_with_the_reason() -> None:
    with MockServer() as server:
        whole = _post(server, _body()).json()
        resp = _post(server, _body(stream=True, temperature=0.5))
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = _events(resp.text)
        names = [n for n, _ in events]
        assert names[0] == "completion" and names[1] == "ping" and set(names[2:]) == {"completion"}
        assert events[1][1] == {"type": "ping"}
        frames = [d for n, d in events if n == "completion"]
        assert len({f["id"] for f in frames}) == 1 and all(f["model"] == MODEL for f in frames)
        assert [f["stop_reason"] for f in frames] == [None] * (len(frames) - 1) + ["stop_sequence"]
        assert "".join(f["completion"] for f in frames) == whole["completion"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"prompt": "Tell me\n\nAssistant:"},
            r'prompt must start with "\n\nHuman:" turn after an optional system prompt',
        ),
        ({"prompt": "\n\nAssistant: x\n\nHuman: y\n\nAssistant:"}, r'prompt must start with "\n\nHuman:"'),
        ({"prompt": "\n\nHuman: hi"}, r'prompt must end with "\n\nAssistant:" turn'),
        ({"max_tokens_to_sample": None}, "max_tokens_to_sample: Input should be a valid integer"),
        ({"max_tokens_to_sample": 0}, "max_tokens_to_sample: Input should be greater than or equal to 1"),
        ({"temperature": 1.5}, "temperature: Input should be between 0 and 1"),
        ({"stream": "yes"}, "stream: Input should be a valid boolean"),
        ({"stop_sequences": "x"}, "stop_sequences: Input should be a valid list"),
        ({"max_tokens": 5}, "max_tokens: Extra inputs are not permitted"),
    ],
)
def test_a_bad_request_is_the_real_400(change: dict[str, Any], message: str) -> None:
    with MockServer() as server:
        resp = _post(server, _body(**change))
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"].startswith(message)


def test_a_missing_prompt_or_an_unknown_model() -> None:
    with MockServer() as server:
        body = _body()
        del body["prompt"]
        assert _post(server, body).json()["error"]["message"] == "prompt: Field required"
        resp = _post(server, _body(model="claude-nope"))
        assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"


def test_a_529_on_complete_is_retried_by_the_sdk() -> None:
    scenario = {
        "name": "complete-flaky",
        "description": "the first model call is refused",
        "rules": [{"trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]}}],
    }
    with MockServer(scenario=scenario) as server:
        answer = _sdk(server, 2).post("/v1/complete", body=_body(), cast_to=object)
        assert isinstance(answer, dict) and answer["type"] == "completion"
        entries = [e for e in server.journal.entries() if e.path == "/v1/complete"]
        assert [e.status for e in entries] == [529, 200]
        assert [e.retry_count for e in entries] == [0, 1]
        assert entries[0].model == MODEL


def test_without_retries_the_sdk_raises_the_overload() -> None:
    scenario = {"name": "down", "description": "every model call refused", "rules": [{"fault": 529}]}
    with MockServer(scenario=scenario) as server, pytest.raises(anthropic.OverloadedError):
        _sdk(server, 0).post("/v1/complete", body=_body(), cast_to=object)


def _mid_stream(kind: str) -> dict[str, Any]:
    fault: dict[str, Any] = {"kind": kind, "after_events": 3}
    if kind == "error_event":
        fault.update(error_type="overloaded_error", message="Overloaded")
    return {
        "name": f"complete-{kind}",
        "description": "streams break part-way",
        "rules": [{"match": {"path": "/v1/complete", "stream": True}, "fault": {"stream": fault}}],
    }


def test_a_mid_stream_error_event_is_raised_by_the_sdk_stream_parser() -> None:
    with MockServer(scenario=_mid_stream("error_event")) as server:
        raw = _post(server, _body(stream=True))
        events = _events(raw.text)
        assert raw.status_code == 200 and events[-1] == (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
        assert [n for n, _ in events[:-1]] == ["completion", "ping", "completion"]
        stream = _sdk(server, 2).post(
            "/v1/complete",
            body=_body(stream=True),
            cast_to=object,
            stream=True,
            stream_cls=anthropic.Stream[object],
        )
        got: list[Any] = []
        with pytest.raises(anthropic.APIStatusError) as err:
            got.extend(stream)
        assert err.value.status_code == 200 and len(got) == 2  # two completion frames (the ping is skipped)
        assert all(f["type"] == "completion" for f in got)
        assert len([e for e in server.journal.entries() if e.path == "/v1/complete"]) == 2  # not retried


def test_a_cut_stream_ends_before_the_last_frame() -> None:
    with MockServer(scenario=_mid_stream("cut")) as server:
        stream = _sdk(server, 0).post(
            "/v1/complete",
            body=_body(stream=True),
            cast_to=object,
            stream=True,
            stream_cls=anthropic.Stream[object],
        )
        got: list[Any] = []
        with pytest.raises((httpx2.HTTPError, anthropic.APIError)):
            got.extend(stream)
        assert all(f["stop_reason"] is None for f in got)


def test_the_async_sdk_posts_a_completion() -> None:
    async def run(server: MockServer) -> dict[str, Any]:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        answer = await client.post("/v1/complete", body=_body(), cast_to=object)
        assert isinstance(answer, dict)
        return answer

    with MockServer() as server:
        assert asyncio.run(run(server))["stop_reason"] == "stop_sequence"
