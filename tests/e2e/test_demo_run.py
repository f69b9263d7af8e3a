"""`busysignal demo`: a quick run through the CLI, and the full demo's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.cli import main
from mockserver.cli.demo import DEMO_CLIENTS, run_demo
from mockserver.conformance import Verdict
from mockserver.conformance.report import attempts_timeline
from mockserver.conformance.workload import Workload
from mockserver.faults import ScenarioError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_attempts_timeline_bins_answered_and_failed_attempts() -> None:
    from mockserver.conformance import parse_entries

    def row(seq: int, start: float, status: int) -> dict[str, object]:
        return {
            "seq": seq, "request_id": "r", "method": "POST", "path": "/v1/messages", "wall_start": start,
            "start": start, "end": start + 0.01, "model": "m", "api_key_id": "k", "retry_count": 0,
            "body_digest": "b", "prompt_digest": "p", "logical_id": "l", "stream": False, "status": status,
            "error_type": None, "fault": None if status == 200 else "http_error", "reason": {},
            "bytes_sent": 1, "events_sent": 0, "client_gone": False, "headers": {},
        }  # fmt: skip

    entries = parse_entries([row(0, 10.0, 529), row(1, 10.4, 529), row(2, 10.6, 200), row(3, 11.7, 200)])
    t = attempts_timeline(entries, t0=10.0, bin_s=0.5, end_s=2.0)
    assert t.edges == [0.0, 0.5, 1.0, 1.5]
    assert t.failed == [2, 0, 0, 0]
    assert t.answered == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="bin_s"):
        attempts_timeline(entries, t0=0, bin_s=0, end_s=1)


def test_quick_demo_prints_scorecard_and_outcomes_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "report"
    code = main(
        ["demo", "--quick", "--clients", "sdk-defaults,fallback-loop", "--calls", "6", "--out", str(out_dir)]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "Conformance scorecard" in captured.out
    assert (
        captured.out.count("check ") >= 1
        and "sdk-defaults" in captured.out
        and "fallback-loop" in captured.out
    )
    assert "client" in captured.out and "p95 latency" in captured.out and "answered by" in captured.out
    assert f"Report written to {out_dir}/" in captured.out
    assert "conformance probes for 2 clients" in captured.err and "workload: 6 calls" in captured.err
    report = (out_dir / "report.md").read_text()
    assert "| sdk-defaults | " in report and "![attempts over time per client](attempts.png)" in report
    assert (out_dir / "attempts.png").read_bytes().startswith(PNG_MAGIC)
    assert (out_dir / "journal-sdk-defaults.jsonl").read_text().count("\n") >= 6


def test_demo_refuses_an_unknown_client_or_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--clients", "nope", "--out", str(tmp_path / "a")]) == 2
    assert "unknown demo client(s) ['nope']" in capsys.readouterr().err
    with pytest.raises(ScenarioError, match="no-such-scenario"):
        run_demo(scenario="no-such-scenario", out_dir=tmp_path / "b", clients=["sdk-defaults"])


@pytest.mark.slow
def test_the_full_demo_report_is_complete(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(out_dir=tmp_path, progress=lines.append)
    report = result.report.read_text()
    for client in DEMO_CLIENTS:
        assert f"| {client}" in report
    assert len(result.verifications) == len(DEMO_CLIENTS)
    assert all(len(v.results) == 8 for v in result.verifications)
    assert report.count("| PASS") + report.count("| FAIL") + report.count("| n/a") >= 8 * 5
    failed = {
        v.client: {r.number: r.measured for r in v.results if not r.passed} for v in result.verifications
    }
    assert failed["bundled-adaptive"] == {}
    # The recipe's faults that show in attempt counts, at any machine speed: 15 attempts per
    # call under an outage (cap 10), retried 4xx refusals, 5 outer x 3 SDK attempts stacked.
    # Its jitter is not pinned: its waits are fixed, and only a quiet machine keeps scheduling
    # noise from passing for spread. It runs at its real timing, so it backs off (0.5 s, 1 s,
    # then tenacity's 4 s), as under `verify`: the demo's verdict is verify's.
    assert {4, 5, 7} <= failed["article-recipe"].keys(), failed
    recipe = next(v for v in result.verifications if v.client == "article-recipe")
    assert {r.number: r.verdict for r in recipe.results}[1] is Verdict.PASS
    outcomes = {o.client: o for o in result.outcomes}
    assert outcomes["bundled-adaptive"].success_rate == 1.0
    assert outcomes["sdk-defaults"].success_rate < outcomes["bundled-adaptive"].success_rate
    assert result.chart.read_bytes().startswith(PNG_MAGIC)
    assert any("workload" in line for line in lines)


def test_workload_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="calls must be >= 1"):
        Workload(calls=0)
    with pytest.raises(ValueError, match="rate_per_s"):
        Workload(rate_per_s=0)
