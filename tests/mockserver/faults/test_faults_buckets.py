"""Token buckets and the rate limiter: capacity never exceeded, continuous refill, true headers."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.faults import RequestFacts, TokenBucket, build_engine
from mockserver.faults.engine import ScenarioEngine

WALL = 1_800_000_000.0  # the injected wall clock at restart (engine time 0)


def facts(
    index: int, *, key: str = "k1", model: str = "claude-opus-5", inp: int = 10, out: int = 100
) -> RequestFacts:
    return RequestFacts(
        index=index, method="POST", path="/v1/messages", model=model, stream=False, api_key_id=key,
        body_digest=f"b{index}", headers={}, input_tokens=inp, max_tokens=out,
    )  # fmt: skip


def limited(limits: dict[str, Any]) -> ScenarioEngine:
    eng = build_engine({"name": "rl", "description": "d", "rate_limits": limits}, wall_clock=lambda: WALL)
    assert isinstance(eng, ScenarioEngine)
    eng.restart(0.0)
    return eng


ops = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),
        st.sampled_from(["take", "give"]),
        st.floats(min_value=0, max_value=150, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=1000),
    per_min=st.integers(min_value=1, max_value=6000),
    ops=ops,
)
def test_bucket_never_exceeds_capacity_nor_goes_negative(capacity: int, per_min: int, ops: list[Any]) -> None:
    b = TokenBucket(capacity, per_min / 60.0, 0.0)
    now = 0.0
    for dt, op, amount in ops:
        now += dt
        before = b.available(now)
        if op == "take":
            took = b.try_take(amount, now)
            assert took == (amount <= before)
        else:
            b.give_back(amount, now)
        assert 0.0 <= b.level <= b.capacity


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=10_000),
    taken=st.floats(min_value=0, max_value=1, allow_nan=False),
    dt=st.floats(min_value=0, max_value=120, allow_nan=False),
)
def test_bucket_refills_continuously_at_the_per_minute_rate(limit: int, taken: float, dt: float) -> None:
    b = TokenBucket.per_minute(limit, 0.0)
    assert b.try_take(limit * taken, 0.0)
    left = limit - limit * taken
    expected = min(limit, left + dt * limit / 60.0)
    assert math.isclose(b.available(dt), expected, rel_tol=1e-9, abs_tol=1e-9)


@given(limit=st.integers(min_value=1, max_value=600), amount=st.integers(min_value=1, max_value=600))
def test_wait_for_is_exactly_when_the_tokens_are_there(limit: int, amount: int) -> None:
    b = TokenBucket.per_minute(limit, 0.0)
    b.try_take(limit, 0.0)
    wait = b.wait_for(amount, 0.0)
    if amount > limit:
        assert wait == math.inf
        return
    assert math.isclose(wait, amount * 60.0 / limit)
    probe = TokenBucket.per_minute(limit, 0.0)
    probe.try_take(limit, 0.0)
    assert not probe.try_take(amount, wait * (1 - 1e-9) - 1e-12)
    assert probe.try_take(amount, wait * (1 + 1e-9) + 1e-12)


def test_requests_per_minute_limit_gives_429_with_a_correct_retry_after() -> None:
    eng = limited({"requests_per_minute": 6, "retry_after_ms": True})  # one request every 10 s
    for i in range(6):
        d = eng.decide(facts(i), 0.0)
        assert d.error is None
        assert d.headers["anthropic-ratelimit-requests-remaining"] == str(5 - i)
    d = eng.decide(facts(6), 1.0)
    assert d.error is not None and d.error.status == 429 and d.error.error_type == "rate_limit_error"
    assert d.error.headers["retry-after"] == "9"  # 0.1 token at t=1; 0.9 missing at 0.1/s
    assert d.error.headers["retry-after-ms"] == "9000"
    assert "x-should-retry" not in d.error.headers
    assert eng.decide(facts(7), 9.999).error is not None
    assert eng.decide(facts(8), 10.0).error is None


def test_every_response_carries_true_ratelimit_headers_with_rfc3339_resets() -> None:
    eng = limited(
        {"requests_per_minute": 60, "input_tokens_per_minute": 6000, "output_tokens_per_minute": 1200}
    )
    d = eng.decide(facts(0, inp=600, out=300), 0.0)
    h = dict(d.headers)
    assert h["anthropic-ratelimit-requests-limit"] == "60"
    assert h["anthropic-ratelimit-requests-remaining"] == "59"
    assert h["anthropic-ratelimit-input-tokens-remaining"] == "5400"
    assert h["anthropic-ratelimit-output-tokens-remaining"] == "900"
    # full again when the deficit has refilled: 1 request at 1/s, 600 input at 100/s, 300 output at 20/s
    expect = {"requests": 1.0, "input-tokens": 6.0, "output-tokens": 15.0}
    for name, seconds in expect.items():
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(WALL + seconds)))
        assert h[f"anthropic-ratelimit-{name}-reset"] == reset
    # the most restrictive token limit (fewest remaining) is the output bucket
    assert h["anthropic-ratelimit-tokens-limit"] == "1200"
    assert h["anthropic-ratelimit-tokens-remaining"] == "900"


def test_output_tokens_are_reserved_from_max_tokens_and_the_unused_part_given_back() -> None:
    eng = limited({"output_tokens_per_minute": 1000})
    f0 = facts(0, out=800)
    d0 = eng.decide(f0, 0.0)
    assert d0.headers["anthropic-ratelimit-output-tokens-remaining"] == "200"
    assert eng.decide(facts(1, out=500), 0.0).error is not None
    eng.complete(f0, d0, 0.0, status=200, output_tokens=50, client_gone=False)
    assert eng.decide(facts(2, out=500), 0.0).error is None


def test_a_request_larger_than_the_limit_is_refused_with_the_time_until_the_bucket_is_full() -> None:
    """Every rate-limit 429 carries retry-after, as the real API's do; for a request no bucket can
    hold, it is the time until the bucket is full again (at least 1 s), and the message says why."""
    eng = limited({"input_tokens_per_minute": 1000})
    d = eng.decide(facts(0, inp=5000), 0.0)
    assert d.error is not None and d.error.status == 429 and d.error.headers["retry-after"] == "1"
    assert "more input tokens than your rate limit" in d.error.message
    assert eng.decide(facts(1, inp=700), 0.0).error is None  # 300 left: full again in 42 s
    d = eng.decide(facts(2, inp=5000), 0.0)
    assert d.error is not None and d.error.headers["retry-after"] == "42"


def test_rate_limits_may_send_no_retry_after_and_every_refusal_says_when_otherwise() -> None:
    quiet = limited({"requests_per_minute": 1, "retry_after": False, "retry_after_ms": True})
    assert quiet.decide(facts(0), 0.0).error is None
    refused = quiet.decide(facts(1), 0.0).error
    assert refused is not None and refused.status == 429
    assert "retry-after" not in refused.headers and refused.headers["retry-after-ms"] == "60000"
    eng = limited({"requests_per_minute": 6})
    assert all(eng.decide(facts(i), 0.0).error is None for i in range(6))
    refused = eng.decide(facts(6), 5.0).error  # half a request back after 5 s: 5 s to wait
    assert refused is not None and refused.headers == {"retry-after": "5"}


def test_buckets_are_per_api_key_and_per_model_class() -> None:
    eng = limited({
        "requests_per_minute": 1,
        "classes": {"haiku": {"models": "claude-haiku-*", "requests_per_minute": 2}},
    })  # fmt: skip
    assert eng.decide(facts(0, key="a"), 0.0).error is None
    assert eng.decide(facts(1, key="a"), 0.0).error is not None
    assert eng.decide(facts(2, key="b"), 0.0).error is None
    assert eng.decide(facts(3, key="a", model="claude-haiku-5-5"), 0.0).error is None
    d = eng.decide(facts(4, key="a", model="claude-haiku-5-5"), 0.0)
    assert d.error is None and d.reason["model_class"] == "haiku"
    assert d.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert eng.decide(facts(5, key="a", model="claude-haiku-5-5"), 0.0).error is not None


@pytest.mark.parametrize("name", ["rate-limited"])
def test_the_rate_limited_builtin_refuses_the_51st_request_in_a_minute(name: str) -> None:
    eng = build_engine(name, wall_clock=lambda: WALL)
    eng.restart(0.0)
    results = [eng.decide(facts(i, inp=10, out=10), 0.0) for i in range(51)]  # 50 rpm: 1.2 s per token
    assert all(d.error is None for d in results[:50])
    last = results[50].error
    assert last is not None and last.status == 429 and last.headers["retry-after"] == "2"


def test_spend_limit_fault_is_a_429_that_must_not_be_retried() -> None:
    eng = build_engine({"name": "s", "description": "d", "rules": [{"fault": "spend_limit"}]})
    eng.restart(0.0)
    d = eng.decide(facts(0), 0.0)
    assert d.error is not None and d.error.status == 429 and d.error.error_type == "rate_limit_error"
    assert d.error.headers == {"x-should-retry": "false"}
    assert "usage limits" in d.error.message
