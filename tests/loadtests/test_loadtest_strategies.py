"""Client strategies: every HTTP attempt is seen once, retries are what each strategy promises."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from loadtests.strategies import (
    STRATEGIES,
    AttemptRecord,
    AttemptRecorder,
    RunEnded,
    StrategyError,
    build_strategy,
    new_prompt,
)
from resilience import classify_status

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def _response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx2.Response:
    """A response whose body is streamed, as from the network (not preloaded)."""
    body = json.dumps(payload).encode()
    return httpx2.Response(
        status,
        stream=httpx2.ByteStream(body),
        headers={"content-type": "application/json", "content-length": str(len(body)), **(headers or {})},
    )


class Server:
    """A scripted responder: statuses in order, then 200s; retry-after-ms 1 keeps SDK waits short."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            return _response(200, MESSAGE)
        return _response(status, OVERLOADED, {"retry-after-ms": "1"})


def _strategy(name: str, server: Server, records: list[AttemptRecord], **kw: Any) -> Any:
    return build_strategy(
        name,
        base_url="http://127.0.0.1:9",
        api_key="sk-test",
        on_attempt=records.append,
        model="claude-test",
        inner_transport=httpx2.MockTransport(server),
        **kw,
    )


def test_the_recorder_reports_each_attempt_once_with_status_and_bytes() -> None:
    records: list[AttemptRecord] = []
    inner = httpx2.MockTransport(lambda r: httpx2.Response(200, stream=httpx2.ByteStream(b"abcdef")))
    transport = AttemptRecorder(inner, records.append)
    with httpx2.Client(transport=transport) as client:
        response = client.post("http://127.0.0.1:9/v1/messages", content=b"{}")
        assert response.content == b"abcdef"
    assert len(records) == 1
    rec = records[0]
    assert (rec.method, rec.path, rec.status, rec.error, rec.response_bytes) == (
        "POST",
        "/v1/messages",
        200,
        None,
        6,
    )
    assert rec.duration_s >= 0


def test_an_attempt_without_a_response_is_reported_with_the_error_and_reraised() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    records: list[AttemptRecord] = []
    transport = AttemptRecorder(httpx2.MockTransport(refuse), records.append)
    with httpx2.Client(transport=transport) as client, pytest.raises(httpx2.ConnectError):
        client.get("http://127.0.0.1:9/x")
    assert [(r.status, r.error) for r in records] == [(None, "ConnectError")]


def test_a_closed_recorder_refuses_new_attempts_without_reporting_them() -> None:
    server = Server([])
    records: list[AttemptRecord] = []
    transport = AttemptRecorder(httpx2.MockTransport(server), records.append, is_closed=lambda: True)
    with httpx2.Client(transport=transport) as client, pytest.raises(RunEnded):
        client.get("http://127.0.0.1:9/x")
    assert records == [] and server.bodies == []


@pytest.mark.parametrize(
    ("name", "attempts"),
    [("no-retry", 1), ("immediate-retry", 3), ("sdk-defaults", 3)],
)
def test_under_constant_529_each_strategy_makes_its_number_of_attempts(name: str, attempts: int) -> None:
    server = Server([529] * 10)
    records: list[AttemptRecord] = []
    call = _strategy(name, server, records)
    with pytest.raises(anthropic.APIStatusError):
        call(new_prompt())
    assert len(records) == attempts
    assert all(r.status == 529 for r in records)
    assert len({json.dumps(b, sort_keys=True) for b in server.bodies}) == 1  # one logical call


def test_immediate_retry_stops_at_the_first_success() -> None:
    server = Server([529])
    records: list[AttemptRecord] = []
    _strategy("immediate-retry", server, records)(new_prompt())
    assert [r.status for r in records] == [529, 200]


@pytest.mark.parametrize(
    "status", [400, 401, 403, 404, 408, 409, 413, 418, 422, 429, 500, 501, 502, 503, 504, 529]
)
def test_immediate_retry_retries_exactly_what_resilience_classifies_as_retryable(status: int) -> None:
    # the load tests hold no retryable rule of their own: resilience's one rule decides
    server = Server([status] * 10)
    records: list[AttemptRecord] = []
    with pytest.raises(anthropic.APIStatusError):
        _strategy("immediate-retry", server, records)(new_prompt())
    assert len(records) == (3 if classify_status(status)[1] else 1)


def test_immediate_retry_does_not_retry_a_client_error() -> None:
    server = Server([400])
    records: list[AttemptRecord] = []
    with pytest.raises(anthropic.BadRequestError):
        _strategy("immediate-retry", server, records)(new_prompt())
    assert len(records) == 1


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_makes_one_attempt_when_the_server_is_healthy(name: str) -> None:
    server = Server([])
    records: list[AttemptRecord] = []
    message = _strategy(name, server, records, timeout_s=5)(new_prompt())
    assert getattr(message, "id", None) == "msg_1"
    assert len(records) == 1
    assert server.bodies[0]["model"] == "claude-test"


def test_a_closed_run_ends_a_call_without_retrying_it() -> None:
    server = Server([])
    records: list[AttemptRecord] = []
    call = _strategy("sdk-defaults", server, records, is_closed=lambda: True)
    with pytest.raises(RunEnded):
        call(new_prompt())
    assert records == [] and server.bodies == []


def test_unknown_strategies_and_bad_timeouts_are_refused() -> None:
    with pytest.raises(StrategyError, match="unknown strategy 'retry-forever'"):
        _strategy("retry-forever", Server([]), [])
    with pytest.raises(StrategyError, match="timeout_s must be > 0"):
        _strategy("no-retry", Server([]), [], timeout_s=0)


def test_prompts_are_unique_per_call() -> None:
    assert len({new_prompt() for _ in range(1000)}) == 1000
