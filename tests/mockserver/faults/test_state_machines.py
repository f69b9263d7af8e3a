"""Hypothesis state machines for the fault engine's two stateful cores: the token bucket behind
the rate limits and the capacity pool behind load-driven overload.

Each machine keeps a small model, drives the real object and the model through the same steps
(time moves only when the ``advance`` rule moves the fake clock), and checks one against the
other after every step. Each machine is also run once against a deliberately broken subclass,
which it must catch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from tests.support import FakeClock, assert_machine_catches

from mockserver.faults.buckets import TokenBucket
from mockserver.faults.capacity import CapacityFn, PoolState, Reservation

# The suite's Hypothesis profile (tests/conftest.py: no deadline), a few seconds per machine.
BOUNDED = settings(settings.get_profile("busysignal"), max_examples=40, stateful_step_count=30)
EPS = 1e-9

# --- token bucket --------------------------------------------------------------------------------
CAPACITY, PER_S = 10.0, 2.0


class BucketMachine(RuleBasedStateMachine):
    """Takes, give-backs and reads at times that mostly move forward (and sometimes arrive late,
    out of order): the level follows ``min(capacity, level + elapsed * rate)`` and never leaves
    ``[0, capacity]``; a take succeeds exactly when the tokens are there; ``wait_for`` is right."""

    bucket_class: type[TokenBucket] = TokenBucket

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=100.0)
        self.bucket = self.bucket_class(CAPACITY, PER_S, self.clock())
        self.level = CAPACITY
        self.seen = self.clock()  # the latest time the bucket was shown

    def refill(self, now: float) -> None:
        if now > self.seen:
            self.level = min(CAPACITY, self.level + (now - self.seen) * PER_S)
            self.seen = now

    @rule(dt=st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0, 10.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(amount=st.sampled_from([0.5, 1.0, 3.0, 7.0, 12.0]), late=st.sampled_from([0.0, 0.0, 1.0]))
    def take(self, amount: float, late: float) -> None:
        now = self.clock() - late  # a request decided out of order refills nothing
        self.refill(now)
        took = self.bucket.try_take(amount, now)
        if abs(amount - self.level) > 1e-6:  # at the very edge, float rounding decides
            assert took is (amount < self.level), f"try_take({amount}) with {self.level} there gave {took}"
        if took:
            self.level -= amount

    @rule(amount=st.sampled_from([0.5, 2.0, 20.0]))
    def give_back(self, amount: float) -> None:
        self.refill(self.clock())
        self.bucket.give_back(amount, self.clock())
        self.level = min(CAPACITY, self.level + amount)

    @rule(amount=st.sampled_from([1.0, 4.0, 10.0, 11.0]))
    def wait_then_take(self, amount: float) -> None:
        """After waiting ``wait_for(amount)`` seconds the take succeeds (inf: it never can)."""
        self.refill(self.clock())
        wait = self.bucket.wait_for(amount, self.clock())
        if amount > CAPACITY:
            assert wait == math.inf
            return
        assert math.isclose(wait, max(0.0, (amount - self.level) / PER_S), abs_tol=EPS)
        self.clock.advance(wait + EPS)
        self.refill(self.clock())
        assert self.bucket.try_take(amount, self.clock()), f"{amount} tokens not there after {wait} s"
        self.level -= amount

    @invariant()
    def agrees_with_the_model(self) -> None:
        now = self.clock()
        self.refill(now)
        available = self.bucket.available(now)
        assert 0.0 <= available <= CAPACITY
        assert math.isclose(available, self.level, abs_tol=1e-6)
        assert math.isclose(self.bucket.time_to_full(now), (CAPACITY - self.level) / PER_S, abs_tol=1e-6)


BucketMachine.TestCase.settings = BOUNDED
TestTokenBucketAgainstItsModel = BucketMachine.TestCase


class _BucketThatRefillsBackwards(TokenBucket):
    """Broken: a late request (``now`` before the last one seen) moves the clock back, so the
    same seconds are refilled twice."""

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.per_s)
        self.updated = now


def test_the_bucket_machine_catches_a_bucket_that_refills_twice() -> None:
    class Broken(BucketMachine):
        bucket_class = _BucketThatRefillsBackwards

    assert_machine_catches(Broken)


# --- capacity pool -------------------------------------------------------------------------------
SLOTS, QUEUE_SIZE, MAX_WAIT_S = 2, 2, 3.0


@dataclass
class Held:
    """The model's own copy of one admitted request's reservation."""

    res: Reservation
    start: float
    end: float


class PoolMachine(RuleBasedStateMachine):
    """Requests of different lengths arrive and are admitted, queued or shed; some end early
    (``release``), while time moves. At every instant at most ``SLOTS`` reservations overlap; a
    request starts at once exactly when a slot is free, else when the earliest one frees;
    queue and wait bounds decide shedding; counts of running and queued requests are right."""

    pool_class: type[PoolState] = PoolState
    admitted = Bundle("admitted")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        self.pool = self.pool_class()
        self.capacity = CapacityFn(SLOTS, (), 0.0)
        self.held: list[Held] = []

    def live(self, now: float) -> list[Held]:
        return [h for h in self.held if h.end > now]

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 2.5, 6.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(target=admitted, service_s=st.sampled_from([0.5, 1.0, 2.0, 4.0]))
    def arrive(self, service_s: float) -> Held | None:
        now = self.clock()
        live = self.live(now)
        ends = sorted(h.end for h in live)
        start = now if len(live) < SLOTS else max(now, ends[len(live) - SLOTS])
        queued = sum(1 for h in live if h.start > now)
        shed = start > now and (queued >= QUEUE_SIZE or start - now > MAX_WAIT_S)
        got = self.pool.admit(
            now, service_s, SLOTS, self.capacity, queue_size=QUEUE_SIZE, max_wait_s=MAX_WAIT_S
        )
        assert got.queued == queued
        assert got.admitted is not shed, (
            f"admitted={got.admitted}, the model expects start {start} (now {now})"
        )
        if shed:
            assert got.reservation is None
            return None
        assert got.reservation is not None
        assert math.isclose(got.wait_s, start - now)
        assert (got.reservation.start, got.reservation.end) == (start, start + service_s)
        held = Held(got.reservation, start, start + service_s)
        self.held.append(held)
        return held

    @rule(held=admitted, early=st.sampled_from([0.0, 0.3, 1.0]))
    def release(self, held: Held | None, early: float) -> None:
        """The work really ended ``early`` seconds from now (never later than it was due)."""
        if held is None:
            return
        at = self.clock() + early
        self.pool.release(held.res, at)
        if at < held.end:
            held.end = max(at, held.start)

    @invariant()
    def agrees_with_the_model(self) -> None:
        now = self.clock()
        for held in self.held:
            assert (held.res.start, held.res.end) == (held.start, held.end)
        for at in [now, *(h.start for h in self.held)]:
            running = sum(1 for h in self.held if h.start <= at < h.end)
            assert running <= SLOTS, f"{running} requests run at {at} on {SLOTS} slots"
            if at >= now:
                assert self.pool.in_flight(at) == running
        self.pool.purge(now)
        assert self.pool.queued(now) == sum(1 for h in self.live(now) if h.start > now)


PoolMachine.TestCase.settings = BOUNDED
TestCapacityPoolAgainstItsModel = PoolMachine.TestCase


class _PoolThatForgetsQueued(PoolState):
    """Broken: a request that has not started yet is not counted when the next one arrives, so
    a full pool admits more than its slots."""

    def _earliest_start(self, now: float, cap: int) -> float:
        running = self.in_flight(now)
        return now if running < cap else super()._earliest_start(now, cap)


def test_the_pool_machine_catches_a_pool_that_over_admits() -> None:
    class Broken(PoolMachine):
        pool_class = _PoolThatForgetsQueued

    assert_machine_catches(Broken)
