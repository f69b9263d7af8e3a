"""Headers the real API sends and the mock therefore sends too: retry-after on every 429 (unless
the scenario asks for none; never on the spend-cap 429), and the anthropic-ratelimit-* headers on
every response, from a generous default tier when the scenario has no rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY, user

from mockserver import MockServer, ServerConfig
from mockserver.faults import ScenarioError, build_engine
from mockserver.faults.ratelimits import DEFAULT_TIER, rfc3339

API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": user()}
WALL = 1_800_000_000.4  # the injected wall clock: every full bucket resets at the next second
RESET = "2027-01-15T08:00:01Z"
TIER = {
    "anthropic-ratelimit-requests-limit": "100000",
    "anthropic-ratelimit-requests-remaining": "100000",
    "anthropic-ratelimit-requests-reset": RESET,
    "anthropic-ratelimit-input-tokens-limit": "100000000",
    "anthropic-ratelimit-input-tokens-remaining": "100000000",
    "anthropic-ratelimit-input-tokens-reset": RESET,
    "anthropic-ratelimit-output-tokens-limit": "20000000",
    "anthropic-ratelimit-output-tokens-remaining": "20000000",
    "anthropic-ratelimit-output-tokens-reset": RESET,
    "anthropic-ratelimit-tokens-limit": "20000000",
    "anthropic-ratelimit-tokens-remaining": "20000000",
    "anthropic-ratelimit-tokens-reset": RESET,
}
RULES = [
    {"id": "plain-429", "match": {"model": "claude-haiku-4-5"}, "fault": 429},
    {"id": "quiet-429", "match": {"model": "claude-sonnet-4-6"}, "fault": {"error": {"status": 429,
     "retry_after_s": None}}},
    {"id": "spend", "match": {"model": "claude-opus-4-6"}, "fault": "spend_limit"},
    {"id": "plain-529", "match": {"model": "claude-opus-4-5"}, "fault": 529},
]  # fmt: skip


def ratelimit(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("anthropic-ratelimit-")}


@pytest.fixture
def server() -> Iterator[MockServer]:
    spec = {"name": "four-faults", "description": "one fault per model", "rules": RULES}
    with MockServer(ServerConfig(wall_clock=lambda: WALL), scenario=spec) as srv:
        yield srv


def post(server: MockServer, model: str, **headers: str) -> httpx2.Response:
    return httpx2.post(f"{server.url}/v1/messages", json={**BODY, "model": model}, headers={**API, **headers})


def test_every_429_carries_a_short_retry_after_unless_the_scenario_says_none(server: MockServer) -> None:
    scripted = post(server, "claude-haiku-4-5")
    assert scripted.status_code == 429 and scripted.headers["retry-after"] == "1"
    quiet = post(server, "claude-sonnet-4-6")
    assert quiet.status_code == 429 and "retry-after" not in quiet.headers
    spend = post(server, "claude-opus-4-6")  # the spend cap: no time would help
    assert spend.status_code == 429 and "retry-after" not in spend.headers
    assert spend.headers["x-should-retry"] == "false"
    assert "retry-after" not in post(server, "claude-opus-4-5").headers  # a 529 says nothing unasked
    overridden = post(server, "claude-opus-4-5", **{"x-busysignal-fault": "429"})
    assert overridden.status_code == 429 and overridden.headers["retry-after"] == "1"
    own = post(server, "claude-opus-4-5", **{"x-busysignal-fault": "429;retry-after-ms=20"})
    assert own.headers["retry-after"] == "1" and own.headers["retry-after-ms"] == "20"
    none = post(server, "claude-opus-4-5", **{"x-busysignal-fault": "429;retry-after=none"})
    assert none.status_code == 429 and "retry-after" not in none.headers
    spend = post(server, "claude-opus-4-5", **{"x-busysignal-fault": "spend_limit"})
    assert spend.status_code == 429 and "retry-after" not in spend.headers


def test_rate_limited_429s_carry_retry_after_unless_turned_off() -> None:
    def refused(limits: dict[str, Any]) -> httpx2.Response:
        spec = {"name": "one-rpm", "description": "d", "rate_limits": limits}
        with MockServer(scenario=spec) as srv:
            assert httpx2.post(f"{srv.url}/v1/messages", json=BODY, headers=API).status_code == 200
            return httpx2.post(f"{srv.url}/v1/messages", json=BODY, headers=API)

    told = refused({"requests_per_minute": 1})
    assert told.status_code == 429 and 59 <= int(told.headers["retry-after"]) <= 60
    untold = refused({"requests_per_minute": 1, "retry_after": False})
    assert untold.status_code == 429 and "retry-after" not in untold.headers


def test_no_retry_after_is_written_in_the_language_and_checked() -> None:
    build_engine({"name": "x", "description": "d", "rules": [{"fault": {"error": {"status": 429,
                  "retry_after_s": None}}}]})  # fmt: skip
    with pytest.raises(ScenarioError, match="retry_after"):
        build_engine({"name": "x", "description": "d", "rate_limits": {"retry_after": "sometimes"}})


def test_every_response_carries_the_default_tiers_ratelimit_headers(server: MockServer) -> None:
    ok = httpx2.post(f"{server.url}/v1/messages", json={**BODY, "model": "claude-sonnet-5"}, headers=API)
    assert ok.status_code == 200 and ratelimit(ok.headers) == TIER
    streamed = httpx2.post(
        f"{server.url}/v1/messages", json={**BODY, "model": "claude-sonnet-5", "stream": True}, headers=API
    )
    answers = [
        ok,
        streamed,
        post(server, "claude-opus-4-5"),  # a scripted 529
        post(server, "claude-nope"),  # refused by validation
        httpx2.get(f"{server.url}/v1/models", headers=API),
        httpx2.get(f"{server.url}/v1/nowhere", headers=API),
        httpx2.post(
            f"{server.url}/v1/messages/count_tokens",
            json={"model": "claude-sonnet-5", "messages": user()},
            headers=API,
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 529, 404, 200, 404, 200]
    for answer in answers:
        assert ratelimit(answer.headers) == TIER, answer.request.url
    assert rfc3339(WALL) == RESET and DEFAULT_TIER.requests == 100_000


def test_the_default_tiers_reset_follows_the_wall_clock() -> None:
    wall = [WALL]
    with MockServer(ServerConfig(wall_clock=lambda: wall[0])) as server:
        first = httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=API)
        wall[0] += 61.0
        later = httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=API)
    assert first.headers["anthropic-ratelimit-requests-reset"] == RESET
    assert later.headers["anthropic-ratelimit-requests-reset"] == "2027-01-15T08:01:02Z"
    assert later.headers["anthropic-ratelimit-tokens-remaining"] == "20000000"


def test_a_rate_limited_scenario_sends_its_true_buckets_over_the_default_tier() -> None:
    spec = {"name": "rpm", "description": "d", "rate_limits": {"requests_per_minute": 5}}
    with MockServer(ServerConfig(wall_clock=lambda: WALL), scenario=spec) as server:
        answers = [httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=API) for _ in range(2)]
        models = httpx2.get(f"{server.url}/v1/models", headers=API)  # no limit covers it
    assert [a.headers["anthropic-ratelimit-requests-remaining"] for a in answers] == ["4", "3"]
    assert answers[0].headers["anthropic-ratelimit-requests-limit"] == "5"
    # the limits the scenario leaves out are the default tier's
    assert answers[0].headers["anthropic-ratelimit-input-tokens-limit"] == "100000000"
    assert ratelimit(models.headers) == TIER


def test_the_sdk_parses_every_answer_with_the_new_headers(server: MockServer) -> None:
    client = anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
    )
    raw = client.messages.with_raw_response.create(model="claude-sonnet-5", max_tokens=5, messages=user())
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "100000"
    assert raw.parse().usage.output_tokens > 0
    with client.messages.stream(model="claude-sonnet-5", max_tokens=5, messages=user()) as stream:
        assert stream.get_final_message().content
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=user())
    assert caught.value.response.headers["retry-after"] == "1" and caught.value.request_id
    with pytest.raises(anthropic.RateLimitError) as spent:
        client.messages.create(model="claude-opus-4-6", max_tokens=5, messages=user())
    assert "retry-after" not in spent.value.response.headers
