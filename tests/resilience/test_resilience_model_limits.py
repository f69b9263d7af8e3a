"""Per-model concurrency limits, load shedding to the fallback model, fewer attempts on an
overloaded model when a fallback is left, and waiters granted the slots a growing adaptive
limit adds."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from typing import Any

import anthropic
import pytest
from tests.support import sdk_status_error

from resilience import (
    AIMDLimit,
    ConcurrencyLimit,
    Event,
    FakeClock,
    FallbackChain,
    FallbackTaken,
    GaveUp,
    LimiterTimeout,
    ModelLimits,
    NoJitter,
    Policy,
    Retry,
    RetryBudget,
)
from resilience.policy import Attempt


def sdk_error(status: int) -> Exception:
    kind = "overloaded_error" if status == 529 else "api_error"
    return sdk_status_error(status, kind, request_id=f"req_{status}")


class PerModel:
    """An attempt function playing one list of outcomes per model ("ok" or a status)."""

    def __init__(self, outcomes: dict[str, list[Any]]) -> None:
        self.outcomes = {model: list(seq) for model, seq in outcomes.items()}
        self.seen: list[str] = []

    def __call__(self, attempt: Attempt) -> str:
        self.seen.append(attempt.model)
        queue = self.outcomes.get(attempt.model, [])
        outcome = queue.pop(0) if queue else "ok"
        if outcome == "ok":
            return attempt.model
        raise sdk_error(int(outcome))


def make_policy(**kwargs: Any) -> Policy:
    kwargs.setdefault("retry", Retry(max_attempts=4, backoff=NoJitter(base=0.5, cap=4.0), deadline_s=60.0))
    return Policy(clock=FakeClock(), seed=1, log_events=False, **kwargs)


# --- ConcurrencyLimit: slots added by a growing limit reach the queue ----------------------------
async def test_waiters_get_the_extra_slots_when_the_adaptive_limit_has_grown() -> None:
    adaptive = AIMDLimit(initial=2, minimum=1, maximum=8)
    limit = ConcurrencyLimit(8, adaptive=adaptive)
    assert limit.try_acquire() and limit.try_acquire()
    waiters = [asyncio.ensure_future(limit.acquire_async(60.0)) for _ in range(2)]
    await asyncio.sleep(0)
    adaptive.on_success(0.0)
    adaptive.on_success(0.0)  # 2 -> 2.5 -> 2.9: still 2 slots
    adaptive.on_success(0.0)  # -> 3.24: 3 slots
    assert limit.limit == 3
    limit.release()  # one slot back, and one more allowed: both waiters are let in
    await asyncio.wait_for(asyncio.gather(*waiters), 60.0)  # at once; generous for a busy machine
    assert limit.in_use == 3


async def test_a_shrunk_limit_lets_waiters_in_only_once_below_it() -> None:
    adaptive = AIMDLimit(initial=4, minimum=1, maximum=8)
    limit = ConcurrencyLimit(8, adaptive=adaptive)
    for _ in range(4):
        assert limit.try_acquire()
    waiter = asyncio.ensure_future(limit.acquire_async(60.0))
    await asyncio.sleep(0)
    adaptive.on_overload()  # 4 -> 2 slots with 4 in use
    limit.release()
    limit.release()
    await asyncio.sleep(0.001)
    assert not waiter.done() and limit.in_use == 2
    limit.release()
    await asyncio.wait_for(waiter, 60.0)
    assert limit.in_use == 2


# --- ModelLimits ---------------------------------------------------------------------------
def test_each_model_gets_its_own_adaptive_limit() -> None:
    limits = ModelLimits(64, adaptive=AIMDLimit(initial=16, minimum=1, maximum=64))
    p = make_policy(limit=limits)
    p.call(PerModel({"a": [529, 529, "ok"]}), model="a")
    p.call(PerModel({}), model="b")
    assert limits.for_model("a").limit == 4  # halved twice, then one success
    assert limits.for_model("b").limit == 16  # untouched by a's 529s
    assert limits.in_use() == 0


def test_setting_adaptive_to_none_makes_every_model_static() -> None:
    limits = ModelLimits(8, adaptive=AIMDLimit(initial=4, maximum=8))
    assert limits.for_model("a").limit == 4
    limits.adaptive = None
    assert limits.for_model("a").limit == 8 and limits.for_model("b").limit == 8


def test_a_call_moves_on_at_once_from_a_model_shedding_load() -> None:
    limits = ModelLimits(8, adaptive=AIMDLimit(initial=4, minimum=1, maximum=8))
    events: list[Event] = []
    p = make_policy(limit=limits, fallback=["a", "b"], on_event=events.append)
    a = limits.for_model("a")
    assert a.adaptive is not None
    a.adaptive.on_overload()
    a.adaptive.on_overload()  # cut to 1 slot by 529s
    assert a.try_acquire()  # ...which another call holds
    script = PerModel({})
    answer, outcome = p.call_with_outcome(script, model="a", params={"model": "a", "max_tokens": 1})
    assert answer == "b" and script.seen == ["b"]  # nothing sent to a
    assert outcome.models_tried == ("b",) and outcome.fell_back
    assert [e.reason for e in events if isinstance(e, FallbackTaken)] == ["throttled"]
    a.release()
    assert limits.in_use() == 0


@pytest.mark.parametrize(
    ("model", "overloaded", "shed"),
    [
        ("a", False, True),  # full but never cut by 529s: an ordinary queue
        ("b", True, True),  # overloaded, but the last model of the chain: nowhere else to go
        ("a", True, False),  # overloaded, but shedding switched off
    ],
)
def test_a_call_queues_for_a_full_model_unless_it_may_shed(model: str, overloaded: bool, shed: bool) -> None:
    limits = ModelLimits(4, adaptive=AIMDLimit(initial=2, minimum=1, maximum=4), shed_to_fallback=shed)
    p = Policy(limit=limits, fallback=["a", "b"], retry=Retry(deadline_s=0.05), log_events=False)
    full = limits.for_model(model)
    assert full.adaptive is not None
    if overloaded:
        full.adaptive.on_overload()
    while full.try_acquire():
        pass
    script = PerModel({})
    with pytest.raises(LimiterTimeout):
        p.call(script, model=model, params={"model": model, "max_tokens": 1})
    assert script.seen == []


# --- fewer attempts on an overloaded model when a fallback is left -------------------------------
def test_an_overloaded_model_gets_overload_attempts_then_the_fallback_answers() -> None:
    events: list[Event] = []
    p = make_policy(fallback=FallbackChain(["a", "b"], overload_attempts=2), on_event=events.append)
    script = PerModel({"a": [529, 529, 529, 529]})
    answer, outcome = p.call_with_outcome(script, model="a", params={"model": "a", "max_tokens": 1})
    assert answer == "b" and script.seen == ["a", "a", "b"] and outcome.attempts == 3
    assert [e.reason for e in events if isinstance(e, GaveUp)] == ["overload_fallback"]


def test_other_failures_keep_every_attempt_before_falling_back() -> None:
    p = make_policy(fallback=FallbackChain(["a", "b"], overload_attempts=2))
    script = PerModel({"a": [500, 503, 500, 500]})
    assert p.call(script, model="a", params={"model": "a", "max_tokens": 1}) == "b"
    assert script.seen == ["a"] * 4 + ["b"]


def test_the_last_model_keeps_every_attempt_on_overload() -> None:
    p = make_policy(fallback=FallbackChain(["a", "b"], overload_attempts=1))
    script = PerModel({"a": [529], "b": [529, 529, 529, 529]})
    with pytest.raises(anthropic.APIStatusError):
        p.call(script, model="a", params={"model": "a", "max_tokens": 1})
    assert script.seen == ["a"] + ["b"] * 4


def test_overload_attempts_must_be_a_positive_int() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="overload_attempts"):
            FallbackChain(["a", "b"], overload_attempts=bad)  # type: ignore[arg-type]


def test_the_default_policy_limits_per_model_and_falls_back_after_two_overloads() -> None:
    p = Policy.default(fallback=["a", "b"], clock=FakeClock(), seed=0)
    p.log_events = False
    assert isinstance(p.limit, ModelLimits) and p.fallback is not None
    assert p.fallback.overload_attempts == 2
    script = PerModel({"a": [529, 529]})
    assert p.call(script, model="a", params={"model": "a", "max_tokens": 1}) == "b"
    assert script.seen == ["a", "a", "b"]
    assert p.limit.for_model("a").limit < p.limit.for_model("b").limit


def test_many_threads_shedding_and_queueing_leave_no_slot_taken() -> None:
    limits = ModelLimits(3, adaptive=AIMDLimit(initial=3, minimum=1, maximum=3))
    p = Policy(
        retry=Retry(max_attempts=3, backoff=NoJitter(base=0.001, cap=0.001), deadline_s=None),
        limit=limits,
        fallback=FallbackChain(["a", "b"], overload_attempts=2),
        log_events=False,
        seed=5,
    )
    answered: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)

        def attempt(a: Attempt) -> str:
            time.sleep(0.0005)
            if a.model == "a" and rng.random() < 0.7:
                raise sdk_error(529)
            return a.model

        for _ in range(25):
            with contextlib.suppress(anthropic.APIStatusError):
                model = p.call(attempt, model="a", params={"model": "a", "max_tokens": 1})
                with lock:
                    answered.append(model)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counters = p.counters.snapshot()
    assert limits.in_use() == 0
    assert counters["calls"] == counters["calls_ok"] + counters["calls_failed"] == 200
    assert counters["calls_ok"] == len(answered) == 200  # b never fails, so every call is answered
    assert set(answered) <= {"a", "b"} and "b" in answered


def test_a_call_that_falls_back_deposits_in_the_retry_budget_once() -> None:
    budget = RetryBudget(ratio=0.1, floor=0.0, capacity=100.0)
    p = make_policy(budget=budget, fallback=FallbackChain(["a", "b"], overload_attempts=1))
    for _ in range(10):
        assert p.call(PerModel({"a": [529]}), model="a", params={"model": "a", "max_tokens": 1}) == "b"
    assert budget.requests == 10  # ten calls, not twenty: the fallback model's attempt is the same request
    assert budget.balance == pytest.approx(1.0)


async def test_calls_in_flight_together_that_all_get_529_halve_the_limit_once() -> None:
    clock = FakeClock()
    limits = ModelLimits(64, adaptive=AIMDLimit(initial=16, minimum=1, maximum=64))
    p = Policy(retry=Retry(max_attempts=1, deadline_s=None), limit=limits, clock=clock, log_events=False)
    started = 0
    all_sent = asyncio.Event()

    async def attempt(a: Attempt) -> str:
        nonlocal started
        started += 1
        if started == 4:
            all_sent.set()
        await all_sent.wait()  # four attempts in flight at once...
        clock.advance(0.5)  # ...answered 529 a little later
        raise sdk_error(529)

    results = await asyncio.gather(*(p.acall(attempt, model="m") for _ in range(4)), return_exceptions=True)
    assert all(isinstance(r, anthropic.APIStatusError) for r in results)
    assert limits.for_model("m").limit == 8  # one burst, one cut (not 16 -> 1)
