"""Cost of the fault engine's pure core: ``decide`` for one request of a 20-rule scenario.

Run: ``.venv/bin/pytest benchmarks/bench_decide.py --benchmark-only -p no:xdist -s``
(or ``.venv/bin/python -m benchmarks.bench_decide`` for the figure without pytest-benchmark).

Target (issue 3): at most 20 µs per request. The scenario below has 20 rules of every kind
(wildcard model matches, header matches, windows, a compressed day, sequences per logical
request, every-N, probabilities, latency and token modifiers) plus rate limits, so a request
walks most of the rule list. Each measured round decides a batch of distinct requests; the
figure printed is the time per request. Nothing here asserts on time.

A second figure, outside the target's scenario: the same 20 rules plus a saturated capacity
pool whose rejections cost slot time (``shed_cost_s``), so nearly every request takes the
capacity model's shed path and adds rejection work to the pool.
"""

from __future__ import annotations

import time
from typing import Any

from mockserver.faults import RequestFacts, build_engine
from mockserver.faults.engine import ScenarioEngine

BATCH = 1000
MODELS = ("claude-opus-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-mythos-5-2")


def twenty_rule_scenario() -> dict[str, Any]:
    day = {"day": {"length_s": 240, "hours": [[9, 12], [14, 17]]}}
    rules: list[dict[str, Any]] = [
        {"id": "tenant-red", "match": {"headers": {"x-tenant": "red-*"}}, "fault": 503},
        {
            "id": "beta-header",
            "match": {"headers": {"anthropic-beta": "*files*"}},
            "trigger": {"probability": 0.5},
            "fault": 400,
        },
        {
            "id": "count-tokens",
            "match": {"path": "/v1/messages/count_tokens"},
            "trigger": {"probability": 0.1},
            "fault": 529,
        },
        {
            "id": "script",
            "match": {"model": "claude-mythos-*"},
            "trigger": {"sequence": [529, 529, "ok"], "scope": "logical"},
        },
        {"id": "outage", "when": {"window": {"start_s": 3600, "end_s": 3700}}, "fault": 529},
        {
            "id": "peak-opus",
            "match": {"model": "claude-opus-*"},
            "when": day,
            "trigger": {"probability": 0.25},
            "fault": 529,
        },
        {"id": "peak-other", "when": day, "trigger": {"probability": 0.08}, "fault": 529},
        {
            "id": "every-50",
            "match": {"model": ["claude-sonnet-*", "claude-haiku-*"]},
            "trigger": {"every": 50},
            "fault": 500,
        },
        {
            "id": "after-key",
            "match": {"api_key_id": "key-9"},
            "trigger": {"after": 100, "scope": "api_key"},
            "fault": "spend_limit",
        },
        {
            "id": "stream-err",
            "match": {"stream": True},
            "trigger": {"probability": 0.05},
            "fault": "stream_error_event",
        },
        {
            "id": "stream-cut",
            "match": {"stream": True},
            "trigger": {"probability": 0.01},
            "fault": "stream_cut",
        },
        {"id": "p502", "trigger": {"probability": 0.01}, "fault": 502},
        {"id": "p504", "trigger": {"probability": 0.01}, "fault": 504},
        {"id": "reset", "trigger": {"probability": 0.005}, "fault": "reset"},
        {
            "id": "sched",
            "when": {"schedule": {"period_s": 60, "windows": [{"start_s": 50, "end_s": 55}]}},
            "trigger": {"probability": 0.3},
            "fault": 429,
        },
        {"id": "p529", "trigger": {"probability": 0.02}, "fault": 529},
        {
            "id": "opus-latency",
            "match": {"model": "claude-opus-*"},
            "latency": {"lognormal": {"median_s": 0.2, "p99_s": 2.0}},
        },
        {"id": "haiku-latency", "match": {"model": "claude-haiku-*"}, "latency": {"uniform_s": [0.01, 0.05]}},
        {"id": "base-latency", "latency": {"fixed_s": 0.01}},
        {
            "id": "slow-tokens",
            "match": {"model": "claude-opus-*"},
            "tokens": {"ttft_s": 0.8, "tokens_per_s": 40},
        },
    ]
    assert len(rules) == 20
    return {
        "name": "bench-20",
        "description": "twenty rules of every kind",
        "rules": rules,
        "rate_limits": {"requests_per_minute": 10**9, "input_tokens_per_minute": 10**12,
                        "output_tokens_per_minute": 10**12},
    }  # fmt: skip


def overloaded_capacity_scenario() -> dict[str, Any]:
    """The 20 rules plus a saturated capacity pool whose rejections cost slot time (``shed_cost_s``),
    so most requests take the shed path and add rejection work."""
    sc = twenty_rule_scenario()
    sc["name"] = "bench-20-capacity"
    sc["capacity"] = {
        "pools": [{"concurrency": 64, "ttft_s": 0.2, "stream_tokens_per_s": 50, "queue_size": 32,
                   "max_wait_s": 0.5, "shed_cost_s": 0.005}]
    }  # fmt: skip
    return sc


def make_requests(n: int) -> list[RequestFacts]:
    return [
        RequestFacts(
            index=i, method="POST", path="/v1/messages", model=MODELS[i % len(MODELS)], stream=i % 3 == 0,
            api_key_id=f"key-{i % 10}", body_digest=f"{i // 3:x}", input_tokens=200, max_tokens=256,
            headers={"user-agent": "Anthropic/Python 2.14.0", "x-stainless-retry-count": "0",
                     "anthropic-version": "2023-06-01", "content-type": "application/json"},
        )
        for i in range(n)
    ]  # fmt: skip


def new_engine(capacity: bool = False) -> ScenarioEngine:
    eng = build_engine(overloaded_capacity_scenario() if capacity else twenty_rule_scenario(), seed=1)
    assert isinstance(eng, ScenarioEngine)
    eng.restart(0.0)
    return eng


def run_batch(eng: ScenarioEngine, requests: list[RequestFacts], t0: float) -> None:
    decide = eng.decide
    for i, facts in enumerate(requests):
        decide(facts, t0 + i * 0.001)


def test_decide_twenty_rules(benchmark: Any) -> None:
    eng = new_engine()
    requests = make_requests(BATCH)
    clock = iter(range(10**9))
    benchmark(lambda: run_batch(eng, requests, float(next(clock))))
    median_us = benchmark.stats.stats.median / BATCH * 1e6
    min_us = benchmark.stats.stats.min / BATCH * 1e6
    benchmark.extra_info["per_request_us_median"] = median_us
    benchmark.extra_info["per_request_us_min"] = min_us
    verdict = "meets" if median_us <= 20 else "MISSES"
    print(
        f"\ndecide, 20-rule scenario: {median_us:.2f} µs per request (median), {min_us:.2f} µs (min)"
        f" — the median {verdict} the 20 µs target"
    )


def test_decide_twenty_rules_with_a_saturated_costly_pool(benchmark: Any) -> None:
    eng = new_engine(capacity=True)
    requests = make_requests(BATCH)
    clock = iter(range(10**9))
    benchmark(lambda: run_batch(eng, requests, float(next(clock))))
    median_us = benchmark.stats.stats.median / BATCH * 1e6
    benchmark.extra_info["per_request_us_median"] = median_us
    print(
        f"\ndecide, 20 rules + a saturated pool charging rejections: {median_us:.2f} µs per request (median)"
    )


def main() -> None:
    for capacity, label in (
        (False, "20-rule scenario"),
        (True, "20 rules + saturated pool, costly rejections"),
    ):
        eng = new_engine(capacity)
        requests = make_requests(BATCH)
        samples = []
        for r in range(30):
            start = time.perf_counter()
            run_batch(eng, requests, float(r))
            samples.append((time.perf_counter() - start) / BATCH * 1e6)
        samples.sort()
        median, best = samples[len(samples) // 2], samples[0]
        verdict = (
            "" if capacity else f" — the median {'meets' if median <= 20 else 'MISSES'} the 20 µs target"
        )
        print(
            f"decide, {label}: {median:.2f} µs per request (median of 30 x {BATCH}), "
            f"{best:.2f} µs (min){verdict}"
        )


if __name__ == "__main__":
    main()
