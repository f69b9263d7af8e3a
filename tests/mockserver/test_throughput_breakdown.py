"""The throughput benchmark's ``--breakdown``: its bookkeeping-only server does what its figure
claims (answers the given body under the mock's response headers, a journal entry per request),
and a run measures all three servers."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]  # benchmarks/ is not installed: run it from here
BODY = {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}


def _start_journal_server(port: int, body_file: Path) -> subprocess.Popen[bytes]:
    cmd = ["-m", "benchmarks.throughput", "--serve", "journal", "--port", str(port), "--body-file"]
    proc = subprocess.Popen([sys.executable, *cmd, str(body_file)], cwd=ROOT)
    deadline = time.monotonic() + 120  # generous: a saturated machine starts it slowly
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)  # waiting for another process to start listening
    proc.kill()
    raise RuntimeError("the bookkeeping-only server did not start")


def test_bookkeeping_only_server_answers_the_body_with_the_mocks_headers(tmp_path: Path) -> None:
    body = b'{"id":"msg_x","type":"message"}'
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    port = free_port()
    proc = _start_journal_server(port, body_file)
    try:
        request_ids = []
        for _ in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/messages", json.dumps(BODY), HEADERS)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, body)
            assert resp.getheader("content-type") == "application/json"
            assert resp.getheader("anthropic-organization-id")
            request_ids.append(resp.getheader("request-id"))
            conn.close()
        assert all(rid and rid.startswith("req_") for rid in request_ids)
        assert len(set(request_ids)) == 3  # one journal entry (and id) per request
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_a_breakdown_run_measures_all_three_servers_and_prints_their_ratios() -> None:
    """A short run (figures not judged: only that each server answered and each ratio printed)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.throughput", "--breakdown", "--rounds", "1", "--seconds", "0.3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    for label in ("mock (journal on)", "bare aiohttp", "bookkeeping only"):
        assert label in out
    for name in ("mock", "bare", "journal"):
        answered = re.search(rf"^answers by status, {name}: 200: (\d+)", out, re.MULTILINE)
        assert answered is not None and int(answered.group(1)) > 0
    assert "ratio mock/bare req/s" in out and "ratio bookkeeping-only/bare req/s" in out
