"""Hypothesis state machines for the stateful cores of the library: the circuit breaker, the AIMD
limit (with the concurrency limit it drives), the retry budget's token bucket and the pacer that
reads the API's token-bucket headers.

Each machine keeps a small model of what the object should be doing, drives the real object and
the model through the same steps (time moves only when the ``advance`` rule moves the fake
clock), and checks one against the other after every step. Each machine is also run once against
a deliberately broken subclass, which it must catch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from tests.support import FakeClock, assert_machine_catches

from resilience import AIMDLimit, BreakerState, CircuitBreaker, ConcurrencyLimit, RateLimitPacer, RetryBudget

# The suite's Hypothesis profile (tests/conftest.py: no deadline), a few seconds per machine.
BOUNDED = settings(settings.get_profile("busysignal"), max_examples=40, stateful_step_count=30)

# --- circuit breaker ---------------------------------------------------------------------------
WINDOW_S, BUCKETS, MIN_THROUGHPUT, RATIO, OPEN_S, PROBES = 10.0, 5, 3, 0.5, 4.0, 2


@dataclass
class BreakerModel:
    """What the breaker should be: its state, the judged calls of the window (by time slice),
    when it opened, the probes out and in, and a generation that every transition bumps."""

    state: BreakerState = BreakerState.CLOSED
    calls: list[tuple[int, bool]] = field(default_factory=list)  # (slice, failed) since closing
    opened_at: float = -math.inf
    probes_out: int = 0
    probe_ok: int = 0
    generation: int = 0
    opened: int = 0

    def counts(self, now: float) -> tuple[int, int]:
        current = math.floor(now / (WINDOW_S / BUCKETS))
        recent = [failed for index, failed in self.calls if current - BUCKETS < index <= current]
        return recent.count(False), recent.count(True)

    def move(self, state: BreakerState, now: float) -> None:
        self.state = state
        self.generation += 1
        self.probes_out = self.probe_ok = 0
        if state is BreakerState.OPEN:
            self.opened_at = now
            self.opened += 1
        if state is BreakerState.CLOSED:
            self.calls = []

    def admit(self, now: float) -> int | None:
        if self.state is BreakerState.OPEN:
            if now < self.opened_at + OPEN_S:
                return None
            self.move(BreakerState.HALF_OPEN, now)
        if self.state is BreakerState.HALF_OPEN:
            if self.probes_out + self.probe_ok >= PROBES:
                return None
            self.probes_out += 1
        return self.generation

    def record(self, outcome: str, now: float, ticket: int) -> None:
        if ticket != self.generation or (outcome == "ignored" and self.state is BreakerState.CLOSED):
            return
        if self.state is BreakerState.CLOSED:
            self.calls.append((math.floor(now / (WINDOW_S / BUCKETS)), outcome == "failure"))
            ok, bad = self.counts(now)
            if outcome == "failure" and ok + bad >= MIN_THROUGHPUT and bad >= RATIO * (ok + bad):
                self.move(BreakerState.OPEN, now)
        elif self.state is BreakerState.HALF_OPEN:
            self.probes_out = max(0, self.probes_out - 1)
            if outcome == "failure":
                self.move(BreakerState.OPEN, now)
            elif outcome == "success":
                self.probe_ok += 1
                if self.probe_ok >= PROBES:
                    self.move(BreakerState.CLOSED, now)


class BreakerMachine(RuleBasedStateMachine):
    """Calls start (admitted or refused) and end in any order with any outcome while time moves."""

    breaker_class: type[CircuitBreaker] = CircuitBreaker
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        self.model = BreakerModel()
        self.breaker = self.breaker_class(
            "m",
            window_s=WINDOW_S,
            buckets=BUCKETS,
            min_throughput=MIN_THROUGHPUT,
            failure_ratio=RATIO,
            open_s=OPEN_S,
            probes=PROBES,
        )

    @rule(dt=st.sampled_from([0.0, 0.5, 1.9, 2.0, 4.0, 9.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(target=tickets)
    def start_call(self) -> int:
        expected = self.model.admit(self.clock())
        ticket = self.breaker.admit(self.clock())
        assert ticket == expected, f"admit gave {ticket}, the model {expected}"
        return -1 if ticket is None else ticket  # a refused call: nothing to record

    @rule(ticket=consumes(tickets), outcome=st.sampled_from(["success", "failure", "ignored"]))
    def finish_call(self, ticket: int, outcome: str) -> None:
        if ticket < 0:
            return
        self.model.record(outcome, self.clock(), ticket)
        self.breaker.record(outcome, self.clock(), ticket)  # type: ignore[arg-type]

    @rule(outcome=st.sampled_from(["success", "failure", "failure", "ignored"]))
    def whole_call(self, outcome: str) -> None:
        """A call that starts and ends before anything else happens (the common case)."""
        self.finish_call(self.start_call(), outcome)

    @invariant()
    def agrees_with_the_model(self) -> None:
        now = self.clock()
        assert self.breaker.state is self.model.state
        assert self.breaker.counts(now) == self.model.counts(now)
        assert self.breaker.opened == self.model.opened
        expected_wait = (
            max(0.0, self.model.opened_at + OPEN_S - now) if self.model.state is BreakerState.OPEN else 0.0
        )
        assert self.breaker.retry_in(now) == expected_wait


BreakerMachine.TestCase.settings = BOUNDED
TestBreakerAgainstItsModel = BreakerMachine.TestCase


class _BreakerThatCountsIgnored(CircuitBreaker):
    """Broken: the caller's own 4xx count as failures of the model."""

    def record(self, outcome: str, now: float, ticket: int | None = None) -> None:  # type: ignore[override]
        super().record("failure" if outcome == "ignored" else outcome, now, ticket)  # type: ignore[arg-type]


def test_the_breaker_machine_catches_a_broken_breaker() -> None:
    class Broken(BreakerMachine):
        breaker_class = _BreakerThatCountsIgnored

    assert_machine_catches(Broken)


# --- AIMD limit and the concurrency limit it drives ----------------------------------------------
MINIMUM, MAXIMUM, INITIAL, INCREASE, DECREASE, TARGET_S, LATENCY_DECREASE = 1.0, 8.0, 4.0, 1.0, 0.5, 2.0, 0.9


@dataclass
class AIMDModel:
    limit: float = INITIAL
    last_cut: float = -math.inf

    def success(self, latency_s: float) -> None:
        if latency_s > TARGET_S:
            self.limit = max(MINIMUM, self.limit * LATENCY_DECREASE)
        else:
            self.limit = min(MAXIMUM, self.limit + INCREASE / self.limit)

    def overload(self, began: float, now: float) -> None:
        if began < self.last_cut:
            return  # the same congestion the last cut answered
        self.limit = max(MINIMUM, self.limit * DECREASE)
        self.last_cut = now


class AIMDMachine(RuleBasedStateMachine):
    """Attempts are sent (each takes a slot of the concurrency limit when one is free), and end in
    a fast or slow success or an overload, in any order, while time moves."""

    limit_class: type[AIMDLimit] = AIMDLimit
    in_flight = Bundle("in_flight")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        self.model = AIMDModel()
        self.aimd = self.limit_class(
            initial=INITIAL,
            minimum=MINIMUM,
            maximum=MAXIMUM,
            increase=INCREASE,
            decrease=DECREASE,
            latency_target_s=TARGET_S,
            latency_decrease=LATENCY_DECREASE,
        )
        self.slots = ConcurrencyLimit(6, adaptive=self.aimd)
        self.held = 0

    def slots_expected(self) -> int:
        return max(1, min(6, math.floor(self.model.limit)))

    @rule(dt=st.sampled_from([0.0, 0.25, 1.0, 3.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(target=in_flight)
    def send(self) -> float:
        free = self.held < self.slots_expected()
        assert self.slots.try_acquire() is free, f"{self.held} held of {self.slots_expected()} slots"
        if free:
            self.held += 1
        return self.clock() if free else math.nan  # nan: refused, never sent

    @rule(began=consumes(in_flight), slow=st.booleans())
    def succeed(self, began: float, slow: bool) -> None:
        if math.isnan(began):
            return
        latency = TARGET_S * 2 if slow else 0.0
        self.model.success(latency)
        self.aimd.on_success(latency)
        self.release()

    @rule(began=consumes(in_flight))
    def overload(self, began: float) -> None:
        if math.isnan(began):
            return
        self.model.overload(began, self.clock())
        self.aimd.on_overload(began, self.clock())
        self.release()

    def release(self) -> None:
        self.slots.release()
        self.held -= 1

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.aimd.limit == self.model.limit
        assert MINIMUM <= self.aimd.limit <= MAXIMUM
        assert self.aimd.reduced is (self.model.limit < INITIAL)
        assert self.aimd.floored is (math.floor(self.model.limit) <= MINIMUM)
        assert self.slots.limit == self.slots_expected()
        assert self.slots.in_use == self.held


AIMDMachine.TestCase.settings = BOUNDED
TestAIMDAgainstItsModel = AIMDMachine.TestCase


class _AIMDThatCutsPerCall(AIMDLimit):
    """Broken: every overload of a burst cuts again (the ``began`` of an attempt is ignored)."""

    def on_overload(self, began: float | None = None, now: float | None = None) -> None:
        super().on_overload(None, now)


def test_the_aimd_machine_catches_a_limit_that_cuts_once_per_call() -> None:
    class Broken(AIMDMachine):
        limit_class = _AIMDThatCutsPerCall

    assert_machine_catches(Broken)


# --- retry budget (a token bucket of retries) ------------------------------------------------------
RATIO_B, FLOOR, CAPACITY = 0.25, 2.0, 3.0


class BudgetMachine(RuleBasedStateMachine):
    """First attempts deposit, retries withdraw: the balance stays in [0, capacity], a retry is
    granted exactly when a whole token is there, and retries <= ratio * requests + floor."""

    budget_class: type[RetryBudget] = RetryBudget

    def __init__(self) -> None:
        super().__init__()
        self.budget = self.budget_class(ratio=RATIO_B, floor=FLOOR, capacity=CAPACITY)
        self.balance = FLOOR
        self.requests = self.retries = self.refused = 0

    @rule(n=st.integers(1, 5))
    def requests_made(self, n: int) -> None:
        for _ in range(n):
            self.budget.on_request()
            self.balance = min(CAPACITY, self.balance + RATIO_B)
            self.requests += 1

    @rule()
    def retry(self) -> None:
        expected = self.balance >= 1.0 - 1e-9
        assert self.budget.try_retry() is expected
        if expected:
            self.balance = max(0.0, self.balance - 1.0)
            self.retries += 1
        else:
            self.refused += 1

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.budget.balance == self.balance
        assert 0.0 <= self.budget.balance <= CAPACITY
        assert (self.budget.requests, self.budget.retries, self.budget.refused) == (
            self.requests,
            self.retries,
            self.refused,
        )
        assert self.retries <= RATIO_B * self.requests + FLOOR + 1e-9


BudgetMachine.TestCase.settings = BOUNDED
TestRetryBudgetAgainstItsModel = BudgetMachine.TestCase


class _BudgetWithoutACap(RetryBudget):
    """Broken: deposits are never capped, so a long healthy spell banks an unbounded burst."""

    def on_request(self) -> None:
        self.requests += 1
        self._balance += self.ratio


def test_the_budget_machine_catches_a_budget_without_a_cap() -> None:
    class Broken(BudgetMachine):
        budget_class = _BudgetWithoutACap

    assert_machine_catches(Broken)


# --- the pacer of the API's token buckets ------------------------------------------------------------
RESERVE, MAX_DELAY_S, LIMIT, TOKENS = 0.2, 5.0, 10, 1000


def _reset_header(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class PacerMachine(RuleBasedStateMachine):
    """Responses report the requests and tokens buckets (``anthropic-ratelimit-*``) and requests
    ask when they may go, while the wall clock moves. A low requests bucket spaces requests by
    its refill interval until it resets; a low tokens bucket holds every request until it has
    refilled to the reserve; healthy buckets cost nothing; no wait is ever over the cap."""

    pacer_class: type[RateLimitPacer] = RateLimitPacer

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=1_800_000_000.0)
        self.pacer = self.pacer_class(reserve=RESERVE, max_delay_s=MAX_DELAY_S)
        self.interval, self.until, self.hold_until = 0.0, -math.inf, -math.inf
        self.last_paced: tuple[float, float] | None = None  # (sent at, interval) of the last paced send

    @rule(dt=st.sampled_from([0.0, 0.25, 1.0, 4.0, 20.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(
        remaining=st.integers(0, LIMIT),
        reset_in=st.sampled_from([1.0, 2.0, 8.0]),
        tokens=st.sampled_from([0, 100, 199, 200, TOKENS]),
        tokens_reset_in=st.sampled_from([1.0, 6.0]),
    )
    def response(self, remaining: int, reset_in: float, tokens: int, tokens_reset_in: float) -> None:
        now = self.clock()
        headers = {
            "anthropic-ratelimit-requests-limit": str(LIMIT),
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": _reset_header(now + reset_in),
            "anthropic-ratelimit-tokens-limit": str(TOKENS),
            "anthropic-ratelimit-tokens-remaining": str(tokens),
            "anthropic-ratelimit-tokens-reset": _reset_header(now + tokens_reset_in),
        }
        self.pacer.observe(headers, now)
        low = remaining <= RESERVE * LIMIT
        self.interval = reset_in / (LIMIT - remaining) if low else 0.0  # its refill interval
        self.until = now + reset_in if low else -math.inf
        floor = RESERVE * TOKENS
        hold = tokens_reset_in * (floor - tokens) / (TOKENS - tokens) if tokens < floor else 0.0
        self.hold_until = now + hold if hold > 0 else -math.inf
        assert math.isclose(self.pacer.interval, self.interval, abs_tol=1e-9)
        assert math.isclose(self.pacer.hold_until, self.hold_until, abs_tol=1e-6)  # -inf: no hold

    @rule()
    def request(self) -> None:
        now = self.clock()
        wait = self.pacer.reserve(now)
        assert 0.0 <= wait <= MAX_DELAY_S
        held = max(0.0, self.hold_until - now)
        pacing = self.interval > 0 and now < self.until
        if not pacing:
            self.interval = 0.0
            assert math.isclose(wait, min(MAX_DELAY_S, held), abs_tol=1e-6), f"waits {wait}, held {held}"
            return
        assert wait >= min(MAX_DELAY_S, held) - 1e-6, f"sent {wait} s from now, inside a hold of {held} s"
        if wait < MAX_DELAY_S:
            if self.last_paced is not None:
                sent, interval = self.last_paced
                assert now + wait >= sent + interval - 1e-6, "two paced requests closer than the interval"
            self.last_paced = (now + wait, self.interval)
        else:
            self.last_paced = None  # capped: it goes early, and the next one is not measured from it


PacerMachine.TestCase.settings = BOUNDED
TestRateLimitPacerAgainstItsModel = PacerMachine.TestCase


class _PacerThatIgnoresTheTokenBuckets(RateLimitPacer):
    """Broken: a tokens bucket below its reserve does not hold requests back."""

    def reserve(self, now_wall: float) -> float:
        self._hold_until = -math.inf
        return super().reserve(now_wall)


def test_the_pacer_machine_catches_a_pacer_that_ignores_the_token_buckets() -> None:
    class Broken(PacerMachine):
        pacer_class = _PacerThatIgnoresTheTokenBuckets

    assert_machine_catches(Broken)
