"""The capacity model: never over-admits, queues within bounds, sheds fast, holds abandoned work."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.faults import RequestFacts, ScenarioError, build_engine
from mockserver.faults.capacity import CapacityFn, PoolState, Reservation
from mockserver.faults.engine import ScenarioEngine
from scenarios.loader import load_text


def facts(
    index: int, *, model: str = "claude-opus-5", max_tokens: int = 50, stream: bool = False
) -> RequestFacts:
    return RequestFacts(
        index=index, method="POST", path="/v1/messages", model=model, stream=stream,
        api_key_id="k", body_digest=f"b{index}", headers={}, max_tokens=max_tokens,
    )  # fmt: skip


def capacity_engine(capacity: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> ScenarioEngine:
    eng = build_engine({"name": "c", "description": "d", "capacity": capacity, "rules": rules or []})
    assert isinstance(eng, ScenarioEngine)
    eng.restart(0.0)
    return eng


def overlap_max(reservations: list[Reservation]) -> int:
    """The largest number of reservations covering one instant."""
    live = [r for r in reservations if r.end > r.start]
    # at equal times an end (-1) sorts before a start (+1): [start, end) intervals
    events = sorted([(r.start, 1) for r in live] + [(r.end, -1) for r in live])
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


arrivals = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=2, allow_nan=False),  # gap to the previous arrival
        st.floats(min_value=0.01, max_value=5, allow_nan=False),  # service time
        st.one_of(st.none(), st.floats(min_value=0, max_value=6, allow_nan=False)),  # completes after
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=6),
    queue=st.integers(min_value=0, max_value=6),
    max_wait=st.floats(min_value=0, max_value=5, allow_nan=False),
    reqs=arrivals,
)
def test_pool_never_admits_more_than_its_capacity(
    capacity: int, queue: int, max_wait: float, reqs: list[tuple[float, float, float | None]]
) -> None:
    pool = PoolState()
    fn = CapacityFn(capacity, (), 0.0)
    admitted: list[Reservation] = []
    completions: list[tuple[float, Reservation]] = []
    now = 0.0
    for gap, service, done_after in reqs:
        now += gap
        for at, res in [c for c in completions if c[0] <= now]:
            pool.release(res, at)
        completions = [c for c in completions if c[0] > now]
        adm = pool.admit(now, service, fn(now), fn, queue_size=queue, max_wait_s=max_wait)
        if adm.admitted:
            assert adm.reservation is not None
            assert 0 <= adm.wait_s <= max_wait and adm.in_flight <= capacity
            assert adm.wait_s == 0 or adm.queued < queue
            admitted.append(adm.reservation)
            if done_after is not None:
                completions.append((adm.reservation.start + done_after, adm.reservation))
        else:
            assert adm.queued >= queue or adm.in_flight >= capacity
    assert overlap_max(admitted) <= capacity


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=1, max_value=40), gap=st.floats(min_value=0, max_value=0.2, allow_nan=False))
def test_engine_capacity_never_over_admits(n: int, gap: float) -> None:
    eng = capacity_engine({"pools": [{"concurrency": 3, "queue_size": 2, "max_wait_s": 0.5, "ttft_s": 0.1,
                                      "stream_tokens_per_s": 100}]})  # fmt: skip
    for i in range(n):
        eng.decide(facts(i), i * gap)
    assert eng.state is not None
    assert overlap_max(eng.state.pools[0].reservations) <= 3


def test_above_capacity_requests_queue_then_shed_with_a_fast_529() -> None:
    # service = ttft 0.5 (slowdown 0) + 50 tokens / 100 tok/s = 1.0 s
    eng = capacity_engine({"pools": [{"concurrency": 2, "queue_size": 1, "max_wait_s": 2.0, "ttft_s": 0.5,
                                      "stream_tokens_per_s": 100, "slowdown": 0}]})  # fmt: skip
    d = [eng.decide(facts(i), 0.0) for i in range(4)]
    assert [x.error is None for x in d] == [True, True, True, False]
    assert d[0].delay_s == 0 and d[1].delay_s == 0
    assert d[2].delay_s == 1.0  # waits for the first slot to free
    assert d[3].error is not None and d[3].error.status == 529 and d[3].delay_s == 0
    assert d[3].reason["source"] == "capacity" and d[3].reason["capacity"]["queued"] == 1
    assert d[0].ttft_s == 0.5 and d[0].tokens_per_s == 100


def test_a_wait_longer_than_max_wait_is_shed() -> None:
    eng = capacity_engine({"pools": [{"concurrency": 1, "queue_size": 5, "max_wait_s": 0.5, "ttft_s": 1.0,
                                      "stream_tokens_per_s": 1000, "slowdown": 0}]})  # fmt: skip
    assert eng.decide(facts(0, max_tokens=1), 0.0).error is None
    assert eng.decide(facts(1, max_tokens=1), 0.0).error is not None
    assert eng.decide(facts(2, max_tokens=1), 0.6).error is None  # 0.401 s wait now


def test_completion_frees_the_slot_and_abandoned_work_keeps_it() -> None:
    for holds in (True, False):
        eng = capacity_engine({"client_gone_holds": holds, "pools": [{"concurrency": 1, "ttft_s": 10,
                               "stream_tokens_per_s": 100, "slowdown": 0}]})  # fmt: skip
        f0 = facts(0)
        d0 = eng.decide(f0, 0.0)
        assert eng.decide(facts(1), 1.0).error is not None
        eng.complete(f0, d0, 1.0, status=200, output_tokens=0, client_gone=True)
        assert (eng.decide(facts(2), 1.5).error is not None) == holds
    eng = capacity_engine({"pools": [{"concurrency": 1, "ttft_s": 10, "stream_tokens_per_s": 100}]})
    f0 = facts(0)
    d0 = eng.decide(f0, 0.0)
    eng.complete(f0, d0, 2.0, status=200, output_tokens=50, client_gone=False)
    assert eng.decide(facts(1), 2.0).error is None


def test_latency_grows_with_utilisation() -> None:
    eng = capacity_engine(
        {"pools": [{"concurrency": 4, "ttft_s": 0.2, "stream_tokens_per_s": 50, "slowdown": 1.0}]}
    )
    ds = [eng.decide(facts(i), 0.0) for i in range(4)]
    ttfts = [d.ttft_s or 0.0 for d in ds]
    speeds = [d.tokens_per_s or 0.0 for d in ds]
    assert ttfts == sorted(ttfts) and ttfts[0] < ttfts[-1] == 0.4
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] == 25


def test_aggregate_tokens_per_second_is_shared() -> None:
    eng = capacity_engine(
        {"pools": [{"concurrency": 10, "tokens_per_s": 100, "stream_tokens_per_s": 80, "slowdown": 0}]}
    )
    speeds = [eng.decide(facts(i), 0.0).tokens_per_s for i in range(4)]
    assert speeds == [80, 50, 100 / 3, 25]


def test_capacity_schedule_halves_capacity_inside_its_window() -> None:
    eng = capacity_engine({
        "pools": [{"concurrency": 4, "ttft_s": 100, "slowdown": 0}],
        "schedule": [{"start_s": 10, "end_s": 20, "factor": 0.5}],
    })  # fmt: skip
    inside = [eng.decide(facts(i), 10.0).error is None for i in range(4)]
    assert inside == [True, True, False, False]
    eng.restart(0.0)
    before = [eng.decide(facts(i), 0.0).error is None for i in range(5)]
    assert before == [True, True, True, True, False]


def test_pools_are_per_model_and_faulted_requests_take_no_capacity() -> None:
    eng = capacity_engine(
        {"pools": [{"models": "claude-opus-*", "concurrency": 1, "ttft_s": 100},
                   {"models": "*", "concurrency": 1, "ttft_s": 100}]},
        rules=[{"match": {"model": "claude-sonnet-*"}, "fault": 500}],
    )  # fmt: skip
    assert eng.decide(facts(0, model="claude-opus-5"), 0.0).error is None
    assert eng.decide(facts(1, model="claude-opus-5"), 0.0).error is not None
    assert eng.decide(facts(2, model="claude-sonnet-5"), 0.0).error.status == 500  # type: ignore[union-attr]
    assert eng.decide(facts(3, model="claude-haiku-5-5"), 0.0).error is None


def test_capacity_overload_builtin_matches_its_documented_numbers() -> None:
    eng = build_engine("capacity-overload")
    eng.restart(0.0)
    d = eng.decide(facts(0, max_tokens=1000), 0.0)
    assert d.ttft_s is not None and d.tokens_per_s is not None
    # first request: utilisation 1/20 → almost idle: 0.2 s + 36 / 50 tok/s ≈ 0.92 s
    assert abs(d.ttft_s + 36 / d.tokens_per_s - 0.92) < 0.05
    admitted = sum(eng.decide(facts(i, max_tokens=1000), 0.0).error is None for i in range(1, 60))
    assert admitted == 39  # 20 slots + 20 queued (waits < 2 s), minus the first request above
    eng.restart(0.0)
    during_loss = [eng.decide(facts(i, max_tokens=1000), 35.0) for i in range(60)]
    waits = [d.delay_s for d in during_loss if d.error is None]
    # half the slots (10) run at once; 10 more can queue before the wait passes the 2 s limit
    assert len(waits) == 20 and waits[:10] == [0.0] * 10 and all(0.9 < w <= 2.0 for w in waits[10:])


def test_a_stream_that_fails_part_way_still_takes_capacity() -> None:
    eng = capacity_engine(
        {"pools": [{"concurrency": 1, "ttft_s": 100}]},
        rules=[{"match": {"stream": True}, "fault": "stream_error_event"}],
    )
    first = eng.decide(facts(0, stream=True), 0.0)
    assert first.stream_fault is not None and first.reason["capacity"]["capacity"] == 1
    second = eng.decide(facts(1, stream=True), 0.0)
    assert second.stream_fault is None and second.error is not None and second.error.status == 529


def simulate(
    rate: float, *, retries: int, timeout: float | None, seconds: float = 80.0
) -> dict[int, list[int]]:
    """Open-loop Poisson clients against the capacity-overload built-in, on the pure engine.

    Each client retries a failure (a 529, or its own timeout) after the SDK's backoff; a timed-out
    request is abandoned but its work goes on (and is completed with client_gone=True). Returns
    per 10 s: [attempts, successes].
    """
    import heapq
    import random

    rnd = random.Random(7)
    eng = build_engine("capacity-overload")
    eng.restart(0.0)
    events: list[tuple[float, int, Any]] = []
    t, n = 0.0, 0
    while t < seconds:
        t += rnd.expovariate(rate)
        heapq.heappush(events, (t, n, ("call", n, 0)))
        n += 1
    seq, index = n, 0
    buckets: dict[int, list[int]] = {}
    while events:
        now, _, item = heapq.heappop(events)
        if item[0] == "done":
            _, f, d, gone = item
            eng.complete(f, d, now, status=200, output_tokens=36, client_gone=gone)
            continue
        _, call_id, attempt = item
        f = RequestFacts(
            index=index, method="POST", path="/v1/messages", model="claude-opus-5", stream=False,
            api_key_id="k", body_digest=str(call_id), headers={}, max_tokens=100,
        )  # fmt: skip
        index += 1
        d = eng.decide(f, now)
        row = buckets.setdefault(int(now // 10) * 10, [0, 0])
        row[0] += 1
        failed_at: float | None = now if d.error is not None else None
        if d.error is None:
            took = d.delay_s + (d.ttft_s or 0.0) + 36 / (d.tokens_per_s or 50.0)
            gone = timeout is not None and took > timeout
            seq += 1
            heapq.heappush(events, (now + took, seq, ("done", f, d, gone)))
            if gone:
                failed_at = now + (timeout or 0.0)
            else:
                row[1] += 1
        if failed_at is not None and attempt < retries:
            backoff = min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * rnd.random())
            seq += 1
            heapq.heappush(events, (failed_at + backoff, seq, ("call", call_id, attempt + 1)))
    return buckets


def test_capacity_overload_turns_a_ten_second_loss_into_a_retry_storm_that_outlives_it() -> None:
    """The built-in's documented behaviour at ~9 req/s (62% of its saturated capacity): clients with
    the SDK's 2 retries and a 2 s timeout never recover from the 30-40 s capacity loss; clients that
    do not retry recover as soon as capacity returns."""
    storm = simulate(9, retries=2, timeout=2.0)
    calm = simulate(9, retries=0, timeout=2.0)
    before = sum(storm[k][1] for k in (0, 10, 20)) / 30
    assert before > 8  # healthy before the trigger: every call succeeds
    for k in (50, 60, 70):  # 10-30 s after capacity came back
        assert storm[k][0] / 10 >= 1.5 * 14.5  # attempts well above the saturated capacity (~14.5 req/s)
        assert storm[k][1] == 0  # ... and no goodput at all: every admitted call times out
        assert calm[k][1] == calm[k][0]  # without retries every call succeeds again


changes_st = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=20, allow_nan=False),
        st.floats(min_value=0.1, max_value=10, allow_nan=False),
        st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.5]),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=6), changes=changes_st, reqs=arrivals)
def test_under_a_capacity_schedule_no_admission_exceeds_the_capacity_in_force_at_its_start(
    capacity: int, changes: list[tuple[float, float, float]], reqs: list[tuple[float, float, float | None]]
) -> None:
    fn = CapacityFn(capacity, tuple((a, a + d, f, None) for a, d, f in changes), 0.0)
    pool = PoolState()
    admitted: list[Reservation] = []
    now = 0.0
    for gap, service, _ in reqs:
        now += gap
        adm = pool.admit(now, service, fn(now), fn, queue_size=10, max_wait_s=30.0)
        if adm.admitted:
            assert adm.reservation is not None
            start = adm.reservation.start
            running = sum(1 for r in [*admitted, adm.reservation] if r.start <= start < r.end)
            assert running <= fn(start), (start, running, fn(start))
            admitted.append(adm.reservation)


# ---------------------------------------------------------------- rejection cost (shed_cost_s)
@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=6),
    queue=st.integers(min_value=0, max_value=6),
    max_wait=st.floats(min_value=0, max_value=5, allow_nan=False),
    cost=st.floats(min_value=0.001, max_value=2, allow_nan=False),
    backlog=st.floats(min_value=0, max_value=8, allow_nan=False),
    reqs=arrivals,
)
def test_rejection_work_is_charged_exactly_and_never_over_admits(
    capacity: int,
    queue: int,
    max_wait: float,
    cost: float,
    backlog: float,
    reqs: list[tuple[float, float, float | None]],
) -> None:
    pool = PoolState()
    fn = CapacityFn(capacity, (), 0.0)
    held: list[Reservation] = []  # admitted requests and rejection work, as placed
    work: list[Reservation] = []
    completions: list[tuple[float, Reservation]] = []
    sheds = 0
    now = 0.0
    for gap, service, done_after in reqs:
        now += gap
        for at, res in [c for c in completions if c[0] <= now]:
            pool.release(res, at)
        completions = [c for c in completions if c[0] > now]
        next_free = sorted(r.end for r in held if r.end > now)
        busy_until = next_free[-capacity] if len(next_free) >= capacity else now
        adm = pool.admit(
            now, service, fn(now), fn, queue_size=queue, max_wait_s=max_wait, shed_cost_s=cost,
            shed_backlog_s=backlog,
        )  # fmt: skip
        if adm.admitted:
            assert adm.reservation is not None and adm.shed_work is None
            assert adm.wait_s == 0 or adm.queued < queue  # rejection work never fills the request queue
            held.append(adm.reservation)
            if done_after is not None:
                completions.append((adm.reservation.start + done_after, adm.reservation))
            continue
        sheds += 1
        assert adm.wait_s == 0.0  # the client is answered at once
        if adm.shed_work is None:
            assert busy_until - now > backlog  # only an overflowing backlog makes a rejection free
            continue
        w = adm.shed_work
        assert w.start == max(now, busy_until) and w.start - now <= backlog
        assert w.end - w.start == pytest.approx(cost, rel=1e-12, abs=1e-12)
        work.append(w)
        held.append(w)
    assert overlap_max(held) <= capacity  # rejection work counts against the same slots
    assert pool.sheds_charged == len(work) <= sheds
    assert pool.shed_work_s == pytest.approx(cost * len(work), rel=1e-9)
    assert math.fsum(w.end - w.start for w in work) == pytest.approx(cost * len(work), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    reqs=arrivals, capacity=st.integers(min_value=1, max_value=4), queue=st.integers(min_value=0, max_value=4)
)
def test_without_a_shed_cost_the_pool_decides_exactly_as_before(
    reqs: list[tuple[float, float, float | None]], capacity: int, queue: int
) -> None:
    fn = CapacityFn(capacity, (), 0.0)
    a, b = PoolState(), PoolState()
    now = 0.0
    for gap, service, _ in reqs:
        now += gap
        x = a.admit(now, service, fn(now), fn, queue_size=queue, max_wait_s=1.0)
        y = b.admit(now, service, fn(now), fn, queue_size=queue, max_wait_s=1.0, shed_cost_s=0.0)
        assert (x.admitted, x.wait_s, x.queued, x.in_flight) == (y.admitted, y.wait_s, y.queued, y.in_flight)
        assert y.shed_work is None
    assert b.sheds_charged == 0 and b.shed_work_s == 0.0 and not b.work_starts


def test_a_shed_request_costs_slot_time_that_delays_the_next_admission() -> None:
    # one slot, service = 1.0 s; a request shed at 0.1 s costs 0.25 s of the slot after the first
    pool = {"concurrency": 1, "queue_size": 1, "max_wait_s": 0.5, "ttft_s": 0.5, "stream_tokens_per_s": 100,
            "slowdown": 0}  # fmt: skip
    free = capacity_engine({"pools": [pool]})
    costly = capacity_engine({"pools": [{**pool, "shed_cost_s": 0.25}]})
    for eng in (free, costly):
        assert eng.decide(facts(0), 0.0).error is None
        shed = eng.decide(facts(1), 0.1)  # would wait 0.9 s > max_wait
        assert shed.error is not None and shed.error.status == 529 and shed.delay_s == 0
    assert "shed_cost_s" not in free.decide(facts(9), 0.2).reason["capacity"]
    assert costly.state is not None
    assert costly.state.pools[0].sheds_charged == 1 and costly.state.pools[0].shed_work_s == 0.25
    assert free.decide(facts(2), 1.0).delay_s == 0.0
    after = costly.decide(facts(2), 1.0)
    assert after.error is None and after.delay_s == pytest.approx(0.25)  # the rejection's slot time


def test_the_journal_says_which_sheds_were_charged() -> None:
    eng = capacity_engine({"pools": [{"concurrency": 1, "ttft_s": 1, "stream_tokens_per_s": 100,
                                      "slowdown": 0, "shed_cost_s": 0.01}]})  # fmt: skip
    eng.decide(facts(0), 0.0)
    shed = eng.decide(facts(1), 0.0)
    assert shed.reason["source"] == "capacity" and shed.reason["capacity"]["shed_cost_s"] == 0.01


def test_under_a_storm_of_shed_attempts_goodput_falls_by_the_rejection_work() -> None:
    # 2 slots of 0.5 s (4 calls/s) offered 40 attempts/s for 20 s: sheds cost 20 ms each
    spec = {"concurrency": 2, "ttft_s": 0.5, "stream_tokens_per_s": 1000, "slowdown": 0}
    served = {}
    for cost in (0.0, 0.02):
        eng = capacity_engine({"pools": [{**spec, "shed_cost_s": cost}]})
        decisions = [eng.decide(facts(i, max_tokens=1), i * 0.025) for i in range(800)]
        served[cost] = sum(d.error is None for d in decisions)
        assert eng.state is not None
        p = eng.state.pools[0]
        # slot time is conserved: generations + rejections fit the 2 slots over the run (+ the tail)
        assert served[cost] * 0.501 + p.shed_work_s <= 2 * (20 + 0.501 + 4 * cost) + 1e-9
        assert p.sheds_charged == (800 - served[cost] if cost else 0)  # the backlog never overflows here
    assert served[0.0] == pytest.approx(2 * 20 / 0.501, abs=2)
    # each 0.501 s generation now also pays for ~ (40 - 4) / 4 ≈ 9 rejections of 20 ms
    assert served[0.02] < 0.75 * served[0.0]


def test_a_negative_shed_cost_is_refused_with_its_field() -> None:
    with pytest.raises(ScenarioError, match=r"capacity\.pools\[0\]\.shed_cost_s.*greater than or equal to 0"):
        load_text(
            "name: c\ndescription: d\ncapacity:\n  pools:\n    - concurrency: 1\n      shed_cost_s: -1\n"
        )
    cap = load_text("name: c\ndescription: d\ncapacity:\n  pools:\n    - concurrency: 1\n").capacity
    assert cap is not None and cap.pools[0].shed_cost_s == 0 and cap.pools[0].shed_backlog_s == 10


def test_when_rejections_alone_exceed_capacity_the_pool_falls_at_most_the_backlog_behind() -> None:
    # one slot; 10 attempts/s each costing 0.5 s of it when shed: rejection work alone is 5x the slot
    eng = capacity_engine({"pools": [{"concurrency": 1, "ttft_s": 1.0, "stream_tokens_per_s": 1000,
                                      "slowdown": 0, "queue_size": 100, "max_wait_s": 0.2, "shed_cost_s": 0.5,
                                      "shed_backlog_s": 3.0}]})  # fmt: skip
    decisions = [eng.decide(facts(i, max_tokens=1), i * 0.1) for i in range(300)]
    assert eng.state is not None
    ends = [r.end for r in eng.state.pools[0].reservations]
    assert max(ends) <= 29.9 + 3.0 + 0.5 + 1e-9  # never more than the backlog (+ one rejection) behind
    assert sum(d.error is None for d in decisions) == 1  # collapsed: only the first call is served
    assert 0 < eng.state.pools[0].sheds_charged < 299
