"""The real Python SDK against the mock: each error status gives the SDK's exception class, the
SDK's own retries show in the journal, and mid-stream errors / x-should-retry behave as the
docs/anthropic-api.md (§2.2, §2.4, §4.1) says.

Runs against whichever major of the SDK is installed (2.x in .venv, the newest 1.x in
.venv-sdk1): it needs only anthropic, pytest and this project.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from mockserver import MockServer

MAJOR = int(anthropic.__version__.split(".")[0])
MODEL = "claude-opus-5"
FAULT = "x-busysignal-fault"

# status → exception class name, per docs/anthropic-api.md §2.2 ("Py 2.14.0" and "Py 1.13.0" columns; the 1.x
# line keeps the 1.13.0 mapping). 418 and 507 stand for "other 4xx" and "other >= 500".
COMMON = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    418: "APIStatusError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "InternalServerError",
    507: "InternalServerError",
}
BY_MAJOR = {
    2: {
        402: "PaymentRequiredError",
        408: "RequestTimeoutError",
        413: "ContentTooLargeError",
        503: "ServiceUnavailableError",
        504: "GatewayTimeoutError",
        529: "OverloadedError",
    },
    1: {
        402: "APIStatusError",
        408: "APIStatusError",
        413: "RequestTooLargeError",
        503: "InternalServerError",
        504: "InternalServerError",
        529: "OverloadedError",
    },
}
EXPECTED_CLASS = {**COMMON, **BY_MAJOR.get(MAJOR, BY_MAJOR[2])}
RETRIED = {408, 409, 429, 500, 502, 503, 504, 507, 529}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=1) as srv:
        yield srv


@pytest.fixture
def mock(server: MockServer) -> MockServer:
    server.set_scenario("steady")
    server.reset()
    return server


@pytest.fixture
def sdk_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the SDK asks for between its retries (it still sleeps them): what it decided,
    where the journal's gaps also hold this machine's speed."""
    asked: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if sys._getframe(1).f_globals.get("__name__", "").startswith("anthropic"):
            asked.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return asked


def client(srv: MockServer, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.url, api_key="sk-ant-test-key", **kw)


def ask(c: anthropic.Anthropic, text: str = "hello", **kw: Any) -> Any:
    return c.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": text}], **kw)


def entries(srv: MockServer) -> list[dict[str, Any]]:
    return [e.to_dict() for e in srv.journal.entries() if e.to_dict()["path"] == "/v1/messages"]


@pytest.mark.parametrize("status", sorted(EXPECTED_CLASS))
def test_each_error_status_raises_the_sdk_exception_class_of_the_reference(
    mock: MockServer, status: int
) -> None:
    c = client(mock, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        ask(c, extra_headers={FAULT: str(status)})
    exc = info.value
    assert type(exc).__name__ == EXPECTED_CLASS[status]
    assert exc.status_code == status
    (entry,) = entries(mock)
    assert exc.request_id == entry["request_id"] and entry["status"] == status
    assert entry["fault"] == "http_error" and entry["reason"]["source"] == "override"
    assert isinstance(exc.body, dict) and exc.body["type"] == "error"
    assert exc.body["error"]["type"] == entry["error_type"]


@pytest.mark.parametrize("status", sorted(EXPECTED_CLASS))
def test_the_sdk_retries_exactly_the_retryable_statuses(mock: MockServer, status: int) -> None:
    c = client(mock)  # default max_retries=2
    with pytest.raises(anthropic.APIStatusError):
        ask(c, extra_headers={FAULT: f"{status};retry-after-ms=1"})
    attempts = entries(mock)
    expected = 3 if status in RETRIED else 1
    assert [e["retry_count"] for e in attempts] == list(range(expected))
    assert len({e["logical_id"] for e in attempts}) == 1


def test_scripted_529s_then_success_show_three_attempts_with_small_retry_after_gaps(
    mock: MockServer, sdk_sleeps: list[float]
) -> None:
    fast_529 = {"error": {"status": 529, "retry_after_ms": 20}}
    mock.set_scenario(
        {
            "name": "two-529",
            "description": "d",
            "rules": [{"trigger": {"sequence": [fast_529, fast_529, "ok"], "scope": "logical"}}],
        }
    )
    message = ask(client(mock), "fail twice then succeed")
    assert message.content
    attempts = entries(mock)
    assert [e["status"] for e in attempts] == [529, 529, 200]
    assert [e["retry_count"] for e in attempts] == [0, 1, 2]
    assert [e["reason"].get("sequence_pos") for e in attempts[:2]] == [0, 1]
    assert attempts[2]["reason"]["passed"] == [
        {"rule": "rule-0", "count": 2, "scope": "logical", "sequence_pos": 2}
    ]
    assert sdk_sleeps == pytest.approx([0.02, 0.02])  # retry-after-ms honoured, not the 0.5 s backoff
    gaps = [b["start"] - a["start"] for a, b in itertools.pairwise(attempts)]
    assert all(g >= 0.02 for g in gaps), gaps  # and the server saw it wait


def test_default_backoff_gaps_are_within_the_sdk_bounds(mock: MockServer, sdk_sleeps: list[float]) -> None:
    mock.set_scenario(
        {
            "name": "two-529",
            "description": "d",
            "rules": [{"trigger": {"sequence": [529, 529, "ok"], "scope": "logical"}}],
        }
    )
    ask(client(mock), "default backoff")
    attempts = entries(mock)
    assert [e["status"] for e in attempts] == [529, 529, 200]
    # the SDK's envelope: 0.5 s then 1 s, less up to 25 % of jitter
    first, second = sdk_sleeps
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0
    # the server saw each wait (a gap adds the failed attempt's round trip: a lower bound only)
    gaps = [b["start"] - a["start"] for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= first and gaps[1] >= second, gaps


def test_a_mid_stream_error_event_is_an_api_status_error_with_status_200_and_not_retried(
    mock: MockServer,
) -> None:
    c = client(mock)
    stream_args: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "stream"}],
        "extra_headers": {FAULT: "stream_error_event;after=3"},
    }
    with pytest.raises(anthropic.APIStatusError) as info, c.messages.stream(**stream_args) as stream:
        for _ in stream:
            pass
    exc = info.value
    assert type(exc) is anthropic.APIStatusError and exc.status_code == 200
    assert getattr(exc, "type", "overloaded_error") == "overloaded_error"
    (entry,) = entries(mock)
    assert entry["status"] == 200 and entry["fault"] == "stream_error_event"
    assert entry["error_type"] == "overloaded_error" and entry["stream"] is True


def test_x_should_retry_false_stops_the_sdk_retries(mock: MockServer) -> None:
    with pytest.raises(anthropic.OverloadedError):
        ask(client(mock), extra_headers={FAULT: "529;should-retry=false"})
    assert [e["retry_count"] for e in entries(mock)] == [0]


def test_x_should_retry_true_makes_the_sdk_retry_a_400(mock: MockServer) -> None:
    with pytest.raises(anthropic.BadRequestError):
        ask(client(mock), extra_headers={FAULT: "400;should-retry=true;retry-after-ms=1"})
    assert [e["retry_count"] for e in entries(mock)] == [0, 1, 2]


def test_the_spend_limit_429_is_a_rate_limit_error_the_sdk_does_not_retry(mock: MockServer) -> None:
    mock.set_scenario({"name": "spend", "description": "d", "rules": [{"fault": "spend_limit"}]})
    with pytest.raises(anthropic.RateLimitError) as info:
        ask(client(mock))
    assert info.value.response.headers.get("x-should-retry") == "false"
    assert len(entries(mock)) == 1


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (402, "billing_error", "Your credit balance is too low to access the Anthropic API."),
        (504, "timeout_error", "Request timed out while processing"),
    ],
)
def test_a_scenario_billing_or_timeout_error_carries_the_api_error_type(
    mock: MockServer, status: int, error_type: str, message: str
) -> None:
    """402 billing_error (not retried) and 504 timeout_error (retried), named by a scenario rule's
    status: the error type and message of docs/anthropic-api.md §2.2, the class of the SDK's major."""
    rules = [{"match": {"path": "/v1/messages"}, "fault": {"error": {"status": status, "retry_after_s": 0}}}]
    mock.set_scenario({"name": error_type, "description": "d", "rules": rules})
    with pytest.raises(anthropic.APIStatusError) as info:
        ask(client(mock, max_retries=1))
    exc = info.value
    assert type(exc).__name__ == EXPECTED_CLASS[status]
    assert exc.body == {"type": "error", "error": {"type": error_type, "message": message},
                        "request_id": exc.request_id}  # fmt: skip
    assert getattr(exc, "type", error_type) == error_type  # .type: SDK 1.13 and later
    attempts = entries(mock)
    assert [e["error_type"] for e in attempts] == [error_type] * (2 if status in RETRIED else 1)


def test_a_connection_reset_is_an_api_connection_error_retried_by_the_sdk(mock: MockServer) -> None:
    mock.set_scenario({"name": "reset", "description": "d", "rules": [{"fault": "reset"}]})
    with pytest.raises(anthropic.APIConnectionError):
        ask(client(mock, max_retries=1))
    attempts = entries(mock)
    assert [e["status"] for e in attempts] == [None, None]
    assert all(e["fault"] == "reset" for e in attempts)


async def test_the_async_client_maps_and_retries_the_same_way(mock: MockServer) -> None:
    c = anthropic.AsyncAnthropic(base_url=mock.url, api_key="sk-ant-test-key")
    try:
        with pytest.raises(anthropic.RateLimitError):
            await c.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "async"}],
                extra_headers={FAULT: "429;retry-after-ms=1"},
            )  # fmt: skip
    finally:
        await c.close()
    assert [e["retry_count"] for e in entries(mock)] == [0, 1, 2]
