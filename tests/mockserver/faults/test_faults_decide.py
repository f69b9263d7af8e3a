"""Properties of the pure core decide(): sequences, seeds, windows, matching, precedence."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.faults import RequestFacts, build_engine
from mockserver.faults.compiled import compile_scenario
from mockserver.faults.engine import EngineState, ScenarioEngine, decide
from scenarios.loader import load_scenario


def facts(
    index: int,
    *,
    key: str = "k1",
    body: str = "b1",
    model: str | None = "claude-opus-5",
    stream: bool = False,
    path: str = "/v1/messages",
    headers: dict[str, str] | None = None,
    loopback: bool = True,
    input_tokens: int = 10,
    max_tokens: int = 100,
) -> RequestFacts:
    return RequestFacts(
        index=index,
        method="POST",
        path=path,
        model=model,
        stream=stream,
        api_key_id=key,
        body_digest=body,
        headers=headers or {},
        input_tokens=input_tokens,
        max_tokens=max_tokens,
        loopback=loopback,
    )


def engine(spec: dict[str, Any], seed: int = 0, start: float = 0.0) -> ScenarioEngine:
    spec = {"name": "t", "description": "test", **spec}
    eng = build_engine(spec, seed=seed, wall_clock=lambda: 1_800_000_000.0)
    assert isinstance(eng, ScenarioEngine)
    eng.restart(start)
    return eng


def status(decision: Any) -> int | str:
    if decision.error is not None:
        return int(decision.error.status)
    if decision.connection_fault is not None:
        return str(decision.connection_fault.kind)
    if decision.stream_fault is not None:
        return f"stream_{decision.stream_fault.kind}"
    return "ok"


# ---------------------------------------------------------------- scripted sequences
seq_items = st.lists(st.sampled_from([529, 500, 429, "ok", "reset"]), min_size=1, max_size=6)
requests_st = st.lists(
    st.tuples(st.sampled_from(["k1", "k2", "k3"]), st.sampled_from(["b1", "b2"])), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(
    seq=seq_items,
    scope=st.sampled_from(["global", "api_key", "logical"]),
    reqs=requests_st,
    repeat=st.booleans(),
)
def test_scripted_sequence_is_reproduced_exactly_in_every_scope(
    seq: list[int | str], scope: str, reqs: list[tuple[str, str]], repeat: bool
) -> None:
    eng = engine({"rules": [{"trigger": {"sequence": seq, "scope": scope, "repeat": repeat}}]})
    seen: dict[str, int] = {}
    for i, (key, body) in enumerate(reqs):
        scope_key = {"global": "", "api_key": key, "logical": f"{key}:{body}"}[scope]
        n = seen.get(scope_key, 0)
        seen[scope_key] = n + 1
        expected = seq[n % len(seq)] if (n < len(seq) or repeat) else "ok"
        got = status(eng.decide(facts(i, key=key, body=body), now=float(i)))
        assert got == expected, (i, key, body, n)


def test_every_logical_request_fails_twice_then_succeeds_whatever_the_interleaving() -> None:
    eng = engine({"rules": [{"trigger": {"sequence": [529, 529, "ok"], "scope": "logical"}}]})
    outcomes: dict[str, list[int | str]] = {}
    order = ["a", "b", "a", "c", "b", "a", "c", "b", "c", "a"]
    for i, body in enumerate(order):
        outcomes.setdefault(body, []).append(status(eng.decide(facts(i, body=body), float(i))))
    assert outcomes == {"a": [529, 529, "ok", "ok"], "b": [529, 529, "ok"], "c": [529, 529, "ok"]}


# ---------------------------------------------------------------- reproducibility
MIXED: dict[str, Any] = {
    "rules": [
        {"id": "p529", "match": {"model": "claude-opus-*"}, "trigger": {"probability": 0.3}, "fault": 529},
        {"id": "p-reset", "trigger": {"probability": 0.1}, "fault": "reset"},
        {"id": "slow", "latency": {"lognormal": {"median_s": 0.1, "p99_s": 2.0}}},
        {"id": "jitter", "match": {"stream": True}, "latency": {"uniform_s": [0.0, 0.5]}},
    ]
}
mixed_requests = st.lists(
    st.tuples(
        st.sampled_from(["claude-opus-5", "claude-haiku-5-5"]),
        st.booleans(),
        st.floats(min_value=0, max_value=5, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63), reqs=mixed_requests)
def test_identical_seeds_give_identical_decisions(seed: int, reqs: list[tuple[str, bool, float]]) -> None:
    a, b = engine(MIXED, seed=seed), engine(MIXED, seed=seed)
    now = 0.0
    for i, (model, stream, dt) in enumerate(reqs):
        now += dt
        f = facts(i, model=model, stream=stream)
        assert a.decide(f, now) == b.decide(f, now)


def test_different_seeds_give_different_draws() -> None:
    a, b = engine(MIXED, seed=1), engine(MIXED, seed=2)
    da = [status(a.decide(facts(i), float(i))) for i in range(200)]
    db = [status(b.decide(facts(i), float(i))) for i in range(200)]
    assert da != db


def test_a_draw_depends_on_the_request_index_not_on_what_came_before() -> None:
    """Removing earlier requests does not change the decision of request 57."""
    a, b = engine(MIXED, seed=7), engine(MIXED, seed=7)
    for i in range(57):
        a.decide(facts(i), float(i))
    assert a.decide(facts(57), 57.0) == b.decide(facts(57), 57.0)


def test_the_pure_core_can_be_driven_directly_with_explicit_state() -> None:
    compiled = compile_scenario(load_scenario({"name": "t", "description": "d", **MIXED}), seed=3)
    s1, s2 = EngineState.fresh(compiled, 10.0), EngineState.fresh(compiled, 10.0)
    out1 = [decide(facts(i), 10.0 + i, s1) for i in range(50)]
    out2 = [decide(facts(i), 10.0 + i, s2) for i in range(50)]
    assert out1 == out2
    assert all(d.reason["seed"] == 3 and d.reason["index"] == i for i, d in enumerate(out1))


# ---------------------------------------------------------------- time windows
@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(min_value=0, max_value=1e4, allow_nan=False),
    length=st.floats(min_value=1e-3, max_value=1e4, allow_nan=False),
)
def test_window_boundaries_are_exact(start: float, length: float) -> None:
    end = start + length
    eng = engine({"rules": [{"when": {"window": {"start_s": start, "end_s": end}}, "fault": 503}]}, start=0.0)
    probes = {start: 503, end: "ok", math.nextafter(end, -math.inf): 503}
    if start > 0:
        probes[math.nextafter(start, -math.inf)] = "ok"
    for i, (t, expected) in enumerate(sorted(probes.items())):
        assert status(eng.decide(facts(i), t)) == expected, (t, start, end)


def test_window_times_are_relative_to_the_scenario_restart() -> None:
    eng = engine({"rules": [{"when": {"window": {"start_s": 5, "end_s": 10}}, "fault": 529}]}, start=1000.0)
    assert status(eng.decide(facts(0), 1004.999)) == "ok"
    assert status(eng.decide(facts(1), 1005.0)) == 529
    eng.restart(2000.0)
    assert status(eng.decide(facts(0), 2004.0)) == "ok"
    assert status(eng.decide(facts(1), 2009.0)) == 529


def test_repeating_schedule_and_compressed_day() -> None:
    eng = engine(
        {
            "rules": [
                {
                    "id": "sched",
                    "when": {"schedule": {"period_s": 10, "windows": [{"start_s": 2, "end_s": 4}]}},
                    "fault": 500,
                },
                {"id": "peak", "when": {"day": {"length_s": 240, "hours": [[9, 12]]}}, "fault": 529},
            ]
        }
    )
    got = {
        t: status(eng.decide(facts(i), t))
        for i, t in enumerate([1.9, 2.0, 3.99, 4.0, 12.0, 22.5, 89.9, 90.0, 119.9, 120.0, 330.0])
    }
    assert got == {
        1.9: "ok", 2.0: 500, 3.99: 500, 4.0: "ok", 12.0: 500, 22.5: 500,
        89.9: "ok", 90.0: 529, 119.9: 529, 120.0: "ok", 330.0: 529,
    }  # fmt: skip


# ---------------------------------------------------------------- counters
@given(every=st.integers(min_value=1, max_value=7), after=st.integers(min_value=0, max_value=7))
def test_every_nth_and_after_n_count_matching_requests(every: int, after: int) -> None:
    e1 = engine({"rules": [{"trigger": {"every": every}, "fault": 529}]})
    e2 = engine({"rules": [{"trigger": {"after": after}, "fault": 529}]})
    for i in range(30):
        assert (status(e1.decide(facts(i), float(i))) == 529) == ((i + 1) % every == 0)
        assert (status(e2.decide(facts(i), float(i))) == 529) == (i >= after)


def test_counters_only_advance_for_matching_requests() -> None:
    eng = engine({"rules": [{"match": {"model": "claude-opus-*"}, "trigger": {"every": 2}, "fault": 529}]})
    models = ["claude-opus-5", "claude-haiku-5-5", "claude-haiku-5-5", "claude-opus-5", "claude-opus-5"]
    assert [status(eng.decide(facts(i, model=m), float(i))) for i, m in enumerate(models)] == [
        "ok", "ok", "ok", 529, "ok",
    ]  # fmt: skip


# ---------------------------------------------------------------- matching
def test_matching_on_path_model_stream_key_and_headers() -> None:
    eng = engine(
        {
            "rules": [
                {
                    "match": {
                        "path": "/v1/messages",
                        "model": ["claude-opus-*", "claude-mythos-5"],
                        "stream": True,
                        "api_key_id": "k?",
                        "headers": {"x-tenant": "blue-*", "x-canary": "*"},
                    },
                    "fault": 500,
                }
            ]
        }
    )
    ok_headers = {"x-tenant": "blue-1", "x-canary": "yes"}
    base = {"model": "claude-opus-5", "stream": True, "key": "k1", "headers": ok_headers}
    variants: list[tuple[dict[str, Any], int | str]] = [
        ({}, 500),
        ({"model": "claude-mythos-5"}, 500),
        ({"model": "claude-mythos-5-1"}, "ok"),
        ({"model": "claude-haiku-5-5"}, "ok"),
        ({"stream": False}, "ok"),
        ({"key": "key-long"}, "ok"),
        ({"headers": {"x-tenant": "red-1", "x-canary": "yes"}}, "ok"),
        ({"headers": {"x-tenant": "blue-2"}}, "ok"),
        ({"path": "/v1/messages/count_tokens"}, "ok"),
    ]
    for i, (change, expected) in enumerate(variants):
        assert status(eng.decide(facts(i, **{**base, **change}), 0.0)) == expected, change


def test_a_stream_fault_rule_never_hits_a_non_streamed_request() -> None:
    eng = engine({"rules": [{"fault": "stream_error_event"}, {"fault": 529}]})
    assert status(eng.decide(facts(0, stream=True), 0.0)) == "stream_error_event"
    assert status(eng.decide(facts(1, stream=False), 0.0)) == 529


# ---------------------------------------------------------------- precedence
def test_first_matching_fault_rule_wins_and_modifiers_still_apply() -> None:
    eng = engine(
        {
            "rules": [
                {"id": "slow", "latency": {"fixed_s": 0.25}},
                {"id": "first", "match": {"model": "claude-opus-*"}, "fault": 503},
                {"id": "second", "fault": 529},
                {"id": "later-slow", "latency": {"fixed_s": 9.0}},
                {"id": "tokens", "tokens": {"ttft_s": 1.0, "tokens_per_s": 5}},
            ]
        }
    )
    d = eng.decide(facts(0), 0.0)
    assert status(d) == 503 and d.reason["rule"] == "first"
    assert d.delay_s == 0.25 and d.ttft_s == 1.0 and d.tokens_per_s == 5
    d = eng.decide(facts(1, model="claude-haiku-5-5"), 0.0)
    assert status(d) == 529 and d.reason["rule"] == "second"


def test_rate_limits_answer_before_rules_and_the_override_before_everything() -> None:
    eng = engine({"rate_limits": {"requests_per_minute": 1}, "rules": [{"fault": 500}]})
    assert status(eng.decide(facts(0), 0.0)) == 500  # admitted by the bucket, then the rule
    d = eng.decide(facts(1), 0.0)
    assert status(d) == 429 and d.reason["source"] == "rate_limit"
    d = eng.decide(facts(2, headers={"x-busysignal-fault": "503"}), 0.0)
    assert status(d) == 503 and d.reason["source"] == "override"


# ---------------------------------------------------------------- override header
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("529", 529),
        ("429", 429),
        ("reset", "reset"),
        ("hang", "hang"),
        ("close_after_headers", "close_after_headers"),
        ("truncated_body", "truncated_body"),
        ("garbage", "garbage"),
        ("stream_error_event", "stream_error_event"),
        ("stream_stall", "stream_stall"),
        ("stream_cut", "stream_cut"),
        ("ok", "ok"),
    ],
)
def test_override_header_forces_one_fault(value: str, expected: int | str) -> None:
    eng = engine({"rules": []})
    assert status(eng.decide(facts(0, stream=True, headers={"x-busysignal-fault": value}), 0.0)) == expected


def test_override_header_parameters() -> None:
    eng = engine({"rules": []})
    h = {"x-busysignal-fault": "529; retry-after-ms=20; should-retry=false"}
    d = eng.decide(facts(0, headers=h), 0.0)
    assert d.error is not None and d.error.error_type == "overloaded_error"
    assert dict(d.error.headers) == {"retry-after-ms": "20", "x-should-retry": "false"}
    d = eng.decide(
        facts(1, stream=True, headers={"x-busysignal-fault": "stream_error_event;after=2;type=api_error"}), 0
    )
    assert d.stream_fault is not None
    assert (d.stream_fault.after_events, d.stream_fault.error_type) == (2, "api_error")
    d = eng.decide(facts(2, headers={"x-busysignal-fault": "spend_limit"}), 0.0)
    assert d.error is not None and d.error.status == 429 and d.error.headers["x-should-retry"] == "false"
    assert "retry-after" not in d.error.headers


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("5290", "400-599"), ("explode", "unknown fault 'explode'"), ("529;retry=1", "unknown parameter"),
     ("529;retry-after-ms=soon", "not a valid float"), ("529;should-retry=maybe", "true or false")],
)  # fmt: skip
def test_a_bad_override_value_is_a_400_that_says_why(value: str, fragment: str) -> None:
    d = engine({"rules": []}).decide(facts(0, headers={"x-busysignal-fault": value}), 0.0)
    assert d.error is not None and d.error.status == 400 and d.error.error_type == "invalid_request_error"
    assert fragment in d.error.message and "x-busysignal-fault" in d.error.message


def test_override_header_is_only_honoured_from_loopback_by_default() -> None:
    h = {"x-busysignal-fault": "529"}
    assert status(engine({}).decide(facts(0, headers=h, loopback=False), 0.0)) == "ok"
    for enabled, loopback, expected in [("always", False, 529), ("never", True, "ok")]:
        eng = engine({"override": {"enabled": enabled}, "rules": [{"latency": {"fixed_s": 0}}]})
        assert status(eng.decide(facts(0, headers=h, loopback=loopback), 0.0)) == expected
    eng = engine({"override": {"header": "X-Chaos"}})
    assert status(eng.decide(facts(0, headers={"x-chaos": "500"}), 0.0)) == 500


# ---------------------------------------------------------------- error responses
def test_error_faults_carry_type_message_and_retry_headers() -> None:
    eng = engine(
        {
            "rules": [
                {
                    "fault": {
                        "error": {
                            "status": 529,
                            "retry_after_s": 2,
                            "retry_after_ms": 15.5,
                            "should_retry": True,
                            "headers": {"X-Extra": "1"},
                        }
                    }
                }
            ]
        }
    )
    d = eng.decide(facts(0), 0.0)
    assert d.error is not None
    assert (d.error.status, d.error.error_type, d.error.message) == (529, "overloaded_error", "Overloaded")
    assert dict(d.error.headers) == {
        "retry-after": "2", "retry-after-ms": "15.5", "x-should-retry": "true", "x-extra": "1",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("code", "etype"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (402, "billing_error"),
     (403, "permission_error"), (404, "not_found_error"), (409, "conflict_error"),
     (413, "request_too_large"), (418, "invalid_request_error"), (429, "rate_limit_error"),
     (500, "api_error"), (504, "timeout_error"), (529, "overloaded_error"), (599, "api_error")],
)  # fmt: skip
def test_every_status_gets_its_anthropic_error_type(code: int, etype: str) -> None:
    d = engine({"rules": [{"fault": code}]}).decide(facts(0), 0.0)
    assert d.error is not None and d.error.error_type == etype and d.error.message


def test_reason_explains_the_decision() -> None:
    eng = engine(
        {
            "rules": [
                {
                    "id": "outage",
                    "when": {"window": {"start_s": 1, "end_s": 9}},
                    "trigger": {"probability": 1.0},
                    "fault": 529,
                }
            ]
        },
        seed=42,
        start=100.0,
    )
    r = dict(eng.decide(facts(3), 102.5).reason)
    assert r["rule"] == "outage" and r["seed"] == 42 and r["index"] == 3 and r["t"] == 2.5
    assert r["window"] == [1, 9] and 0 <= r["draw"] < 1 and r["p"] == 1.0 and r["fault"] == "529"


ALL_KINDS: dict[str, Any] = {
    "rules": [
        {"id": "script", "match": {"model": "claude-mythos-*"},
         "trigger": {"sequence": [529, "ok"], "scope": "logical"}},
        {"id": "open-window", "when": {"window": {"start_s": 2}}, "trigger": {"probability": 0.2},
         "fault": "reset"},
        {"id": "every", "trigger": {"every": 3}, "fault": {"error": {"status": 429, "retry_after_ms": 5}}},
        {"id": "stream", "trigger": {"probability": 0.3}, "fault": "stream_error_event"},
        {"id": "lat", "latency": {"lognormal": {"median_s": 0.1, "p99_s": 1.0}}},
        {"id": "tok", "tokens": {"ttft_s": 0.5, "tokens_per_s": 20}},
    ],
    "rate_limits": {"requests_per_minute": 20, "output_tokens_per_minute": 2000, "retry_after_ms": True},
    "capacity": {"pools": [{"concurrency": 2, "queue_size": 1, "max_wait_s": 1.0}],
                 "schedule": [{"start_s": 1, "end_s": 2, "factor": 0.5}]},
}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(reqs=mixed_requests, seed=st.integers(min_value=0, max_value=2**32))
def test_every_reason_is_strict_json_and_every_header_a_string(
    reqs: list[tuple[str, bool, float]], seed: int
) -> None:
    import json

    eng = engine(ALL_KINDS, seed=seed)
    now = 0.0
    for i, (model, stream, dt) in enumerate(reqs):
        now += dt
        d = eng.decide(facts(i, model=model, stream=stream, body=str(i % 3)), now)
        json.dumps(d.reason, allow_nan=False)
        headers = dict(d.headers) | (dict(d.error.headers) if d.error else {})
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        if i % 2:
            eng.complete(
                facts(i, model=model, stream=stream),
                d,
                now + 0.5,
                status=200,
                output_tokens=5,
                client_gone=False,
            )
