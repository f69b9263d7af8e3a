"""The report's "Check the harness" line, judged from given arrival times and counts: what the
code decides about a run, not how fast this machine ran one (the end-to-end run in
tests/loadtests/test_loadtest_runner.py only checks that its report agrees with its own measurements)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import pytest

from loadtests.config import LoadConfig
from loadtests.experiment import LAG_WARN_MS, harness_problems
from loadtests.report import StrategySummary, Window, read_locust_json, summarize

CFG = LoadConfig("sdk-defaults", "open", "steady", 50.0, 4.0, 1_000_000.0, 7)


def locust_json(lags_ms: Sequence[float], *, calls: int, attempts: int, drops: int = 0) -> str:
    """Locust's final statistics for a run whose arrivals started ``lags_ms`` behind schedule."""

    def entry(
        method: str, name: str, values: Sequence[float], count: int, failures: int = 0
    ) -> dict[str, object]:
        histogram = Counter(str(round(v)) for v in values) if values else Counter({"0": count})
        return {
            "method": method,
            "name": name,
            "num_requests": count,
            "num_failures": failures,
            "response_times": dict(histogram),
            "total_response_time": sum(values),
        }

    rows = [
        entry("LAG", "arrival behind schedule", lags_ms, len(lags_ms)),
        entry("CALL", "sdk-defaults", [], calls),
        entry("HTTP", "attempt POST /v1/messages", [], attempts),
    ]
    if drops:
        rows.append(entry("DROP", "harness late start", [], drops, drops))
    return json.dumps(rows)


def row_for(started: Sequence[float], *, attempts: int = 0, drops: int = 0) -> StrategySummary:
    """The report's row of a run whose arrivals (CFG's schedule) started at epoch ``started``;
    the journal holds no attempts, and Locust counted ``attempts``."""
    schedule = CFG.schedule()
    lags = [CFG.lag_ms(t, s) for t, s in zip(schedule, started, strict=True)]
    n = len(lags)
    rows = read_locust_json(locust_json(lags, calls=n, attempts=attempts, drops=drops))
    return summarize("sdk-defaults", [], rows, window=Window(0, 4), duration=5, load_duration=4)


def on_time(late_s: float = 0.0, every: int = 0) -> list[float]:
    """Start times 2 ms after each arrival's due time; with ``every``, each ``every``-th is
    ``late_s`` late instead."""
    schedule = CFG.schedule()
    return [CFG.t0 + t + (late_s if every and i % every == 0 else 0.002) for i, t in enumerate(schedule)]


def test_the_lag_of_an_arrival_is_how_long_after_its_due_time_it_started_never_negative() -> None:
    assert CFG.lag_ms(1.5, CFG.t0 + 1.94) == pytest.approx(440)
    assert CFG.lag_ms(1.5, CFG.t0 + 1.5) == 0
    assert CFG.lag_ms(1.5, CFG.t0 + 1.2) == 0  # early (clock granularity) is not negative lag


def test_a_run_on_schedule_with_consistent_counts_has_no_harness_problem() -> None:
    assert len(CFG.schedule()) > 100
    row = row_for(on_time())
    assert row.arrival_lag_p99_ms == 2
    assert harness_problems(row, journal_gaps=0) == []


def test_arrivals_440_ms_behind_schedule_at_the_p99_are_reported() -> None:
    row = row_for(on_time(late_s=0.44, every=20))  # 5 % of the arrivals
    assert harness_problems(row, journal_gaps=0) == [
        "sdk-defaults: arrivals ran up to 440 ms behind schedule (p99)"
    ]


def test_one_late_arrival_below_the_p99_or_a_lag_at_the_limit_is_not_a_problem() -> None:
    schedule = CFG.schedule()
    one_late = on_time()
    one_late[len(schedule) // 2] += 0.44
    assert harness_problems(row_for(one_late), journal_gaps=0) == []
    at_limit = on_time(late_s=LAG_WARN_MS / 1000, every=20)
    row = row_for(at_limit)
    assert row.arrival_lag_p99_ms == LAG_WARN_MS
    assert harness_problems(row, journal_gaps=0) == []
    assert harness_problems(row_for(on_time(late_s=LAG_WARN_MS / 1000 + 0.002, every=20)), journal_gaps=0)


def test_disagreeing_counts_lost_entries_and_dropped_arrivals_are_each_reported() -> None:
    row = row_for(on_time(), attempts=3, drops=2)
    assert row.attempts == 0 and row.locust_attempts == 3
    assert harness_problems(row, journal_gaps=5) == [
        "sdk-defaults: Locust counted 3 attempts, the journal 0",
        "sdk-defaults: 5 journal entries lost (ring buffer)",
        "sdk-defaults: the harness dropped 2 arrivals (cap or late start)",
    ]


def test_a_closed_loop_has_no_schedule_to_fall_behind() -> None:
    rows = [r for r in read_locust_json(locust_json([], calls=4, attempts=0)) if r.type != "LAG"]
    row = summarize("sdk-defaults", [], rows, window=Window(0, 4), duration=5)
    assert row.arrival_lag_p99_ms is None
    assert harness_problems(row, journal_gaps=0) == []
