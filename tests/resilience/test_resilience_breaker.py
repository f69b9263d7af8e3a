"""Circuit breaker: unit behaviour and a Hypothesis state machine checking that every transition
is legal; plus the retry budget's bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from resilience.breaker import LEGAL_TRANSITIONS, BreakerState, CircuitBreaker, CircuitBreakers
from resilience.budget import RetryBudget


def make(**kwargs: object) -> tuple[CircuitBreaker, list[tuple[BreakerState, BreakerState]]]:
    changes: list[tuple[BreakerState, BreakerState]] = []
    settings_: dict[str, object] = {
        "window_s": 10.0,
        "min_throughput": 4,
        "failure_ratio": 0.5,
        "open_s": 5.0,
    }
    settings_.update(kwargs)
    breaker = CircuitBreaker(
        "m",
        on_change=lambda model, old, new, now: changes.append((old, new)),
        **settings_,  # type: ignore[arg-type]
    )
    return breaker, changes


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call, so the type checker does not pin it


def test_opens_only_after_minimum_throughput_and_failure_ratio() -> None:
    breaker, changes = make()
    for _ in range(3):
        assert breaker.allow(0.0)
        breaker.record("failure", 0.0)
    assert breaker.state is BreakerState.CLOSED  # 3 calls < min_throughput 4
    breaker.record("failure", 0.1)
    assert state_of(breaker) is BreakerState.OPEN
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_a_healthy_majority_keeps_it_closed() -> None:
    breaker, _ = make()
    for i in range(20):
        breaker.record("failure" if i % 4 == 3 else "success", i * 0.1)  # 25 % failures
    assert breaker.state is BreakerState.CLOSED


def test_failures_outside_the_window_are_forgotten() -> None:
    breaker, _ = make()
    for _ in range(3):
        breaker.record("failure", 0.0)
    breaker.record("failure", 11.5)  # the first three slid out of the 10 s window
    assert breaker.state is BreakerState.CLOSED
    assert breaker.counts(11.5) == (0, 1)


def test_caller_errors_are_ignored() -> None:
    breaker, _ = make()
    for _ in range(10):
        breaker.record("ignored", 0.0)
    assert breaker.state is BreakerState.CLOSED and breaker.counts(0.0) == (0, 0)


def test_open_refuses_until_open_duration_then_lets_one_probe_through() -> None:
    breaker, changes = make()
    for _ in range(4):
        breaker.record("failure", 0.0)
    assert not breaker.allow(4.9)
    assert breaker.retry_in(4.0) == pytest.approx(1.0)
    assert breaker.allow(5.0)  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(5.1)  # only one probe at a time
    breaker.record("success", 5.2)
    assert state_of(breaker) is BreakerState.CLOSED
    assert changes[-2:] == [
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_failed_probe_opens_it_again() -> None:
    breaker, _ = make()
    for _ in range(4):
        breaker.record("failure", 0.0)
    assert breaker.allow(6.0)
    breaker.record("failure", 6.0)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(10.0) and breaker.allow(11.0)


def test_a_call_admitted_before_the_breaker_opened_is_no_probe() -> None:
    breaker, _ = make()
    stale = breaker.admit(0.0)
    for _ in range(4):
        breaker.record("failure", 0.0)
    probe = breaker.admit(6.0)
    assert stale is not None and probe is not None and stale != probe
    breaker.record("success", 6.1, stale)  # ends late; it was not the probe
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record("success", 6.2, probe)
    assert state_of(breaker) is BreakerState.CLOSED


def test_an_ignored_probe_returns_its_slot() -> None:
    breaker, _ = make()
    for _ in range(4):
        breaker.record("failure", 0.0)
    assert breaker.allow(6.0)
    breaker.record("ignored", 6.0)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow(6.1)


def test_registry_gives_one_breaker_per_model() -> None:
    breakers = CircuitBreakers(min_throughput=1)
    assert breakers.for_model("a") is breakers.for_model("a")
    assert breakers.for_model("a") is not breakers.for_model("b")
    breakers.for_model("a").record("failure", 0.0)
    assert breakers.states() == {"a": BreakerState.OPEN, "b": BreakerState.CLOSED}


def test_every_policy_sharing_the_breakers_hears_about_transitions() -> None:
    from resilience import BreakerChanged, Event, Policy

    breakers = CircuitBreakers(min_throughput=1)
    heard: list[list[Event]] = [[], []]
    for sink in heard:
        Policy(breakers=breakers, on_event=sink.append, log_events=False)
    breakers.for_model("a").record("failure", 0.0)
    for sink in heard:
        assert [(e.model, e.new) for e in sink if isinstance(e, BreakerChanged)] == [("a", BreakerState.OPEN)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_ratio": 0.0}, "failure_ratio"),
        ({"window_s": -1.0}, "window_s"),
        ({"min_throughput": 0}, "min_throughput"),
        ({"probes": 0}, "probes"),
    ],
)
def test_bad_breaker_settings_get_a_specific_error(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreakers(**kwargs)  # type: ignore[arg-type]


class BreakerMachine(RuleBasedStateMachine):
    """Arbitrary interleavings of time, calls starting and calls ending (with any outcome)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.changes: list[tuple[BreakerState, BreakerState, float]] = []
        self.breaker = CircuitBreaker(
            "m",
            window_s=10.0,
            buckets=5,
            min_throughput=3,
            failure_ratio=0.5,
            open_s=4.0,
            probes=2,
            on_change=self._changed,
        )
        self.in_flight: list[int] = []
        self.last_state = BreakerState.CLOSED
        self.opened_at = -1.0

    def _changed(self, model: str, old: BreakerState, new: BreakerState, now: float) -> None:
        assert (old, new) in LEGAL_TRANSITIONS, f"illegal transition {old} -> {new}"
        assert old is self.last_state, "a transition must start from the state the breaker was in"
        if (old, new) == (BreakerState.CLOSED, BreakerState.OPEN):
            ok, bad = self.breaker.counts(now)
            assert ok + bad >= 3 and bad >= 0.5 * (ok + bad), "opened without enough evidence"
        if new is BreakerState.OPEN:
            self.opened_at = now
        if (old, new) == (BreakerState.OPEN, BreakerState.HALF_OPEN):
            assert now >= self.opened_at + 4.0, "half-open before the open duration passed"
        self.changes.append((old, new, now))
        self.last_state = new

    @rule(dt=st.floats(min_value=0.0, max_value=6.0))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def start_call(self) -> None:
        was_open = self.breaker.state is BreakerState.OPEN and self.now < self.opened_at + 4.0
        ticket = self.breaker.admit(self.now)
        if was_open:
            assert ticket is None, "an open breaker let a call through"
        if ticket is not None:
            self.in_flight.append(ticket)

    @precondition(lambda self: len(self.in_flight) > 0)
    @rule(data=st.data(), outcome=st.sampled_from(["success", "failure", "ignored"]))
    def finish_call(self, data: st.DataObject, outcome: str) -> None:
        ticket = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self.breaker.record(outcome, self.now, ticket)  # type: ignore[arg-type]

    @invariant()
    def state_matches_the_transitions_seen(self) -> None:
        assert self.breaker.state is self.last_state

    @invariant()
    def half_open_counts_exactly_its_own_probes(self) -> None:
        if self.breaker.state is BreakerState.HALF_OPEN:
            current = self.breaker._generation
            probes = sum(1 for ticket in self.in_flight if ticket == current)
            assert self.breaker._probes_out == probes <= 2


BreakerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestBreakerTransitionsAreLegal = BreakerMachine.TestCase


# --- retry budget -------------------------------------------------------------------------
@given(
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=0, max_value=20),
    st.lists(st.sampled_from(["request", "retry"]), max_size=300),
)
def test_retries_never_exceed_ratio_times_requests_plus_floor(
    ratio: float, floor: int, ops: list[str]
) -> None:
    budget = RetryBudget(ratio=ratio, floor=floor)
    requests = retries = 0
    for op in ops:
        if op == "request":
            budget.on_request()
            requests += 1
        elif budget.try_retry():
            retries += 1
        assert retries <= ratio * requests + floor + 1e-6
    assert (budget.requests, budget.retries) == (requests, retries)


def test_budget_refills_with_traffic_and_is_capped() -> None:
    budget = RetryBudget(ratio=0.1, floor=2)
    assert budget.try_retry() and budget.try_retry() and not budget.try_retry()
    for _ in range(10):
        budget.on_request()
    assert budget.try_retry() and not budget.try_retry()  # 10 requests x 0.1 = exactly one retry
    for _ in range(1000):
        budget.on_request()
    assert budget.balance == 2.0  # never more than the floor (the default capacity)
    assert budget.refused == 2


def test_bad_budget_settings_get_a_specific_error() -> None:
    with pytest.raises(ValueError, match="ratio must be >= 0"):
        RetryBudget(ratio=-0.1)
    with pytest.raises(ValueError, match="capacity"):
        RetryBudget(floor=5, capacity=1)
