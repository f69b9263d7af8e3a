"""A short headless run through the runner, in a subprocess: the mock and Locust for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.config import LoadConfig
from loadtests.experiment import LAG_WARN_MS
from loadtests.report import read_locust_json

SCENARIO = """\
name: loadtest-smoke
description: a third of the Messages calls are answered 529, so the SDK retries some of them
rules:
  - id: some-overload
    match: {path: /v1/messages}
    trigger: {probability: 0.33}
    fault:
      error: {status: 529, retry_after_ms: 20}
"""


def run_loadtest(tmp_path: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``busysignal loadtest`` on the smoke scenario for 4 s (+ 1 s of drain), in a subprocess.

    Locust gets 20 s to start (a saturated machine needs over 10 s; arrivals it would start late
    are dropped). ``timeout`` bounds a hung run only."""
    scenario = tmp_path / "smoke.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mockserver.cli", "loadtest", "--scenario", str(scenario), *args]
    cmd += ["--duration", "4", "--drain", "1", "--timeout", "30", "--startup", "20", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out


@pytest.mark.slow
def test_a_short_run_writes_a_complete_report_and_locust_counts_every_attempt_the_journal_saw(
    tmp_path: Path,
) -> None:
    done, out = run_loadtest(tmp_path, "--strategy", "sdk-defaults", "--rate", "15", timeout=300)
    assert "load started" in done.stderr  # progress is shown

    report = (out / "report.md").read_text()
    assert "| sdk-defaults |" in report
    for name in ("goodput", "rate_529", "in_flight", "attempts"):
        png = out / f"run-{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"(run-{name}.png)" in report

    run_dir = out / "run" / "sdk-defaults"
    entries = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    messages = [e for e in entries if e["path"] == "/v1/messages"]
    rows = {(r.type, r.name): r for r in read_locust_json((run_dir / "locust.json").read_text())}
    attempts = rows[("HTTP", "attempt POST /v1/messages")]
    calls = rows[("CALL", "sdk-defaults")]

    schedule = LoadConfig("sdk-defaults", "open", "steady", 15.0, 4.0, 0.0, 1).schedule()
    late = rows.get(("DROP", "harness late start"))
    assert calls.count + (late.count if late else 0) == len(schedule) > 0  # every arrival was offered
    lag = rows[("LAG", "arrival behind schedule")]
    assert lag.count == calls.count  # the harness timed each arrival
    # how late the harness ran is this machine's speed; the report must say what it measured
    # (tests/loadtests/test_loadtest_harness_health.py judges the warnings themselves)
    assert lag.p99 is not None
    assert (f"arrivals ran up to {lag.p99:.0f} ms behind schedule" in report) == (lag.p99 > LAG_WARN_MS)
    dropped = sum(r.count for (kind, _), r in rows.items() if kind == "DROP")
    assert ("the harness dropped" in report) == (dropped > 0)
    assert "Locust counted" not in report and "journal entries lost" not in report
    assert attempts.count == len(messages)
    assert attempts.count > calls.count  # the 529s were retried, and each retry was counted
    assert attempts.failures == sum(1 for e in messages if e["status"] == 529)
    assert all(e["end"] is not None for e in messages)
    assert len({e["prompt_digest"] for e in messages}) == calls.count  # every call reached the server
    assert (run_dir / "stats.json").is_file() and (run_dir / "metrics.txt").is_file()
    assert (run_dir / "locust_stats_history.csv").is_file()
    meta = json.loads((run_dir / "run.json").read_text())
    assert min(e["wall_start"] for e in messages) >= meta["t0"] - 0.05  # no traffic before the origin


@pytest.mark.slow
def test_a_closed_loop_run_in_locusts_distributed_mode_counts_every_attempt_too(tmp_path: Path) -> None:
    # --users (closed loop) with --workers (a Locust master and its workers): the attempts the
    # workers reported, merged by the master, are the attempts the journal saw.
    _, out = run_loadtest(
        tmp_path, "--strategy", "bundled-adaptive", "--users", "4", "--workers", "1", timeout=300
    )
    assert "closed loop" in (out / "report.md").read_text()

    run_dir = out / "run" / "bundled-adaptive"
    entries = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    messages = [e for e in entries if e["path"] == "/v1/messages"]
    rows = {(r.type, r.name): r for r in read_locust_json((run_dir / "locust.json").read_text())}
    attempts = rows[("HTTP", "attempt POST /v1/messages")]
    calls = rows[("CALL", "bundled-adaptive")]
    assert calls.count > 0 and attempts.count == len(messages) >= calls.count
    assert attempts.failures == sum(1 for e in messages if e["status"] == 529)
