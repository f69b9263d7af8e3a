"""Policy: attempts, deadline, Retry-After ceiling, non-retryable statuses, budget, breaker and
fallback composed, events and log lines, the testing switch. Simulated time throughout
(``FakeClock``), except where a test says otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from tests.support import sdk_status_error

from resilience import (
    AIMDLimit,
    Attempt,
    CircuitBreakers,
    CircuitOpenError,
    ConcurrencyLimit,
    Event,
    FakeClock,
    FallbackChain,
    FallbackTaken,
    FullJitter,
    GaveUp,
    LimiterTimeout,
    NoJitter,
    Policy,
    RateLimitPacer,
    Retry,
    RetryBudget,
    RetryScheduled,
    no_waits,
)
from resilience.classify import NEVER_RETRY, classify_exception
from resilience.policy import Delay, retry_decision

_REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")
_TYPES = {529: "overloaded_error", 429: "rate_limit_error", 500: "api_error", 400: "invalid_request_error"}


def sdk_error(status: int, headers: dict[str, str] | None = None) -> Exception:
    return sdk_status_error(status, _TYPES.get(status, "api_error"), headers, request_id=f"req_{status}")


class Script:
    """An attempt function that plays a list of outcomes (an int status raises that SDK error,
    "ok" returns the model name) and records the attempts it saw."""

    def __init__(self, outcomes: list[Any], clock: FakeClock | None = None, latency: float = 0.0) -> None:
        self.outcomes = list(outcomes)
        self.seen: list[Attempt] = []
        self.clock = clock
        self.latency = latency

    def __call__(self, attempt: Attempt) -> str:
        self.seen.append(attempt)
        if self.clock is not None and self.latency:
            left = attempt.timeout_s
            self.clock.advance(self.latency if left is None else min(self.latency, left))
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "ok":
            return attempt.model
        if isinstance(outcome, Exception):
            raise outcome
        raise sdk_error(int(outcome))


def policy(clock: FakeClock, **kwargs: Any) -> Policy:
    kwargs.setdefault("retry", Retry(max_attempts=4, backoff=FullJitter(base=0.5, cap=8.0), deadline_s=60.0))
    return Policy(clock=clock, seed=1, log_events=False, **kwargs)


# --- retry bounds ---------------------------------------------------------------------------
@given(st.integers(1, 8), st.lists(st.sampled_from([529, 500, 503, 429, "ok"]), max_size=12))
def test_attempts_never_exceed_max_attempts(max_attempts: int, outcomes: list[Any]) -> None:
    clock = FakeClock()
    script = Script(outcomes)
    p = policy(clock, retry=Retry(max_attempts=max_attempts, backoff=NoJitter(base=0.01, cap=0.1)))
    with contextlib.suppress(anthropic.APIStatusError):
        p.call(script, model="m")
    assert 1 <= len(script.seen) <= max_attempts
    first_ok = outcomes.index("ok") + 1 if "ok" in outcomes else len(outcomes) + 1
    assert len(script.seen) == min(max_attempts, first_ok)


@given(
    st.floats(min_value=0.5, max_value=30.0),
    st.floats(min_value=0.0, max_value=10.0),
    st.integers(min_value=0, max_value=2**16),
)
def test_the_deadline_bounds_the_whole_call(deadline: float, latency: float, seed: int) -> None:
    clock = FakeClock()
    start = clock.monotonic()
    script = Script([529] * 50, clock=clock, latency=latency)
    p = Policy(
        retry=Retry(max_attempts=50, backoff=FullJitter(base=0.1, cap=5.0), deadline_s=deadline),
        clock=clock,
        seed=seed,
        log_events=False,
    )
    with pytest.raises(anthropic.APIStatusError):
        p.call(script, model="m")
    # every attempt started before the deadline and was given only the time left (at least the
    # 1 ms floor an attempt timeout never goes below)
    assert all(a.timeout_s is not None for a in script.seen)
    assert clock.monotonic() - start <= deadline + 0.001


@given(st.sampled_from(sorted(NEVER_RETRY)), st.sampled_from([None, "true", "false"]))
def test_non_retryable_statuses_are_never_retried(status: int, should_retry: str | None) -> None:
    clock = FakeClock()
    headers = {} if should_retry is None else {"x-should-retry": should_retry}
    script = Script([sdk_error(status, headers)])
    p = policy(clock, budget=RetryBudget(), fallback=FallbackChain(["m", "n"]))
    with pytest.raises(anthropic.APIStatusError) as caught:
        p.call(script, model="m", params={"model": "m", "max_tokens": 5})
    assert caught.value.status_code == status
    assert [a.model for a in script.seen] == ["m"]  # not retried, and no fallback on a caller error
    assert clock.sleeps == []


@given(st.integers(min_value=1, max_value=60_000))
def test_retry_after_is_honoured_exactly_up_to_the_ceiling(ms: int) -> None:
    clock = FakeClock()
    events: list[Event] = []
    script = Script([sdk_error(529, {"retry-after-ms": str(ms)}), "ok"])
    p = Policy(
        retry=Retry(max_attempts=3, retry_after_ceiling_s=30.0, deadline_s=None),
        clock=clock,
        on_event=events.append,
        log_events=False,
    )
    if ms / 1000 <= 30.0:
        assert p.call(script, model="m") == "m"
        assert clock.sleeps == [ms / 1000]
    else:
        with pytest.raises(anthropic.APIStatusError):
            p.call(script, model="m")
        assert clock.sleeps == []  # gave up instead of sleeping for minutes
        assert [e.reason for e in events if isinstance(e, GaveUp)] == ["retry_after_over_ceiling"]


@given(
    st.floats(min_value=0.001, max_value=20.0), st.floats(min_value=0.0, max_value=2.0), st.integers(0, 2**16)
)
def test_retry_after_jitter_never_comes_back_earlier_than_asked(ra: float, jitter: float, seed: int) -> None:
    failure = classify_exception(sdk_error(529, {"retry-after-ms": repr(ra * 1000)}), now_wall=0.0)
    assert failure is not None
    retry = Retry(retry_after_jitter=jitter, retry_after_ceiling_s=30.0, deadline_s=None)
    decision = retry_decision(
        failure, 1, retry=retry, previous_delay=None, rng=random.Random(seed), now=0.0, deadline=math.inf
    )
    assert isinstance(decision, Delay)
    delay = decision.seconds
    assert failure.retry_after_s is not None
    assert failure.retry_after_s <= delay <= failure.retry_after_s * (1 + jitter)


@given(
    st.floats(min_value=0.001, max_value=30.0), st.floats(min_value=0.0, max_value=10.0), st.integers(0, 99)
)
def test_retry_after_jitter_never_waits_past_the_ceiling(ra: float, jitter: float, seed: int) -> None:
    failure = classify_exception(sdk_error(529, {"retry-after-ms": repr(ra * 1000)}), now_wall=0.0)
    assert failure is not None and failure.retry_after_s is not None
    retry = Retry(retry_after_jitter=jitter, retry_after_ceiling_s=30.0, deadline_s=None)
    decision = retry_decision(
        failure, 1, retry=retry, previous_delay=None, rng=random.Random(seed), now=0.0, deadline=math.inf
    )
    assert isinstance(decision, Delay)
    delay = decision.seconds
    assert failure.retry_after_s <= delay <= 30.0


def test_a_retry_that_would_cross_the_deadline_is_not_made() -> None:
    clock = FakeClock()
    events: list[Event] = []
    script = Script([sdk_error(529, {"retry-after": "20"}), "ok"])
    p = Policy(retry=Retry(deadline_s=10.0), clock=clock, on_event=events.append, log_events=False)
    with pytest.raises(anthropic.APIStatusError):
        p.call(script, model="m")
    assert [e.reason for e in events if isinstance(e, GaveUp)] == ["deadline"]


def test_errors_the_policy_does_not_know_pass_through_untouched() -> None:
    clock = FakeClock()
    script = Script([KeyError("bug")])
    events: list[Event] = []
    p = policy(clock, on_event=events.append)
    with pytest.raises(KeyError):
        p.call(script, model="m")
    assert len(script.seen) == 1
    assert [type(e).__name__ for e in events] == ["AttemptFinished", "CallFinished"]
    assert p.counters.snapshot()["calls_failed"] == 1


# --- budget -------------------------------------------------------------------------------
@settings(max_examples=60)
@given(st.lists(st.lists(st.sampled_from([529, 500, "ok"]), max_size=6), max_size=30))
def test_retries_stay_within_the_budget_across_calls(calls: list[list[Any]]) -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, floor=3)
    p = policy(clock, budget=budget)
    retries = 0
    for first_attempts, outcomes in enumerate(calls, start=1):
        script = Script(outcomes)
        with contextlib.suppress(anthropic.APIStatusError):
            p.call(script, model="m")
        retries += len(script.seen) - 1
        assert retries <= 0.2 * first_attempts + 3 + 1e-6
    assert budget.retries == retries


def test_an_empty_budget_stops_retries_and_says_so() -> None:
    clock = FakeClock()
    events: list[Event] = []
    p = policy(clock, budget=RetryBudget(ratio=0.0, floor=1), on_event=events.append)
    with pytest.raises(anthropic.APIStatusError):
        p.call(Script([529, 529, 529]), model="m")
    assert [e.reason for e in events if isinstance(e, GaveUp)] == ["budget"]
    assert p.counters.snapshot()["budget_refusals"] == 1


# --- breaker and fallback -----------------------------------------------------------------
def test_an_open_breaker_fails_fast_without_a_request() -> None:
    clock = FakeClock()
    p = policy(clock, retry=None, breakers=CircuitBreakers(min_throughput=2, open_s=10.0))
    for _ in range(2):
        with pytest.raises(anthropic.APIStatusError):
            p.call(Script([529]), model="m")
    script = Script(["ok"])
    with pytest.raises(CircuitOpenError, match="'m' is open"):
        p.call(script, model="m")
    assert script.seen == []
    clock.advance(10.0)
    assert p.call(script, model="m") == "m"  # the probe succeeds and closes it


def test_congestion_opens_the_breaker_only_once_the_adaptive_limit_is_at_its_floor() -> None:
    # 529s and timeouts are the adaptive limit's to answer while it can still cut (a client's
    # own excess concurrency is not an outage); at its floor, a model that still fails them is
    # down, and the breaker counts them as usual. Other failures count at once.
    clock = FakeClock()
    adaptive = AIMDLimit(initial=4, minimum=1, maximum=4)
    p = policy(
        clock,
        retry=None,
        breakers=CircuitBreakers(min_throughput=3, open_s=10.0),
        limit=ConcurrencyLimit(4, adaptive=adaptive),
    )
    with pytest.raises(anthropic.APIStatusError):  # 4 -> 2: the limit's to answer, not counted
        p.call(Script([529], clock=clock, latency=0.1), model="m")
    assert not adaptive.floored
    p.call(Script(["ok"], clock=clock, latency=0.1), model="m")
    with pytest.raises(anthropic.APITimeoutError):  # 2 -> 1: at the floor now, so counted
        p.call(Script([anthropic.APITimeoutError(request=_REQUEST)], clock=clock, latency=0.1), model="m")
    assert adaptive.floored
    # counted: 2 failures of 3 calls open the breaker (had the first 529 counted, it would be open already)
    with pytest.raises(anthropic.APIStatusError):
        p.call(Script([529], clock=clock, latency=0.1), model="m")
    with pytest.raises(CircuitOpenError):
        p.call(Script(["ok"]), model="m")

    static = policy(clock, retry=None, breakers=CircuitBreakers(min_throughput=2, open_s=10.0))
    for _ in range(2):  # no adaptive limit: every 529 counts
        with pytest.raises(anthropic.APIStatusError):
            static.call(Script([529]), model="n")
    with pytest.raises(CircuitOpenError):
        static.call(Script(["ok"]), model="n")


def test_fallback_is_immediate_while_the_breaker_is_open() -> None:
    clock = FakeClock()
    events: list[Event] = []
    p = policy(
        clock,
        breakers=CircuitBreakers(min_throughput=1, open_s=30.0),
        fallback=FallbackChain(["big", "small"]),
        on_event=events.append,
        retry=Retry(max_attempts=2, backoff=NoJitter(base=0.1, cap=0.1)),
    )
    first = Script([529, 529, "ok"])
    assert p.call(first, model="big", params={"model": "big", "max_tokens": 1}) == "small"
    second = Script(["ok"])
    assert p.call(second, model="big", params={"model": "big", "max_tokens": 1}) == "small"
    assert [a.model for a in second.seen] == ["small"]  # no request to the open model
    reasons = [e.reason for e in events if isinstance(e, FallbackTaken)]
    assert reasons == ["overloaded", "circuit_open"]


def test_a_call_stops_retrying_a_model_whose_breaker_opened_meanwhile() -> None:
    clock = FakeClock()
    events: list[Event] = []
    breakers = CircuitBreakers(min_throughput=1, open_s=30.0)
    p = policy(clock, breakers=breakers, fallback=["big", "small"], on_event=events.append)

    def attempt(a: Attempt) -> str:
        if a.model == "big":
            breakers.for_model("big").record("failure", clock.monotonic())  # another call's verdict
            raise sdk_error(529)
        return a.model

    assert p.call(attempt, model="big", params={"model": "big", "max_tokens": 1}) == "small"
    assert [e.reason for e in events if isinstance(e, GaveUp)] == ["circuit_open"]
    assert clock.sleeps == []  # no backoff spent on a model known to be down


def test_no_slot_before_the_deadline_is_a_throttled_give_up() -> None:
    limit = ConcurrencyLimit(1)
    events: list[Event] = []
    p = Policy(limit=limit, retry=Retry(deadline_s=0.02), on_event=events.append, log_events=False)
    limit.acquire()  # someone else holds the only slot
    with pytest.raises(LimiterTimeout):
        p.call(Script(["ok"]), model="m")
    limit.release()
    assert [e.reason for e in events if isinstance(e, GaveUp)] == ["throttled"]
    assert p.counters.snapshot()["calls_failed"] == 1 and limit.in_use == 0


def test_fallback_keeps_params_and_clamps_max_tokens() -> None:
    clock = FakeClock()
    p = policy(
        clock,
        retry=None,
        fallback=FallbackChain(["big", "small"], max_tokens={"small": 100}),
    )
    script = Script([529, "ok"])
    params = {
        "model": "big",
        "max_tokens": 5000,
        "messages": [{"role": "user", "content": "x"}],
        "system": "s",
    }
    answer, outcome = p.call_with_outcome(script, model="big", params=params)
    assert answer == "small" and outcome.model == "small" and outcome.fell_back
    assert outcome.models_tried == ("big", "small")
    assert script.seen[0].params is params
    assert script.seen[1].params == {**params, "model": "small", "max_tokens": 100}


def test_a_model_outside_the_chain_does_not_fall_back() -> None:
    chain = FallbackChain(["a", "b", "c"])
    assert chain.plan("b") == ("b", "c")
    assert chain.plan("z") == ("z",)


def test_fallback_chain_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        FallbackChain(["a", "a"])
    with pytest.raises(TypeError, match="not one string"):
        FallbackChain("claude")
    with pytest.raises(ValueError, match="at least one"):
        FallbackChain([])


class FallbackMachine(RuleBasedStateMachine):
    """Calls through a 3-model chain with a shared retry budget, each model answering from an
    arbitrary script; each call is checked against a direct reading of the rules."""

    CHAIN = ("a", "b", "c")
    RATIO, FLOOR, MAX_ATTEMPTS = 0.5, 2.0, 3

    @initialize()
    def setup(self) -> None:
        self.clock = FakeClock()
        self.budget = RetryBudget(ratio=self.RATIO, floor=self.FLOOR)
        self.balance = self.FLOOR
        self.policy = Policy(
            retry=Retry(
                max_attempts=self.MAX_ATTEMPTS, backoff=NoJitter(base=0.01, cap=0.01), deadline_s=None
            ),
            budget=self.budget,
            fallback=FallbackChain(self.CHAIN, max_tokens={"b": 10, "c": 5}),
            clock=self.clock,
            log_events=False,
        )

    def _expected(self, start: str, scripts: dict[str, list[Any]]) -> tuple[list[str], Any]:
        """Reference: the models called, and the answer (a model) or the status raised."""
        calls: list[str] = []
        last: Any = None
        scripts = {m: list(s) for m, s in scripts.items()}
        self.balance = min(self.FLOOR, self.balance + self.RATIO)  # one deposit per call
        for model in self.CHAIN[self.CHAIN.index(start) :]:
            number = 0
            while True:
                number += 1
                calls.append(model)
                outcome = scripts[model].pop(0) if scripts[model] else "ok"
                if outcome == "ok":
                    return calls, model
                last = outcome
                if outcome in (529, 500) and number < self.MAX_ATTEMPTS and self.balance >= 1 - 1e-9:
                    self.balance -= 1
                    continue
                break
            if last not in (529, 500):  # a caller error never falls back
                return calls, last
        return calls, last

    @rule(
        start=st.sampled_from(CHAIN),
        scripts=st.fixed_dictionaries(
            {m: st.lists(st.sampled_from([529, 500, 400, "ok"]), max_size=4) for m in CHAIN}
        ),
        max_tokens=st.integers(1, 50),
    )
    def call(self, start: str, scripts: dict[str, list[Any]], max_tokens: int) -> None:
        queues = {m: list(s) for m, s in scripts.items()}
        seen: list[Attempt] = []

        def attempt(a: Attempt) -> str:
            seen.append(a)
            outcome = queues[a.model].pop(0) if queues[a.model] else "ok"
            if outcome == "ok":
                return a.model
            raise sdk_error(int(outcome))

        want_calls, want = self._expected(start, scripts)
        params = {"model": start, "max_tokens": max_tokens}
        try:
            got: Any = self.policy.call(attempt, model=start, params=params)
        except anthropic.APIStatusError as exc:
            got = exc.status_code
        assert [a.model for a in seen] == want_calls  # order kept, nothing skipped or repeated
        assert got == want  # the first success, or the last error when the chain is exhausted
        for a in seen:
            assert a.params is not None and a.params["model"] == a.model
            limit = {"b": 10, "c": 5}.get(a.model)
            expected_tokens = max_tokens if a.model == start or limit is None else min(max_tokens, limit)
            assert a.params["max_tokens"] == expected_tokens


FallbackMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=15, deadline=None)
TestFallbackCorrectness = FallbackMachine.TestCase


# --- events, logs, testing switch ---------------------------------------------------------
def test_each_retry_writes_one_greppable_log_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    p = Policy(retry=Retry(max_attempts=3, backoff=NoJitter(base=0.25, cap=1.0)), clock=clock)
    with caplog.at_level(logging.WARNING, logger="busysignal.resilience"):
        p.call(Script([529, "ok"]), model="claude-x")
    lines = [r.getMessage() for r in caplog.records if "busysignal.retry" in r.getMessage()]
    assert lines == [
        "busysignal.retry model=claude-x attempt=1/3 delay=0.250s status=529 error=overloaded_error "
        "kind=overloaded request_id=req_529"
    ]


def test_hooks_receive_typed_events_and_a_broken_hook_never_breaks_a_call() -> None:
    clock = FakeClock()
    events: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    p = policy(clock, on_event=[broken, events.append])
    assert p.call(Script([529, "ok"]), model="m") == "m"
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["AttemptFinished", "RetryScheduled", "AttemptFinished", "CallFinished"]
    retry = events[1]
    assert isinstance(retry, RetryScheduled) and retry.status == 529 and retry.max_attempts == 4
    counters = p.counters.snapshot()
    assert (counters["calls"], counters["calls_ok"], counters["attempts"], counters["retries"]) == (
        1,
        1,
        2,
        1,
    )


def test_the_testing_switch_removes_waits_but_still_reports_delays() -> None:
    clock = FakeClock()
    events: list[Event] = []
    p = Policy(retry=Retry(backoff=NoJitter(base=10.0, cap=10.0)), clock=clock, on_event=events.append)
    with no_waits():
        assert p.call(Script([529, 529, "ok"]), model="m") == "m"
    assert clock.sleeps == []
    assert [e.delay_s for e in events if isinstance(e, RetryScheduled)] == [10.0, 10.0]


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Retry(max_attempts=0)
    with pytest.raises(ValueError, match="stream_retry"):
        Policy(stream_retry="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model must be a non-empty string"):
        Policy().call(lambda a: None, model="")


# --- throttle inside the policy -----------------------------------------------------------
def test_the_concurrency_cap_holds_across_threads() -> None:
    limit = ConcurrencyLimit(3)
    p = Policy(limit=limit, log_events=False)
    active = peak = 0
    lock = threading.Lock()

    def attempt(a: Attempt) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.002)
        with lock:
            active -= 1

    threads = [threading.Thread(target=p.call, args=(attempt,), kwargs={"model": "m"}) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= peak <= 3 and limit.in_use == 0


def test_overloads_shrink_the_adaptive_limit_and_successes_grow_it() -> None:
    clock = FakeClock()
    adaptive = AIMDLimit(initial=16, minimum=1, maximum=32)
    p = policy(clock, limit=ConcurrencyLimit(32, adaptive=adaptive))
    p.call(Script([529, 529, "ok"]), model="m")
    assert adaptive.limit == pytest.approx(4.0 + 1 / 4.0)
    for _ in range(20):
        p.call(Script(["ok"]), model="m")
    assert adaptive.limit > 6.0


def test_attempts_that_time_out_cut_the_adaptive_limit_like_529s() -> None:
    # An attempt that times out says the work in flight is more than the service gets through in
    # time: the limit is cut as for a 529, once per burst (attempts sent before the last cut are
    # the same congestion), so a queueing server's growing queue shrinks what the client sends.
    clock = FakeClock()
    adaptive = AIMDLimit(initial=16, minimum=1, maximum=32)
    p = policy(clock, limit=ConcurrencyLimit(32, adaptive=adaptive))
    timeout = anthropic.APITimeoutError(request=_REQUEST)
    p.call(Script([timeout, 529, "ok"], clock=clock, latency=0.1), model="m")
    assert adaptive.limit == pytest.approx(4.0 + 1 / 4.0)
    # a server error or a dropped connection says nothing about capacity: no cut
    before = adaptive.limit
    p.call(Script([500, "ok"], clock=clock, latency=0.1), model="m")
    assert adaptive.limit == pytest.approx(before + 1 / before)


def test_the_pacer_slows_down_before_the_bucket_is_empty() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(reserve=0.1)
    p = policy(clock, pacer=pacer)
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.wall() + 10))

    def attempt(a: Attempt) -> str:
        a.response_headers = {
            "anthropic-ratelimit-requests-limit": "100",
            "anthropic-ratelimit-requests-remaining": "5",
            "anthropic-ratelimit-requests-reset": reset,
        }
        return "ok"

    p.call(attempt, model="m")
    assert clock.sleeps == []
    p.call(attempt, model="m")
    p.call(attempt, model="m")
    # 95 requests refill over 10 s: the third call waits one refill interval
    assert len(clock.sleeps) == 1 and clock.sleeps[0] == pytest.approx(10 / 95, rel=0.05)


def test_one_policy_shared_by_many_threads_keeps_its_books_straight() -> None:
    budget = RetryBudget(ratio=0.2, floor=5)
    limit = ConcurrencyLimit(4)
    p = Policy(
        retry=Retry(max_attempts=3, backoff=NoJitter(base=0.001, cap=0.001), deadline_s=None),
        budget=budget,
        breakers=CircuitBreakers(min_throughput=10_000),
        limit=limit,
        fallback=["a", "b"],
        log_events=False,
        seed=3,
    )
    attempts = [0] * 8

    def worker(index: int) -> None:
        rng = random.Random(index)

        def attempt(a: Attempt) -> str:
            attempts[index] += 1
            if rng.random() < 0.5:
                raise sdk_error(529)
            return a.model

        for _ in range(40):
            with contextlib.suppress(anthropic.APIStatusError):
                p.call(attempt, model="a", params={"model": "a", "max_tokens": 1})

    with no_waits():
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    counters = p.counters.snapshot()
    assert counters["calls"] == counters["calls_ok"] + counters["calls_failed"] == 320
    assert counters["attempts"] == sum(attempts)
    assert counters["retries"] == budget.retries <= 0.2 * budget.requests + 5 + 1e-6
    assert limit.in_use == 0


# --- async -----------------------------------------------------------------------------------
async def test_async_calls_follow_the_same_rules() -> None:
    clock = FakeClock()
    events: list[Event] = []
    p = policy(clock, fallback=["big", "small"], limit=ConcurrencyLimit(2), on_event=events.append)
    outcomes: dict[str, list[Any]] = {"big": [529, 529, 529, 529], "small": ["ok"]}

    async def attempt(a: Attempt) -> str:
        await asyncio.sleep(0)
        outcome = outcomes[a.model].pop(0)
        if outcome == "ok":
            return a.model
        raise sdk_error(int(outcome))

    answer, outcome = await p.acall_with_outcome(
        attempt, model="big", params={"model": "big", "max_tokens": 1}
    )
    assert answer == "small" and outcome.attempts == 5
    assert len(clock.sleeps) == 3
    assert any(isinstance(e, FallbackTaken) for e in events)


async def test_async_callers_queue_on_the_concurrency_cap() -> None:
    p = Policy(limit=ConcurrencyLimit(2), log_events=False)
    active = peak = 0

    async def attempt(a: Attempt) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1

    await asyncio.gather(*(p.acall(attempt, model="m") for _ in range(10)))
    assert peak == 2


@pytest.fixture(autouse=True)
def _waits_on() -> Iterator[None]:
    yield
    from resilience import set_testing

    set_testing(False)
