"""Per-key rate-limit state stays bounded: full bucket sets are dropped, and there is a cap."""

from __future__ import annotations

from mockserver.faults import RequestFacts, build_engine
from mockserver.faults.engine import ScenarioEngine
from mockserver.faults.ratelimits import MAX_KEY_BUCKETS, evict, is_full

LIMITS = {"requests_per_minute": 2, "input_tokens_per_minute": 1000, "output_tokens_per_minute": 1000}


def facts(index: int, key: str) -> RequestFacts:
    return RequestFacts(
        index=index, method="POST", path="/v1/messages", model="claude-opus-5", stream=False,
        api_key_id=key, body_digest=f"b{index}", headers={}, input_tokens=10, max_tokens=10,
    )  # fmt: skip


def engine() -> ScenarioEngine:
    eng = build_engine({"name": "rl", "description": "d", "rate_limits": LIMITS}, wall_clock=lambda: 0.0)
    assert isinstance(eng, ScenarioEngine)
    eng.restart(0.0)
    return eng


def test_a_new_key_on_every_request_keeps_at_most_the_cap() -> None:
    eng = engine()
    n = MAX_KEY_BUCKETS * 2 + 500
    for i in range(n):  # 1 ms apart: a set refills in 30 s, so few are full when a sweep comes
        assert eng.decide(facts(i, f"key{i}"), i * 0.001).error is None
    assert eng.state is not None
    assert 0 < len(eng.state.buckets) <= MAX_KEY_BUCKETS


def test_full_sets_go_first_and_a_key_that_is_short_stays_refused() -> None:
    eng = engine()
    assert eng.state is not None
    buckets = eng.state.buckets
    assert eng.decide(facts(0, "busy"), 0.0).error is None
    assert eng.decide(facts(1, "busy"), 0.0).error is None
    refused = eng.decide(facts(2, "busy"), 0.0).error  # 2 per minute: the third is refused
    assert refused is not None and refused.status == 429
    assert eng.decide(facts(3, "idle"), 0.0).error is None
    # 40 s later: "idle" (one request) is full again, "busy" (two taken) is not
    assert is_full(buckets[("idle", "default")], 40.0) and not is_full(buckets[("busy", "default")], 40.0)
    assert evict(buckets, 40.0) == 1
    assert list(buckets) == [("busy", "default")]
    # "busy" kept its state: 40 s refilled 1.33 requests, so one more fits, not two as on a fresh set
    assert eng.decide(facts(4, "busy"), 40.0).error is None
    again = eng.decide(facts(6, "busy"), 40.0).error
    assert again is not None and again.status == 429
    assert eng.decide(facts(5, "idle"), 40.0).error is None  # a fresh set, as good as the full one


def test_past_the_cap_the_oldest_sets_go() -> None:
    eng = engine()
    assert eng.state is not None
    buckets = eng.state.buckets
    for i in range(10):
        eng.decide(facts(i, f"k{i}"), 0.0)
    assert evict(buckets, 0.0, cap=5) == 6  # down to 90% of the cap, the oldest first
    assert [k for k, _ in buckets] == ["k6", "k7", "k8", "k9"]
