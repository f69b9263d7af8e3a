"""The server says what it is doing: the scenario's own name, its windows relative to start, the
time since start and what happens next (GET /_busysignal/scenario, the serve banner), reset
replaying the clock, and request log lines with a timestamp and the rule that decided."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
from tests.support import TEST_KEY, FakeClock, ScriptedEngine, user

from mockserver import MockServer, ServerConfig
from mockserver.cli.serve import log_line
from mockserver.faults import build_engine
from mockserver.faults.timeline import Span, span_status, spans_of, summary
from mockserver.journal import Journal, decided_by, kept_header_values
from mockserver.web.scenario_status import scenario_status, status_lines
from scenarios.loader import load_scenario

API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
SPIKE = "spike-new-model, spike-other-models, spike-streams-break"


def status(server: MockServer) -> dict[str, Any]:
    answer = httpx2.get(f"{server.url}/_busysignal/scenario")
    assert answer.status_code == 200
    return dict(answer.json())


def test_scenario_status_follows_the_injected_clock_through_launch_day() -> None:
    clock = FakeClock(500.0)
    with MockServer(ServerConfig(clock=clock), scenario="launch-day") as server:
        clock.advance(3.0)
        s = status(server)
        assert s["name"] == "launch-day" and s["elapsed_s"] == 3.0
        assert "A new model launches" in s["description"]
        assert [(w["label"], w["rules"], w["state"]) for w in s["windows"]] == [
            ("10–40 s", SPIKE.split(", "), "upcoming"),
            ("40–70 s", ["tail"], "upcoming"),
        ]
        assert s["windows"][0]["status"] == "starts in 7.0 s"
        assert s["summary"] == f"now: no window active; next: 10–40 s {SPIKE} starts in 7.0 s"
        clock.advance(40.0)  # 43 s: the spike is over
        s = status(server)
        assert s["elapsed_s"] == 43.0 and s["windows"][0]["status"] == "ended 3.0 s ago"
        assert s["summary"] == (
            f"now: 40–70 s tail (active, ends in 27 s); last ended: 10–40 s {SPIKE} 3.0 s ago; "
            "nothing scheduled"
        )
        clock.advance(30.0)
        assert status(server)["summary"].endswith("last ended: 40–70 s tail 3.0 s ago; nothing scheduled")


def test_reset_restarts_the_scenario_clock_so_the_spike_can_be_replayed() -> None:
    clock = FakeClock(0.0)
    with MockServer(ServerConfig(clock=clock), scenario="launch-day") as server:
        clock.advance(45.0)
        assert status(server)["windows"][0]["state"] == "ended"
        assert httpx2.post(f"{server.url}/_busysignal/reset").json() == {"status": "reset"}
        s = status(server)
        assert s["elapsed_s"] == 0.0 and s["windows"][0]["status"] == "starts in 10 s"
        clock.advance(12.0)
        assert status(server)["windows"][0]["state"] == "active"
        body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": user()}
        httpx2.post(f"{server.url}/v1/messages", json=body, headers=API)
        assert server.journal.entries()[-1].reason["t"] == 12.0  # the engine's clock restarted too


def test_the_name_is_the_files_own_not_the_file_name_nor_custom(tmp_path: Path) -> None:
    path = tmp_path / "whatever-file.yaml"
    path.write_text(
        "name: lunch-rush\ndescription: noon\nrules: [{id: rush, when: {window: {start_s: 5}}, fault: 529}]\n"
    )
    yaml_text = "name: from-text\ndescription: d\nrules: [{id: r, fault: 500}]\n"
    with MockServer(scenario=str(path)) as server:
        assert status(server)["name"] == "lunch-rush"
        assert httpx2.get(f"{server.url}/_busysignal/health").json()["scenario"] == "lunch-rush"
        put = httpx2.put(f"{server.url}/_busysignal/scenario", content=yaml_text.encode())
        assert put.json() == {"status": "ok", "name": "from-text"}
        s = status(server)
        assert s["name"] == "from-text" and s["windows"] == []
        assert s["summary"] == "no timed windows: the scenario is the same at every instant"
    with MockServer(engine=ScriptedEngine()) as server:
        s = status(server)
        assert s["name"] == "custom" and s["elapsed_s"] is None and s["windows"] == []


def test_periodic_and_open_windows_and_capacity_changes_are_on_the_timeline() -> None:
    scenario = load_scenario(
        {
            "name": "mixed",
            "description": "d",
            "rules": [
                {"id": "a", "when": {"schedule": {"period_s": 60, "windows": [{"start_s": 50, "end_s": 55}]}},
                 "fault": 529},
                {"id": "b", "when": {"window": {"start_s": 10}}, "fault": 500},
                {"id": "c", "when": {"day": {"length_s": 240, "hours": [[12, 18]]}}, "fault": 503},
            ],
            "capacity": {"pools": [{"concurrency": 2}],
                         "schedule": [{"start_s": 30, "end_s": 40, "factor": 0.5}]},
        }
    )  # fmt: skip
    spans = spans_of(scenario)
    assert spans == (
        Span(("b",), 10.0, None),
        Span(("capacity x0.5",), 30.0, 40.0),
        Span(("a",), 50.0, 55.0, 60.0),
        Span(("c",), 120.0, 180.0, 240.0),
    )
    assert spans[2].label == "50–55 s of every 60 s" and spans[0].label == "from 10 s"
    assert span_status(spans[2], 116.0).text() == "starts in 54 s"
    assert span_status(spans[2], 171.0).text() == "active, ends in 4.0 s"
    assert span_status(spans[0], 99.0).text() == "active, no end"
    assert span_status(spans[0], 0.03).text() == "starts in 10 s"  # 9.97 s, not "10.0 s"
    assert span_status(spans[0], 0.1).text() == "starts in 9.9 s"
    assert summary(spans, 45.0) == (
        "now: from 10 s b (active, no end); last ended: 30–40 s capacity x0.5 5.0 s ago; "
        "next: 50–55 s of every 60 s a starts in 5.0 s"
    )


def test_the_banner_lines_say_name_seed_windows_clock_and_how_to_replay() -> None:
    engine = build_engine("launch-day", seed=4)
    engine.restart(100.0)
    lines = status_lines(scenario_status(engine, "launch-day", seed=4, index=0, now=102.5))
    assert lines == [
        "scenario: launch-day (seed 4; 2.5 s since start)",
        f"  10–40 s  {SPIKE}: starts in 7.5 s",
        "  40–70 s  tail: starts in 38 s",
        f"  now: no window active; next: 10–40 s {SPIKE} starts in 7.5 s",
        "  GET /_busysignal/scenario says where the clock stands",
        "  POST /_busysignal/reset restarts the scenario clock (replays its windows)",
    ]


def test_serve_banner_shows_the_scenario_and_its_windows(tmp_path: Path) -> None:
    path = tmp_path / "file-name.yaml"
    path.write_text(
        "name: nightly-spike\ndescription: d\n"
        "rules: [{id: spike, when: {window: {start_s: 600, end_s: 660}}, fault: 529}]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", "--scenario", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = []
        while not lines or not lines[-1].startswith("control plane:"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    text = "".join(lines)
    assert "scenario: nightly-spike (seed 0; " in text and "file-name" not in text
    assert "  600–660 s  spike: starts in " in text and "POST /_busysignal/reset" in text


def test_log_line_carries_a_timestamp_scenario_time_and_the_deciding_rule() -> None:
    entry = Journal(2).open(
        "req_1", "POST", "/v1/messages", 1_800_000_000.25, 10.0, "", 2, kept_header_values({})
    )
    entry.end, entry.status, entry.fault, entry.error_type, entry.model = (
        10.25, 529, "http_error", "overloaded_error", "m",
    )  # fmt: skip
    entry.reason = {"scenario": "launch-day", "t": 12.34, "source": "rule", "rule": "spike-new-model"}
    assert log_line(entry) == (
        "2027-01-15T08:00:00.250Z req_1 POST /v1/messages m 529 250.0ms t=12.3s retry=2 "
        "fault=http_error error=overloaded_error by=rule:spike-new-model"
    )
    passed = Journal(2).open(
        "req_2", "GET", "/v1/models", 1_800_000_000.0, 1.0, "", None, kept_header_values({})
    )
    passed.end, passed.status = 1.001, 200
    assert log_line(passed) == "2027-01-15T08:00:00.000Z req_2 GET /v1/models 200 1.0ms"


def test_decided_by_names_each_source_of_a_fault() -> None:
    assert decided_by({"source": "override", "fault": "529"}) == "override"
    assert decided_by({"source": "rate_limit", "limit": "input tokens"}) == "rate_limit:input-tokens"
    assert decided_by({"source": "capacity", "capacity": {"wait_s": 0.0}}) == "capacity"
    assert decided_by({"capacity": {"wait_s": 0.4}}) == "capacity:queued"
    assert decided_by({"latency": {"rule": "slow", "s": 0.2}}) == "latency:slow"
    assert decided_by({"scenario": "steady", "t": 1.0}) is None


def test_served_requests_are_logged_with_the_rule_of_their_fault() -> None:
    lines: list[str] = []
    spec = {"name": "always", "description": "d", "rules": [{"id": "all-529", "fault": 529}]}
    config = ServerConfig(on_request_done=lambda e: lines.append(log_line(e)), wall_clock=lambda: 1e9)
    with MockServer(config, scenario=spec) as server:
        body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": user()}
        assert httpx2.post(f"{server.url}/v1/messages", json=body, headers=API).status_code == 529
        over = {**API, "x-busysignal-fault": "500"}
        assert httpx2.post(f"{server.url}/v1/messages", json=body, headers=over).status_code == 500
    assert lines[0].startswith("2001-09-09T01:46:40.000Z req_") and lines[0].endswith(" by=rule:all-529")
    assert lines[1].endswith(" fault=http_error error=api_error by=override")
