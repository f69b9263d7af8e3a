"""Error-rate window and alert hysteresis: properties (Hypothesis) and the monitor shell."""

from __future__ import annotations

import logging
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.instrumentation.alerts import (
    AlertEvent,
    AlertState,
    ErrorRateMonitor,
    SlidingWindowRate,
    is_server_error,
)

# (gap since the previous outcome in seconds, error?)
steps = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=5.0, allow_nan=False), st.booleans()),
    min_size=1,
    max_size=200,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(steps, st.floats(min_value=0.5, max_value=30.0))
def test_window_counts_exactly_the_outcomes_of_the_last_window_seconds(
    seq: list[tuple[float, bool]], window_s: float
) -> None:
    times = list(accumulate(gap for gap, _ in seq))
    w = SlidingWindowRate(window_s)
    seen: list[tuple[float, bool]] = []
    for t, (_, err) in zip(times, seq, strict=True):
        w.add(t, err)
        seen.append((t, err))
        inside = [e for (ts, e) in seen if t - window_s < ts <= t]
        assert w.counts(t) == (sum(inside), len(inside))
    # and later, with no new outcomes, old ones leave
    later = times[-1] + window_s
    inside = [e for (ts, e) in seen if later - window_s < ts <= later]
    assert w.counts(later) == (sum(inside), len(inside))
    assert w.rate(later + window_s) == 0.0


def test_window_rejects_time_going_backwards_and_bad_size() -> None:
    w = SlidingWindowRate(10)
    w.add(5.0, True)
    with pytest.raises(ValueError, match="backwards"):
        w.add(4.0, False)
    with pytest.raises(ValueError, match="window_s"):
        SlidingWindowRate(0)


rates = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), st.integers(0, 100)), max_size=300
)
thresholds = st.tuples(st.floats(0.01, 0.5), st.floats(0.0, 1.0)).map(lambda p: (p[0], p[0] * p[1]))


@given(rates, thresholds, st.integers(1, 50))
def test_hysteresis_alternates_fire_and_clear_and_each_transition_is_justified(
    seq: list[tuple[float, int]], thr: tuple[float, float], min_requests: int
) -> None:
    fire_above, clear_below = thr
    state = AlertState(fire_above=fire_above, clear_below=clear_below, min_requests=min_requests)
    transitions: list[str] = []
    for rate, total in seq:
        was = state.alerting
        kind = state.update(rate, total)
        if kind == "fired":
            assert not was and rate > fire_above and total >= min_requests
        elif kind == "cleared":
            assert was and rate < clear_below and total >= min_requests
        else:
            # no transition although the condition held would be a missed alert or a stuck one
            assert not (not was and rate > fire_above and total >= min_requests)
            assert not (was and rate < clear_below and total >= min_requests)
            assert state.alerting == was
        if kind is not None:
            transitions.append(kind)
    # one alert per episode: fired, cleared, fired, cleared, ...
    assert all(k == ("fired" if i % 2 == 0 else "cleared") for i, k in enumerate(transitions))
    assert state.alerting == (len(transitions) % 2 == 1)


@given(st.lists(st.floats(0.026, 1.0), min_size=1, max_size=200))
def test_a_rate_that_stays_above_the_clear_level_fires_at_most_once(wobble: list[float]) -> None:
    # default 5% / 2.5%: after firing, anything >= 2.6% (even below 5%) is the same episode
    state = AlertState()
    assert state.update(0.5, 100) == "fired"
    assert all(state.update(r, 100) is None for r in wobble)
    assert state.alerting


@given(steps)
@settings(max_examples=60)
def test_monitor_fires_and_clears_in_alternation_over_any_outcome_sequence(
    seq: list[tuple[float, bool]],
) -> None:
    clock = FakeClock()
    events: list[AlertEvent] = []
    monitor = ErrorRateMonitor(window_s=10, min_requests=5, clock=clock, on_alert=events.append)
    for gap, err in seq:
        clock.now += gap
        monitor.observe(err)
    kinds = [e.kind for e in events]
    assert all(k == ("fired" if i % 2 == 0 else "cleared") for i, k in enumerate(kinds))
    for e in events:
        assert e.total >= 5
        assert (e.rate > 0.05) if e.kind == "fired" else (e.rate < 0.025)


def test_monitor_default_alerts_above_five_percent_over_sixty_seconds_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    events: list[AlertEvent] = []
    monitor = ErrorRateMonitor(clock=clock, on_alert=events.append)
    # 100 requests in 50 s, 5 errors: exactly 5% is not above 5%
    for i in range(100):
        clock.now = i * 0.5
        monitor.observe_status(529 if i % 20 == 19 else 200)
    assert events == []
    # a burst of overload: the 6th error in the window fires, the rest of the burst does not
    with caplog.at_level(logging.WARNING, logger="resilience.instrumentation.alerts"):
        for i in range(10):
            clock.now = 50 + i * 0.1
            monitor.observe_status(529)
    assert [e.kind for e in events] == ["fired"]
    assert events[0].errors == 6 and events[0].total == 101
    assert events[0].window_s == 60
    assert sum("FIRED" in r.message for r in caplog.records) == 1
    # the errors age out of the window while successes keep coming: it clears once, below 2.5%
    for i in range(200):
        clock.now = 52 + i * 0.5
        monitor.observe_status(200)
    assert [e.kind for e in events] == ["fired", "cleared"]
    assert events[1].rate < 0.025
    assert not monitor.alerting


def test_monitor_poll_clears_when_errors_leave_the_window_without_new_traffic() -> None:
    clock = FakeClock()
    events: list[AlertEvent] = []
    monitor = ErrorRateMonitor(window_s=10, min_requests=1, clock=clock, on_alert=events.append)
    for _ in range(10):
        monitor.observe(True)
    clock.now = 5
    for _ in range(30):
        monitor.observe(False)
    assert [e.kind for e in events] == ["fired"]  # 10/40 errors: still alerting
    clock.now = 10.5  # the errors left the window; 30 successes remain
    assert monitor.poll() is not None
    assert [e.kind for e in events] == ["fired", "cleared"]


def test_server_errors_are_5xx_and_no_response() -> None:
    assert is_server_error(529) and is_server_error(500) and is_server_error(None)
    assert not is_server_error(429) and not is_server_error(200) and not is_server_error(400)


def test_alert_state_rejects_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError, match="clear_below"):
        AlertState(fire_above=0.05, clear_below=0.1)
    with pytest.raises(ValueError, match="fire_above"):
        AlertState(fire_above=1.5)
    with pytest.raises(ValueError, match="min_requests"):
        AlertState(min_requests=0)


def test_monitor_subscribes_to_the_resilience_policys_attempt_events() -> None:
    from resilience.instrumentation.events import AttemptFinished, RetryScheduled

    clock = FakeClock()
    events: list[AlertEvent] = []
    monitor = ErrorRateMonitor(min_requests=10, clock=clock, on_alert=events.append)
    for i in range(10):
        monitor.on_policy_event(AttemptFinished("m", 1, True, None, 200, 0.01))
        clock.now = i
    monitor.on_policy_event(RetryScheduled("m", 1, 3, 0.5, "overloaded", 529, "overloaded_error", None, None))
    assert events == []  # not an attempt outcome
    monitor.on_policy_event(AttemptFinished("m", 1, False, "rate_limited", 429, 0.01))
    assert events == []  # a 429 is not a server error
    monitor.on_policy_event(AttemptFinished("m", 1, False, "overloaded", 529, 0.01))
    assert [e.kind for e in events] == ["fired"]
    assert (events[0].errors, events[0].total) == (1, 12)


def test_monitor_counts_a_failure_inside_a_200_stream_by_its_kind() -> None:
    from resilience.instrumentation.events import AttemptFinished

    events: list[AlertEvent] = []
    monitor = ErrorRateMonitor(min_requests=2, fire_above=0.3, clock=FakeClock(), on_alert=events.append)
    monitor.on_policy_event(AttemptFinished("m", 1, True, None, 200, 0.01))
    monitor.on_policy_event(AttemptFinished("m", 1, False, "caller_error", 200, 0.01))  # e.g. invalid_request
    assert events == [] and monitor.rate() == 0.0
    monitor.on_policy_event(AttemptFinished("m", 1, False, "overloaded", 200, 0.01))  # mid-stream overload
    assert [e.kind for e in events] == ["fired"] and (events[0].errors, events[0].total) == (1, 3)


def test_monitor_ignores_errors_the_policy_could_not_classify() -> None:
    from resilience.instrumentation.events import AttemptFinished

    monitor = ErrorRateMonitor(min_requests=1, clock=FakeClock())
    monitor.on_policy_event(AttemptFinished("m", 1, False, None, None, 0.01))  # a bug in the caller's fn
    assert monitor.rate() == 0.0 and not monitor.alerting
    monitor.on_policy_event(AttemptFinished("m", 1, False, "connection", None, 0.01))
    assert monitor.rate() == 1.0 and monitor.alerting


def test_monitor_attached_to_a_policy_fires_on_its_attempts() -> None:
    from resilience import Policy
    from resilience.instrumentation.events import AttemptFinished

    events: list[AlertEvent] = []
    policy = Policy(log_events=False)
    ErrorRateMonitor(min_requests=1, clock=FakeClock(), on_alert=events.append).attach(policy)
    policy.emit(AttemptFinished("m", 1, False, "overloaded", 529, 0.01))
    assert [e.kind for e in events] == ["fired"]
