"""Self-throttling: the concurrency cap (threads and event loops, timeouts, cancellation), the
AIMD adaptive limit and the rate-limit pacer."""

from __future__ import annotations

import asyncio
import threading
import time

import anthropic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.throttle import (
    AIMDLimit,
    ConcurrencyLimit,
    LimiterTimeout,
    RateLimitPacer,
    pacing_interval,
    refill_wait,
)


# --- concurrency cap ----------------------------------------------------------------------
def test_a_thread_waits_for_a_slot_and_gets_it_on_release() -> None:
    limit = ConcurrencyLimit(1)
    limit.acquire()
    got = threading.Event()

    def waiter() -> None:
        limit.acquire(timeout=60.0)
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.02)
    limit.release()
    assert got.wait(60.0)  # at once on release; the bound is only for a saturated machine
    thread.join()
    assert limit.in_use == 1
    limit.release()
    assert limit.in_use == 0


def test_a_thread_that_waits_too_long_gets_a_limiter_timeout_and_leaves_the_queue() -> None:
    limit = ConcurrencyLimit(1)
    limit.acquire()
    with pytest.raises(LimiterTimeout, match="no concurrency slot") as caught:
        limit.acquire(timeout=0.01)
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, anthropic.AnthropicError)
    limit.release()
    assert limit.try_acquire()  # the timed-out waiter did not keep a place


async def test_async_waiters_are_served_in_order() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire_async()
    order: list[int] = []

    async def worker(i: int) -> None:
        await limit.acquire_async()
        order.append(i)
        limit.release()

    tasks = [asyncio.create_task(worker(i)) for i in range(5)]
    await asyncio.sleep(0)
    limit.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and limit.in_use == 0


async def test_a_cancelled_async_waiter_gives_its_slot_back() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire_async()
    task = asyncio.create_task(limit.acquire_async())
    await asyncio.sleep(0)
    limit.release()  # the slot passes to the waiter ...
    task.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limit.in_use == 0 and limit.try_acquire()


async def test_async_acquire_times_out() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire_async()
    with pytest.raises(LimiterTimeout):
        await limit.acquire_async(timeout=0.005)
    limit.release()
    assert limit.in_use == 0


def test_threads_and_an_event_loop_share_one_cap() -> None:
    limit = ConcurrencyLimit(2)
    active = peak = 0
    lock = threading.Lock()

    def hold() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.002)
        with lock:
            active -= 1

    def thread_user() -> None:
        for _ in range(5):
            limit.acquire(timeout=60.0)
            try:
                hold()
            finally:
                limit.release()

    async def loop_user() -> None:
        for _ in range(5):
            await limit.acquire_async(timeout=60.0)
            try:
                await asyncio.to_thread(hold)
            finally:
                limit.release()

    threads = [threading.Thread(target=thread_user) for _ in range(3)]
    for t in threads:
        t.start()
    asyncio.run(loop_user())
    for t in threads:
        t.join()
    assert 1 <= peak <= 2 and limit.in_use == 0


def test_release_without_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        ConcurrencyLimit(1).release()


def test_the_adaptive_limit_caps_concurrency() -> None:
    adaptive = AIMDLimit(initial=4, minimum=1, maximum=8)
    limit = ConcurrencyLimit(100, adaptive=adaptive)
    assert limit.limit == 4
    adaptive.on_overload()
    assert limit.limit == 2
    assert limit.try_acquire() and limit.try_acquire() and not limit.try_acquire()


# --- AIMD ---------------------------------------------------------------------------------
@given(st.lists(st.one_of(st.just("overload"), st.floats(min_value=0.0, max_value=10.0)), max_size=200))
def test_aimd_limit_stays_within_its_bounds(events: list[object]) -> None:
    aimd = AIMDLimit(initial=10, minimum=2, maximum=50, latency_target_s=5.0)
    for event in events:
        if event == "overload":
            aimd.on_overload()
        else:
            assert isinstance(event, float)
            aimd.on_success(event)
        assert 2.0 <= aimd.limit <= 50.0


def test_aimd_grows_by_about_one_per_round_and_halves_on_overload() -> None:
    aimd = AIMDLimit(initial=10, maximum=100)
    for _ in range(10):
        aimd.on_success(0.1)
    assert 10.9 < aimd.limit < 11.0
    before = aimd.limit
    aimd.on_overload()
    assert aimd.limit == pytest.approx(before / 2)


def test_slow_successes_shrink_the_limit_gently() -> None:
    aimd = AIMDLimit(initial=10, latency_target_s=1.0, latency_decrease=0.9)
    aimd.on_success(2.0)
    assert aimd.limit == pytest.approx(9.0)


def test_bad_aimd_settings_get_a_specific_error() -> None:
    with pytest.raises(ValueError, match="minimum <= initial <= maximum"):
        AIMDLimit(initial=100, maximum=10)
    with pytest.raises(ValueError, match="decrease must be in"):
        AIMDLimit(decrease=1.5)


# --- pacer --------------------------------------------------------------------------------
@given(
    st.integers(1, 10_000),
    st.integers(-5, 10_000),
    st.floats(min_value=0.0, max_value=120.0),
    st.floats(min_value=0.0, max_value=0.99),
)
def test_pacing_goes_at_the_refill_rate_only_below_the_reserve(
    limit: int, remaining: int, reset_in: float, reserve: float
) -> None:
    gap = pacing_interval(limit, remaining, reset_in, reserve)
    assert 0.0 <= gap <= reset_in
    if remaining > reserve * limit or reset_in == 0:
        assert gap == 0.0
    else:  # (limit - remaining) units refill over reset_in: one per gap
        assert gap * (limit - remaining) == pytest.approx(reset_in)


@given(
    st.integers(1, 100_000),
    st.integers(-5, 100_000),
    st.floats(min_value=0.0, max_value=120.0),
    st.floats(min_value=0.0, max_value=0.99),
)
def test_refill_wait_is_the_time_back_to_the_reserve(
    limit: int, remaining: int, reset_in: float, reserve: float
) -> None:
    wait = refill_wait(limit, remaining, reset_in, reserve)
    assert 0.0 <= wait <= reset_in
    if remaining >= reserve * limit:
        assert wait == 0.0
    elif reset_in > 1e-6:  # (below that, the rate overflows the check, not the function)
        rate = (limit - remaining) / reset_in  # units per second
        assert remaining + rate * wait == pytest.approx(reserve * limit)


def _headers(remaining: int, reset: str, limit: int = 100, bucket: str = "requests") -> dict[str, str]:
    return {
        f"anthropic-ratelimit-{bucket}-limit": str(limit),
        f"anthropic-ratelimit-{bucket}-remaining": str(remaining),
        f"anthropic-ratelimit-{bucket}-reset": reset,
    }


NOW = 1_800_000_000.0
RESET_IN_20S = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 20))


def test_pacer_does_nothing_while_the_buckets_are_healthy() -> None:
    pacer = RateLimitPacer(reserve=0.1)
    pacer.observe({**_headers(50, RESET_IN_20S), **_headers(5000, RESET_IN_20S, 10000, "tokens")}, NOW)
    assert pacer.reserve(NOW) == 0.0 and pacer.reserve(NOW) == 0.0


def test_pacer_spaces_requests_at_the_refill_rate_when_the_bucket_runs_low() -> None:
    pacer = RateLimitPacer(reserve=0.1, max_delay_s=30.0)
    pacer.observe(_headers(4, RESET_IN_20S), NOW)  # 96 refill in 20 s: one every 20/96 s
    gap = 20 / 96
    assert pacer.reserve(NOW) == 0.0
    assert pacer.reserve(NOW) == pytest.approx(gap)
    assert pacer.reserve(NOW) == pytest.approx(2 * gap)
    assert pacer.reserve(NOW + 21) == 0.0  # the bucket is full again


def test_a_token_bucket_below_its_reserve_holds_requests_until_it_refills() -> None:
    pacer = RateLimitPacer(reserve=0.1, max_delay_s=30.0)
    pacer.observe(_headers(0, RESET_IN_20S, 10_000, "output-tokens"), NOW)  # empty: 10 % back in 2 s
    assert pacer.hold_until == pytest.approx(NOW + 2.0)
    assert pacer.reserve(NOW) == pytest.approx(2.0)
    assert pacer.reserve(NOW + 1.5) == pytest.approx(0.5)
    assert pacer.reserve(NOW + 2.5) == 0.0


def test_pacing_delays_never_exceed_the_cap() -> None:
    pacer = RateLimitPacer(max_delay_s=1.0)
    far = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 3600))
    pacer.observe(_headers(0, far, 10_000, "input-tokens"), NOW)
    assert pacer.reserve(NOW) == 1.0


def test_the_tightest_bucket_wins_and_bad_headers_are_ignored() -> None:
    pacer = RateLimitPacer(reserve=0.1, max_delay_s=100.0)
    headers = {
        **_headers(9, RESET_IN_20S),  # requests: 91 refill in 20 s
        **_headers(500, RESET_IN_20S, 10_000, "output-tokens"),  # below the 1000 reserve
        "anthropic-ratelimit-input-tokens-limit": "lots",
        "anthropic-ratelimit-input-tokens-remaining": "1",
        "anthropic-ratelimit-input-tokens-reset": "tomorrow",
    }
    pacer.observe(headers, NOW)
    assert pacer.interval == pytest.approx(20 / 91)
    assert pacer.hold_until == pytest.approx(NOW + 20 * 500 / 9500)


def test_aimd_cuts_once_for_a_burst_of_529s_to_attempts_in_flight_together() -> None:
    aimd = AIMDLimit(initial=64, minimum=1, maximum=256)
    for _ in range(20):  # twenty attempts sent at t=0 all answered 529 around t=1
        aimd.on_overload(began=0.0, now=1.0)
    assert aimd.limit == 32
    aimd.on_overload(began=1.5, now=2.0)  # sent after the cut: new evidence
    assert aimd.limit == 16
    aimd.on_overload()  # without times every 529 cuts, as before
    assert aimd.limit == 8
