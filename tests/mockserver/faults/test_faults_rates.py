"""Empirical fault rates and latency quantiles at fixed seeds, inside binomial bounds.

Every count below is Binomial(n, p) if the draws are uniform and independent; the bounds are the
1e-9 and 1 - 1e-9 quantiles of that distribution (scipy), so at these fixed seeds the tests are
deterministic, and a biased or correlated generator would fall outside them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy.stats import binom

from mockserver.faults import RequestFacts, build_engine
from mockserver.faults.engine import ScenarioEngine

N = 10_000
ALPHA = 1e-9


def facts(index: int, *, body: str = "b", stream: bool = False) -> RequestFacts:
    return RequestFacts(
        index=index, method="POST", path="/v1/messages", model="claude-opus-5", stream=stream,
        api_key_id="k", body_digest=body, headers={},
    )  # fmt: skip


def engine(rules: list[dict[str, Any]], seed: int) -> ScenarioEngine:
    eng = build_engine({"name": "rates", "description": "d", "rules": rules}, seed=seed)
    assert isinstance(eng, ScenarioEngine)
    eng.restart(0.0)
    return eng


def bounds(n: int, p: float) -> tuple[int, int]:
    return int(binom.ppf(ALPHA, n, p)), int(binom.isf(ALPHA, n, p))


@pytest.mark.parametrize("seed", [0, 20261129])
@pytest.mark.parametrize("p", [0.01, 0.1, 0.3, 0.5, 0.9])
def test_probability_rule_fault_rate_is_binomial(seed: int, p: float) -> None:
    eng = engine([{"trigger": {"probability": p}, "fault": 529}], seed)
    hits = sum(eng.decide(facts(i), 0.0).error is not None for i in range(N))
    lo, hi = bounds(N, p)
    assert lo <= hits <= hi, (hits, lo, hi)


def test_chained_rules_give_the_documented_mix() -> None:
    """flaky-5xx style: independent draws per rule, first fired wins."""
    eng = build_engine("flaky-5xx", seed=5)
    eng.restart(0.0)
    counts: dict[str, int] = {}
    for i in range(N):
        d = eng.decide(facts(i), 0.0)
        label = str(d.reason.get("fault", "ok"))
        counts[label] = counts.get(label, 0) + 1
    expected = {"500": 0.05, "502": 0.03, "503": 0.03, "504": 0.02, "reset": 0.02}
    for label, p in expected.items():
        lo, hi = bounds(N, p * 0.999 if label != "500" else p)
        # the YAML's conditional probabilities round the marginal to ~3 significant digits
        lo, hi = math.floor(lo * 0.98), math.ceil(hi * 1.02)
        assert lo <= counts.get(label, 0) <= hi, (label, counts)


def test_rules_draw_independently() -> None:
    """Two p=0.5 rules on separate streams: both fire on ~1/4 of requests, not 1/2 or 0."""
    eng = engine([{"id": "a", "trigger": {"probability": 0.5}, "latency": {"fixed_s": 1}},
                  {"id": "b", "trigger": {"probability": 0.5}, "fault": 500}], seed=9)  # fmt: skip
    both = 0
    for i in range(N):
        d = eng.decide(facts(i), 0.0)
        both += d.delay_s == 1 and d.error is not None
    lo, hi = bounds(N, 0.25)
    assert lo <= both <= hi


@pytest.mark.parametrize("seed", [3, 4])
def test_lognormal_latency_has_the_configured_median_and_p99(seed: int) -> None:
    median, p99 = 0.2, 3.0
    eng = engine([{"latency": {"lognormal": {"median_s": median, "p99_s": p99}}}], seed)
    delays = [eng.decide(facts(i), 0.0).delay_s for i in range(N)]
    below_median = sum(d <= median for d in delays)
    below_p99 = sum(d <= p99 for d in delays)
    lo, hi = bounds(N, 0.5)
    assert lo <= below_median <= hi
    lo, hi = bounds(N, 0.99)
    assert lo <= below_p99 <= hi


def test_uniform_latency_stays_in_range_and_fills_it() -> None:
    eng = engine([{"latency": {"uniform_s": [0.1, 0.3]}}], seed=11)
    delays = [eng.decide(facts(i), 0.0).delay_s for i in range(N)]
    assert all(0.1 <= d <= 0.3 for d in delays)
    lo, hi = bounds(N, 0.25)
    assert lo <= sum(d < 0.15 for d in delays) <= hi


def test_the_inlined_draw_is_the_splitmix_finaliser() -> None:
    from mockserver.faults import rng

    for key, index in [(0, 0), (1, 2), (2**63, 5), (12345, 10**9), (2**64 - 1, 2**40)]:
        expected = (rng.mix64(key ^ ((index * rng.GOLDEN) & rng.MASK64)) >> 11) * 2.0**-53
        assert rng.draw(key, index) == expected
        assert 0.0 <= expected < 1.0


def test_block_draws_are_the_single_draws() -> None:
    """rng.draw_block, and the engine's per-stream blocks, give exactly rng.draw's floats, however
    densely, sparsely or out of order a stream is asked."""
    from mockserver.faults import engine as eng_mod
    from mockserver.faults import rng
    from mockserver.faults.compiled import compile_scenario
    from mockserver.faults.engine import EngineState
    from scenarios.loader import load_scenario

    for seed in (0, 7):
        key = rng.stream_key(seed, "rule:r:p")
        for base in (0, 256, 10_000, 2**40):
            words = rng.draw_block(key, base, 256)
            assert [words[2 * j] * rng.TO_UNIT for j in range(256)] == [
                rng.draw(key, base + j) for j in range(256)
            ]
    state = EngineState.fresh(compile_scenario(load_scenario("launch-day"), 3), 0.0)
    keys = [rng.stream_key(3, f"s{i}") for i in range(3)]
    asks = [(keys[0], i) for i in range(1500)]  # dense: blocks
    asks += [(keys[1], i) for i in range(0, 3000, 7)]  # sparse: one at a time
    asks += [(keys[2], i) for i in list(range(600)) + list(range(100, 900)) + [5, 2**61, 77]]
    for key, index in asks:
        assert eng_mod._draw(state, key, index) == rng.draw(key, index), (key, index)
    assert state.draws[keys[0]].values is not None and state.draws[keys[1]].values is None


def test_decisions_with_block_draws_equal_decisions_with_single_draws(monkeypatch: Any) -> None:
    from mockserver.faults import engine as eng_mod

    spec = {
        "name": "blocks",
        "description": "probability rules met densely and sparsely, and a latency draw",
        "rules": [
            {"id": "dense", "trigger": {"probability": 0.3}, "fault": 529},
            {"id": "sparse", "match": {"model": "claude-opus-*"}, "trigger": {"probability": 0.5},
             "fault": 500},
            {"id": "every", "trigger": {"every": 3, "probability": 0.5}, "fault": 503},
            {"id": "slow", "latency": {"uniform_s": [0.01, 0.2]}},
        ],
    }  # fmt: skip

    def run() -> list[Any]:
        eng = build_engine(spec, seed=11)
        assert isinstance(eng, ScenarioEngine)
        eng.restart(0.0)
        out = []
        for i in range(1200):
            model = "claude-opus-4-5" if i % 9 == 0 else "claude-sonnet-4-6"
            facts = RequestFacts(i, "POST", "/v1/messages", model, False, "k", f"b{i}", {})
            out.append(eng.decide(facts, i * 0.01).reason)
        return out

    with_blocks = run()
    monkeypatch.setattr(eng_mod, "_DENSE", 10**9)  # every draw on its own
    assert run() == with_blocks
