"""`busysignal serve` (`python -m mockserver`): URL and export line, request log lines, clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx2
import pytest

from mockserver.cli.serve import log_line
from mockserver.journal import Journal, kept_header_values


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", "--ttft", "0", "--tps", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("busysignal mock listening on http://127.0.0.1:"), first + proc.stderr.read()
    url = first.rsplit(" ", 1)[1].strip()
    export = proc.stdout.readline().strip()
    assert export == f"export ANTHROPIC_BASE_URL={url}"
    return proc, url


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_url_logs_requests_and_stops_cleanly(sig: signal.Signals) -> None:
    proc, url = start("--seed", "3")
    try:
        r = httpx2.post(
            f"{url}/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 200
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60  # generous: a saturated machine
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if r.headers["request-id"] in line:
                break
        assert f"{r.headers['request-id']} POST /v1/messages claude-haiku-4-5 200" in lines[-1]
        assert any(
            line.startswith("scenario: steady (seed 3; ") for line in lines
        )  # says what world it serves
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else 0), err  # Ctrl-C: 130, as every verb
    assert "shutting down" in out and "Traceback" not in err


def test_serve_refuses_a_public_interface_without_a_token() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mockserver", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "control token" in proc.stderr


def test_serve_reports_an_unknown_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", "--scenario", "no-such-scenario-xyz"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no-such-scenario-xyz" in proc.stderr


def test_busysignal_cli_registers_serve() -> None:
    from mockserver.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--port", "9", "--api-key", "a", "--api-key", "b", "--no-auth"]
    )
    assert args.port == 9 and args.api_key == ["a", "b"] and args.no_auth and callable(args.func)


def test_log_line_names_id_status_latency_and_fault() -> None:
    entry = Journal(2).open("req_1", "POST", "/v1/messages", 0.0, 10.0, "", 2, kept_header_values({}))
    entry.end, entry.status, entry.fault, entry.error_type, entry.model = (
        10.25,
        529,
        "http_error",
        "overloaded_error",
        "m",
    )
    assert (
        log_line(entry)
        == "1970-01-01T00:00:00.000Z req_1 POST /v1/messages m 529 250.0ms retry=2 fault=http_error "
        "error=overloaded_error"
    )
