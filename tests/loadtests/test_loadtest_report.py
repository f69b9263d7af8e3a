"""The report's arithmetic on synthetic journals (no server, no Locust)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadtests.report import (
    Attempt,
    JournalError,
    LocustRow,
    Window,
    amplification,
    attempts_from_journal,
    demand_amplification,
    goodput,
    group_calls,
    histogram_percentile,
    offered_load,
    rate_529,
    read_locust_json,
    recovery_time,
    series,
    success_rate,
    summarize,
)

ORIGIN = 1_700_000_000.0


class Journal:
    """Builds journal entries in the fixed format, server monotonic clock = wall - ORIGIN + 500."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(
        self,
        call: str,
        t: float,
        status: int | None = 200,
        *,
        duration: float | None = 0.1,
        fault: str | None = None,
        client_gone: bool = False,
        path: str = "/v1/messages",
        prompt: bool = True,
    ) -> None:
        start = 500.0 + t
        self.entries.append(
            {
                "seq": len(self.entries),
                "request_id": f"req_{len(self.entries)}",
                "method": "POST",
                "path": path,
                "wall_start": ORIGIN + t,
                "start": start,
                "end": None if duration is None else start + duration,
                "model": "claude-test",
                "api_key_id": "k1",
                "retry_count": None,
                "body_digest": f"b-{call}",
                "prompt_digest": f"p-{call}" if prompt else "",
                "logical_id": f"l-{call}",
                "stream": False,
                "status": status,
                "error_type": "overloaded_error" if status == 529 else None,
                "fault": fault if fault is not None else ("http_error" if status and status >= 400 else None),
                "reason": {},
                "bytes_sent": 10,
                "events_sent": 0,
                "client_gone": client_gone,
                "headers": {},
            }
        )

    def attempts(self) -> list[Attempt]:
        return attempts_from_journal(self.entries, origin=ORIGIN)


def test_journal_entries_become_attempts_timed_from_the_origin_and_control_plane_is_dropped() -> None:
    j = Journal()
    j.add("a", 1.5, duration=0.25)
    j.add("x", 2.0, path="/_busysignal/stats")
    j.add("b", 3.0, duration=None)
    attempts = j.attempts()
    assert [a.seq for a in attempts] == [0, 2]
    assert attempts[0].t == pytest.approx(1.5)
    assert attempts[0].end == pytest.approx(1.75)
    assert attempts[1].end is None


def test_a_malformed_entry_is_refused_naming_the_entry_and_the_field() -> None:
    j = Journal()
    j.add("a", 1.0)
    del j.entries[0]["prompt_digest"]
    with pytest.raises(JournalError, match=r"seq=0: missing field 'prompt_digest'"):
        j.attempts()
    j.entries[0]["prompt_digest"] = 7
    with pytest.raises(JournalError, match=r"'prompt_digest' should be str"):
        j.attempts()


def test_success_needs_a_200_without_a_body_fault_and_a_client_that_stayed() -> None:
    j = Journal()
    j.add("ok", 0)
    j.add("slow", 0, fault="delay")
    j.add("cut", 0, fault="truncated_body")
    j.add("gone", 0, client_gone=True)
    j.add("shed", 0, 529)
    assert [a.ok for a in j.attempts()] == [True, True, False, False, False]


def test_retries_of_one_call_group_together_across_model_fallback() -> None:
    j = Journal()
    j.add("a", 0.0, 529)
    j.add("b", 0.1, 200)
    j.add("a", 0.6, 529)
    j.entries[-1]["logical_id"] = "l-a-fallback-model"  # other model: other body, same prompt digest
    j.add("a", 1.6, 200)
    calls = group_calls(j.attempts())
    assert [c.key for c in calls] == ["k1:p:p-a", "k1:p:p-b"]
    assert len(calls[0].attempts) == 3
    assert calls[0].success_t == pytest.approx(1.7)


def test_without_a_prompt_digest_calls_group_by_logical_id() -> None:
    j = Journal()
    j.add("a", 0.0, 529, prompt=False)
    j.add("a", 0.5, 200, prompt=False)
    j.add("b", 0.7, 200, prompt=False)
    assert [len(c.attempts) for c in group_calls(j.attempts())] == [2, 1]


def test_amplification_is_attempts_per_logical_call() -> None:
    j = Journal()
    for i in range(4):  # SDK defaults under a full outage: 3 attempts each
        for k in range(3):
            j.add(f"c{i}", i + k * 0.5, 529)
    j.add("d", 5.0, 200)
    attempts = j.attempts()
    assert amplification(attempts) == pytest.approx(13 / 5)
    assert amplification(attempts, Window(0, 4.5)) == pytest.approx(12 / 4)
    assert amplification(attempts, Window(10, 20)) is None


def test_amplification_in_a_window_counts_retries_of_earlier_calls_arriving_in_it() -> None:
    # In steady state attempts/s over calls/s is the right ratio, whichever call a retry belongs to.
    j = Journal()
    j.add("early", 0.9, 529)
    j.add("early", 1.2, 529)
    j.add("new", 1.5, 529)
    assert amplification(j.attempts(), Window(1, 2)) == pytest.approx(2.0)


def test_rate_529_counts_all_attempts_including_connection_faults() -> None:
    j = Journal()
    j.add("a", 0, 529)
    j.add("b", 0, 200)
    j.add("c", 0, None, fault="reset")
    j.add("d", 0, 429)
    assert rate_529(j.attempts()) == pytest.approx(0.25)
    assert rate_529([]) is None


def test_goodput_offered_load_and_success_rate_over_a_window() -> None:
    j = Journal()
    for i in range(10):  # one call every 0.5 s on [0, 5), odd ones shed for good
        j.add(f"c{i}", i * 0.5, 200 if i % 2 == 0 else 529)
    calls = group_calls(j.attempts())
    w = Window(0, 5)
    assert offered_load(calls, w) == pytest.approx(2.0)
    assert goodput(calls, w) == pytest.approx(1.0)
    assert success_rate(calls, w) == pytest.approx(0.5)
    assert success_rate(calls, Window(20, 30)) is None


def test_goodput_counts_a_call_when_it_finally_succeeds_not_when_it_arrived() -> None:
    j = Journal()
    j.add("late", 0.5, 529)
    j.add("late", 4.5, 200, duration=0.2)
    calls = group_calls(j.attempts())
    assert goodput(calls, Window(0, 4)) == 0
    assert goodput(calls, Window(4, 5)) == pytest.approx(1.0)


def test_series_bins_attempts_goodput_529_share_and_mean_in_flight() -> None:
    j = Journal()
    j.add("a", 0.2, 529, duration=0.5)  # open 0.2..0.7
    j.add("a", 0.8, 200, duration=0.6)  # open 0.8..1.4, succeeds in bin 1
    j.add("b", 1.5, None, duration=None)  # never finished: open until the horizon
    s = series(j.attempts(), duration=3, bin_s=1.0, horizon=2.5)
    assert s.t == [0.0, 1.0, 2.0]
    assert s.attempts == [2.0, 1.0, 0.0]
    assert s.rate_529 == [0.5, 0.0, None]
    assert s.goodput == [0.0, 1.0, 0.0]
    assert s.offered == [1.0, 1.0, 0.0]
    assert s.in_flight == pytest.approx([0.7, 0.4 + 0.5, 0.5])


def _goodput_series(values: list[float]) -> Any:
    j = Journal()
    n = 0
    for second, count in enumerate(values):
        for k in range(int(count)):
            j.add(f"c{n}", second + k / (count + 1), 200, duration=0.0)
            n += 1
    return series(j.attempts(), duration=len(values))


def test_recovery_time_is_from_the_trigger_end_to_the_first_hold_window_back_near_baseline() -> None:
    #      baseline 10/s       trigger [4, 8)   storm    back
    s = _goodput_series([10, 10, 10, 10, 2, 2, 2, 2, 3, 3, 9, 10, 10, 10])
    assert recovery_time(s, trigger=Window(4, 8), threshold=0.8, hold=3) == pytest.approx(2.0)


def test_recovery_is_immediate_for_a_client_whose_goodput_returns_with_the_capacity() -> None:
    s = _goodput_series([10, 10, 10, 10, 5, 5, 5, 5, 10, 10, 10, 10])
    assert recovery_time(s, trigger=Window(4, 8)) == 0.0


def test_a_retry_storm_that_outlasts_the_run_never_recovers() -> None:
    s = _goodput_series([10, 10, 10, 10, 5, 5, 5, 5, 3, 3, 3, 3, 3, 3])
    assert recovery_time(s, trigger=Window(4, 8)) is None


def test_recovery_needs_a_whole_hold_window_before_the_run_ends() -> None:
    s = _goodput_series([10, 10, 10, 10, 5, 5, 5, 5, 3, 3, 10, 10])
    assert recovery_time(s, trigger=Window(4, 8), hold=3) is None
    assert recovery_time(s, trigger=Window(4, 8), hold=2) == pytest.approx(2.0)


def test_warmup_bins_are_left_out_of_the_baseline() -> None:
    s = _goodput_series([0, 0, 10, 10, 5, 5, 9, 9, 9])
    assert recovery_time(s, trigger=Window(4, 6), warmup=2) == 0.0
    assert recovery_time(s, trigger=Window(4, 6), warmup=0, threshold=1.0) == 0.0  # baseline 5


def test_recovery_without_a_baseline_is_an_error_not_a_number() -> None:
    s = _goodput_series([0, 0, 5, 5, 5])
    with pytest.raises(ValueError, match="zero goodput before the trigger"):
        recovery_time(s, trigger=Window(2, 3))
    with pytest.raises(ValueError, match="no whole bin"):
        recovery_time(s, trigger=Window(0.5, 3))


def test_summary_combines_journal_arithmetic_with_locust_percentiles_and_counts() -> None:
    j = Journal()
    for i in range(20):  # 2 calls/s over [0, 10); capacity halved on [4, 6): those calls shed twice
        t = i * 0.5
        if 4 <= t < 6:
            j.add(f"c{i}", t, 529)
            j.add(f"c{i}", t + 0.2, 529)
        else:
            j.add(f"c{i}", t, 200)
    rows = [
        LocustRow("CALL", "x", 20, 4, 100, 200, 300, 120),
        LocustRow("HTTP", "attempt POST /v1/messages", 24, 8, 10, 20, 30, 12),
        LocustRow("DROP", "harness in-flight cap", 1, 1, None, None, None, None),
    ]
    out = summarize(
        "x",
        j.attempts(),
        rows,
        window=Window(0, 10),
        duration=10,
        load_duration=10,
        trigger=Window(4, 6),
        overload_window=Window(4, 6),
        hold=2,
    )
    assert out.calls == 20 and out.attempts == 24
    assert out.locust_attempts == 24 and out.locust_calls == 20 and out.harness_dropped == 1
    assert out.offered == pytest.approx(2.0)  # Locust's 20 calls over 10 s
    assert out.goodput == pytest.approx(1.6)
    assert out.success_rate == pytest.approx(0.8)  # Locust: 4 of 20 calls failed
    assert out.amplification == pytest.approx(1.2)
    assert out.window_amplification == pytest.approx(2.0)
    assert out.rate_529 == pytest.approx(8 / 24)
    assert (out.p50_ms, out.p95_ms, out.p99_ms) == (100, 200, 300)
    assert out.recovered is True and out.recovery_s == 0.0
    assert out.goodput_from_trigger == pytest.approx(8 / 6)  # [4, 10): the 8 calls from t=6 succeed


def test_without_locust_rows_offered_load_and_success_rate_are_the_servers() -> None:
    j = Journal()
    for i in range(10):
        j.add(f"c{i}", i * 0.5, 200 if i < 8 else 529)
    out = summarize("x", j.attempts(), [], window=Window(0, 5), duration=5, load_duration=5)
    assert out.offered == pytest.approx(2.0)
    assert out.success_rate == pytest.approx(0.8)
    assert out.locust_calls is None and out.locust_attempts is None


def test_the_callers_view_counts_calls_that_never_reached_the_server() -> None:
    j = Journal()
    for i in range(5):
        j.add(f"c{i}", i, 200)
    rows = [LocustRow("CALL", "bundled", 20, 15, 1, 2, 3, 1)]  # 15 refused by an open breaker
    out = summarize("bundled", j.attempts(), rows, window=Window(0, 10), duration=10, load_duration=10)
    assert out.offered == pytest.approx(2.0)
    assert out.success_rate == pytest.approx(0.25)
    assert out.goodput == pytest.approx(0.5)
    assert (out.calls, out.locust_calls) == (5, 20)


def test_histogram_percentiles_use_nearest_rank_over_bucket_counts() -> None:
    counts = {10.0: 50, 20.0: 45, 900.0: 4, 5000.0: 1}
    assert histogram_percentile(counts, 50) == 10
    assert histogram_percentile(counts, 95) == 20
    assert histogram_percentile(counts, 99) == 900
    assert histogram_percentile(counts, 100) == 5000
    assert histogram_percentile({}, 50) is None


def test_locust_json_statistics_are_read_with_percentiles_from_the_histogram() -> None:
    text = json.dumps(
        [
            {
                "name": "sdk-defaults",
                "method": "CALL",
                "num_requests": 4,
                "num_failures": 1,
                "total_response_time": 400,
                "response_times": {"50": 2, "100": 1, "250": 1},
            }
        ]
    )
    (row,) = read_locust_json(text)
    assert (row.type, row.name, row.count, row.failures) == ("CALL", "sdk-defaults", 4, 1)
    assert (row.p50, row.p95, row.p99, row.mean) == (50, 250, 250, 100)


def test_bad_locust_json_is_refused_with_the_entry() -> None:
    with pytest.raises(ValueError, match="not Locust JSON"):
        read_locust_json("{")
    with pytest.raises(ValueError, match="entry 0: missing or bad field"):
        read_locust_json('[{"name": "x"}]')


def test_demand_amplification_divides_by_the_calls_the_caller_started_in_the_window() -> None:
    j = Journal()
    for i in range(4):  # 4 calls started in [0, 4); a breaker let only 2 reach the server, once each
        if i % 2 == 0:
            j.add(f"c{i}", i + 0.1, 529)
    arrivals = [0.0, 1.0, 2.0, 3.0, 7.0]
    assert demand_amplification(j.attempts(), arrivals, Window(0, 4)) == pytest.approx(0.5)
    assert amplification(j.attempts(), Window(0, 4)) == pytest.approx(1.0)  # the server's view
    assert demand_amplification(j.attempts(), arrivals, Window(4, 6)) is None
