"""The policy's layers one at a time, and the retry decision as a type.

The layers are generators (``resilience._layers``): these tests drive them by hand, step by
step, answering each attempt, sleep and wait for a slot themselves, so that what a layer does
between two steps can be read off (a slot held, a breaker told, a sleep as long as decided)
with no shell and no real time."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import typing
from collections.abc import Callable, Generator
from typing import Any

import anthropic
import pytest
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
    GaveUp,
    Kind,
    LimiterTimeout,
    ModelLimits,
    NoJitter,
    Policy,
    RateLimitPacer,
    Retry,
    RetryBudget,
    RetryScheduled,
)
from resilience._layers import _ACQUIRE, _INVOKE, _SLEEP
from resilience.backoff import GiveUpReason
from resilience.classify import classify_exception
from resilience.policy import Delay, GiveUp, retry_decision

_TYPES = {529: "overloaded_error", 500: "api_error", 400: "invalid_request_error"}
Answer = Callable[[Attempt], Any]  # returns the attempt's result or raises its error


def error(status: int, headers: dict[str, str] | None = None) -> Exception:
    return sdk_status_error(status, _TYPES.get(status, "api_error"), headers, request_id=f"req_{status}")


def make_policy(clock: FakeClock, events: list[Event], **kwargs: Any) -> Policy:
    kwargs.setdefault("retry", Retry(max_attempts=3, backoff=NoJitter(base=0.5, cap=8.0), deadline_s=60.0))
    return Policy(clock=clock, seed=3, log_events=False, on_event=events.append, **kwargs)


class Driver:
    """Runs one call's layers by hand: each attempt step is answered by ``answer``, each sleep
    advances the fake clock, each wait for a slot is answered by ``on_acquire`` (by default:
    LimiterTimeout). ``seen`` records every step with what ``probe()`` said at that moment."""

    def __init__(self, policy: Policy, clock: FakeClock, probe: Callable[[], Any] = lambda: None) -> None:
        self.policy = policy
        self.clock = clock
        self.probe = probe
        self.seen: list[tuple[int, Any, Any]] = []

    def run(self, answer: Answer, *, model: str = "big", params: dict[str, Any] | None = None) -> Any:
        steps: Generator[tuple[int, Any], Any, Any] = self.policy._start(
            "call", model, params, True, True, False
        )
        reply: Any = None
        throw: BaseException | None = None
        try:
            while True:
                kind, arg = steps.throw(throw) if throw is not None else steps.send(reply)
                self.seen.append((kind, arg, self.probe()))
                reply, throw = None, None
                if kind == _INVOKE:
                    try:
                        reply = (True, answer(arg))
                    except Exception as exc:
                        reply = (False, exc)
                elif kind == _SLEEP:
                    self.clock.advance(arg)
                else:
                    throw = LimiterTimeout(f"no slot within {arg[1]}")
        except StopIteration as stop:
            return stop.value
        finally:
            steps.close()

    def kinds(self) -> list[int]:
        return [kind for kind, _, _ in self.seen]


def script(*outcomes: Any) -> Answer:
    """An attempt function that plays ``outcomes`` in order ("ok" answers with the model name)."""
    queue = list(outcomes)

    def answer(attempt: Attempt) -> str:
        outcome = queue.pop(0) if queue else "ok"
        if outcome == "ok":
            return attempt.model
        raise outcome if isinstance(outcome, Exception) else error(int(outcome))

    return answer


# --- the retry decision as a type ---------------------------------------------------------------
def test_delay_and_give_up_are_frozen_slotted_values() -> None:
    for value in (Delay(0.25), GiveUp("budget")):
        assert not hasattr(value, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.__setattr__(dataclasses.fields(value)[0].name, None)
    assert Delay(0.25) == Delay(0.25) and GiveUp("budget") != GiveUp("attempts")


def test_give_up_and_the_gave_up_event_share_one_literal_of_reasons() -> None:
    assert typing.get_type_hints(GiveUp)["reason"] == GiveUpReason
    assert typing.get_type_hints(GaveUp)["reason"] == GiveUpReason


def _decide(failure_status: int, attempt: int = 1, **retry: Any) -> Delay | GiveUp:
    headers = {"retry-after": str(retry.pop("retry_after"))} if "retry_after" in retry else None
    failure = classify_exception(error(failure_status, headers), now_wall=0.0)
    assert failure is not None
    settings = Retry(backoff=NoJitter(base=1.0, cap=8.0), **retry)
    deadline = settings.deadline_s if settings.deadline_s is not None else math.inf
    return retry_decision(
        failure,
        attempt,
        retry=settings,
        previous_delay=None,
        rng=random.Random(0),
        now=0.0,
        deadline=deadline,
    )


def test_retry_decision_answers_a_delay_or_why_not() -> None:
    assert _decide(529, attempt=2) == Delay(2.0)  # the backoff's envelope after attempt 2
    assert _decide(529, retry_after=3) == Delay(3.0)  # what the server asked for
    assert _decide(400) == GiveUp("not_retryable")
    assert _decide(529, attempt=4, max_attempts=4) == GiveUp("attempts")
    assert _decide(529, retry_after=90, retry_after_ceiling_s=60.0) == GiveUp("retry_after_over_ceiling")
    assert _decide(529, retry_after=20, deadline_s=10.0) == GiveUp("deadline")


def _reach(reason: str, clock: FakeClock, events: list[Event]) -> Driver:
    """Run a call that ends (on its first model) with the give-up ``reason``."""
    chain = {"fallback": FallbackChain(["big", "small"], overload_attempts=1)}
    settings: dict[str, dict[str, Any]] = {
        "not_retryable": {},
        "attempts": {},
        "retry_after_over_ceiling": {"retry": Retry(retry_after_ceiling_s=5.0)},
        "deadline": {"retry": Retry(deadline_s=10.0)},
        "overload_fallback": chain,
        "circuit_open": {"breakers": CircuitBreakers(min_throughput=1, open_s=30.0)},
        "budget": {"budget": RetryBudget(ratio=0.0, floor=0.0)},
        "throttled": {"limit": ConcurrencyLimit(1)},
    }
    outcomes: dict[str, Answer] = {
        "not_retryable": script(400),
        "retry_after_over_ceiling": script(error(529, {"retry-after": "30"})),
        "deadline": script(error(529, {"retry-after": "20"})),
    }
    policy = make_policy(clock, events, **settings[reason])
    if reason == "circuit_open":
        assert policy.breakers is not None
        policy.breakers.for_model("big").record("failure", clock.monotonic())
    if reason == "throttled":
        assert isinstance(policy.limit, ConcurrencyLimit)
        policy.limit.acquire()  # another call holds the only slot
    driver = Driver(policy, clock)
    answered = reason == "overload_fallback"  # the small model answers the call
    with contextlib.nullcontext() if answered else pytest.raises(anthropic.AnthropicError):
        driver.run(outcomes.get(reason, script(529, 529, 529)), params={"model": "big", "max_tokens": 8})
    return driver


@pytest.mark.parametrize("reason", typing.get_args(GiveUpReason))
def test_every_give_up_reason_is_reachable_and_the_event_says_it(reason: str) -> None:
    clock, events = FakeClock(), list[Event]()
    _reach(reason, clock, events)
    gave_up = [e for e in events if isinstance(e, GaveUp)]
    assert [e.reason for e in gave_up][:1] == [reason]
    assert gave_up[0].model == "big"


# --- one test per layer ---------------------------------------------------------------------
def test_fallback_layer_moves_on_only_for_failures_the_chain_falls_back_on() -> None:
    clock, events = FakeClock(), list[Event]()
    chain = FallbackChain(["big", "small"], fall_back_on={Kind.OVERLOADED})
    policy = make_policy(clock, events, retry=Retry(max_attempts=1), fallback=chain)
    assert Driver(policy, clock).run(script(529), params={"model": "big"})[0] == "small"
    assert [(e.from_model, e.to_model, e.reason) for e in events if isinstance(e, FallbackTaken)] == [
        ("big", "small", "overloaded")
    ]
    driver = Driver(policy, clock)
    with pytest.raises(anthropic.InternalServerError):
        driver.run(script(500), params={"model": "big"})
    assert driver.kinds() == [_INVOKE]  # a 500 is not in fall_back_on: the small model is never asked


def test_breaker_layer_refuses_without_a_request_and_counts_only_what_says_something() -> None:
    clock, events = FakeClock(), list[Event]()
    breakers = CircuitBreakers(min_throughput=2, open_s=30.0)
    policy = make_policy(clock, events, retry=Retry(max_attempts=1), breakers=breakers)
    breaker = breakers.for_model("big")
    with pytest.raises(KeyError):  # an error the policy does not judge says nothing of the model
        Driver(policy, clock).run(script(KeyError("bug")))
    with pytest.raises(anthropic.BadRequestError):  # neither does the caller's own mistake
        Driver(policy, clock).run(script(400))
    assert breaker.counts(clock.monotonic()) == (0, 0)
    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError):
            Driver(policy, clock).run(script(500))
    driver = Driver(policy, clock)
    with pytest.raises(CircuitOpenError):
        driver.run(script("ok"))
    assert driver.seen == []  # refused at once: no step at all, no request sent


def test_limit_layer_holds_one_slot_for_the_whole_retry_loop() -> None:
    clock, events = FakeClock(), list[Event]()
    limit = ConcurrencyLimit(2)
    policy = make_policy(clock, events, limit=limit)
    driver = Driver(policy, clock, probe=lambda: limit.in_use)
    assert driver.run(script(529, 529, "ok"))[0] == "big"
    assert driver.kinds() == [_INVOKE, _SLEEP, _INVOKE, _SLEEP, _INVOKE]
    assert {held for _, _, held in driver.seen} == {1}  # the sleeps too: the call keeps its place
    assert limit.in_use == 0


def test_limit_layer_sheds_to_the_next_model_when_the_first_was_cut_and_is_full() -> None:
    clock, events = FakeClock(), list[Event]()
    limits = ModelLimits(2, adaptive=AIMDLimit(initial=2, minimum=1, maximum=2))
    policy = make_policy(clock, events, limit=limits, fallback=["big", "small"])
    big = limits.for_model("big")
    assert big.adaptive is not None
    big.adaptive.on_overload()  # cut to 1 ...
    assert big.try_acquire()  # ... and that one slot taken
    driver = Driver(policy, clock)
    assert driver.run(script("ok"), params={"model": "big"})[0] == "small"
    assert [arg.model for kind, arg, _ in driver.seen if kind == _INVOKE] == ["small"]
    assert [e.reason for e in events if isinstance(e, FallbackTaken)] == ["throttled"]
    assert _ACQUIRE not in driver.kinds()  # it never queued for the overloaded model


def test_retry_layer_sleeps_each_delay_it_decided_and_says_so_first() -> None:
    clock, events = FakeClock(), list[Event]()
    policy = make_policy(clock, events, retry=Retry(max_attempts=4, backoff=NoJitter(base=0.5, cap=8.0)))
    driver = Driver(policy, clock)
    assert driver.run(script(529, 500, "ok"))[0] == "big"
    slept = [arg for kind, arg, _ in driver.seen if kind == _SLEEP]
    assert slept == [0.5, 1.0]
    assert [e.delay_s for e in events if isinstance(e, RetryScheduled)] == slept
    assert [a.number for kind, a, _ in driver.seen if kind == _INVOKE] == [1, 2, 3]


def test_attempt_layer_paces_before_sending_but_never_past_the_deadline() -> None:
    class Held(RateLimitPacer):  # a token bucket refilling: 30 s before the next request
        def reserve(self, now_wall: float) -> float:
            return 30.0

    clock, events = FakeClock(), list[Event]()
    policy = make_policy(clock, events, retry=Retry(max_attempts=1, deadline_s=12.0), pacer=Held())
    driver = Driver(policy, clock)
    assert driver.run(script("ok"))[0] == "big"
    assert [(kind, arg) for kind, arg, _ in driver.seen][:1] == [(_SLEEP, 12.0)]  # the time left
    attempt = driver.seen[1][1]
    assert driver.seen[1][0] == _INVOKE and attempt.timeout_s == pytest.approx(0.001)
