"""Ctrl-C stops `serve`, `loadtest` and `batch run`: exit 130, no traceback, nothing left running.

Each verb runs as a subprocess of its own; the test waits for the line by which the verb says it is
busy (never a sleep), sends one SIGINT, and checks the exit status, the absence of a traceback, and
that what the verb started is gone: the port closed, no Locust process left, the batch state
resumable. The time bound is generous (the machine may be saturated): the behaviour is the verdict.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

STOP_BOUND_S = 30.0  # far above the 2 s a user waits: a loaded CI machine must not fail the test


class Verb:
    """A `busysignal` verb in a subprocess, its stdout and stderr read line by line into queues."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mockserver.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self._queue: queue.Queue[tuple[str, str | None]] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr))
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.lines[name].append(line)
            self._queue.put((name, line))
        self._queue.put((name, None))

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 120.0) -> str:
        """The first line (stdout or stderr) that satisfies ``predicate``."""
        closed = 0
        while closed < 2:
            try:
                _, line = self._queue.get(timeout=timeout)
            except queue.Empty:
                break
            if line is None:
                closed += 1
            elif predicate(line):
                return line
        self.proc.kill()
        raise AssertionError(f"no such line; the verb wrote {self.lines}")

    def interrupt(self) -> int:
        """One SIGINT; the exit status once the verb has stopped (killed if it outlives the bound)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running {STOP_BOUND_S} s after SIGINT: {self.lines}") from None

    def output(self) -> str:
        """Everything the verb wrote, once it has exited and both pipes are closed."""
        self.proc.wait(timeout=STOP_BOUND_S)
        for pump in self._pumps:
            pump.join(timeout=STOP_BOUND_S)
        return "".join(self.lines["out"]) + "".join(self.lines["err"])


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: {child pid: start time, to tell a reused pid apart}."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = fields[19]
    return found


def still_running(procs: dict[int, str]) -> list[int]:
    """Those of ``procs`` that are still there (same pid, same start time, not a zombie)."""
    running = []
    for pid, started in procs.items():
        fields = _stat(pid)
        if fields and fields[19] == started and fields[0] != "Z":
            running.append(pid)
    return running


def test_serve_stops_on_ctrl_c_with_a_stream_in_flight(tmp_path: Path) -> None:
    verb = Verb("serve", "--port", "0", "--ttft", "0", "--tps", "2", cwd=tmp_path)
    line = verb.wait_for(lambda s: s.startswith("busysignal mock listening on http://127.0.0.1:"))
    port = int(line.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 4000,  # at 2 tokens/s: half an hour of stream
        "stream": True,
        "messages": [{"role": "user", "content": "a long story"}],
    }
    conn.request(
        "POST",
        "/v1/messages",
        body=json.dumps(body),
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"event: ")  # the stream has begun: a request in flight

    assert verb.interrupt() == 130
    out = verb.output()
    assert "Traceback" not in out and "shutting down" in out
    assert port_is_closed(port)
    conn.close()


def test_loadtest_stops_its_mock_and_locust_on_ctrl_c(tmp_path: Path) -> None:
    # looked up, never imported: importing Locust would patch this whole test process with gevent
    if importlib.util.find_spec("locust") is None:
        pytest.skip("the load tests need the 'load' extra")
    out = tmp_path / "report"
    verb = Verb(
        "loadtest",
        "--strategy",
        "no-retry",
        "--rate",
        "2",
        "--duration",
        "120",
        "--workers",
        "1",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    mock = verb.wait_for(lambda s: "mock up on port" in s)
    port = int(mock.split("mock up on port", 1)[1].split()[0])
    verb.wait_for(lambda s: "load started" in s)
    started = children(verb.proc.pid)
    assert len(started) == 3, started  # the mock, the Locust master and its worker

    assert verb.interrupt() == 130
    text = verb.output()
    assert "Traceback" not in text and "busysignal: interrupted" in text
    assert port_is_closed(port)
    assert still_running(started) == []


HANG_SCENARIO = """\
name: one-model-hangs
description: every request for the large model hangs; the small model answers
rules:
  - id: large-model-hangs
    match: {path: /v1/messages, model: claude-opus-5-5}
    fault: {connection: {kind: hang, hang_s: 600}}
"""


def test_batch_run_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    from mockserver import MockServer

    docs = [("doc-0", "claude-haiku-4-5")] + [(f"doc-{i}", "claude-opus-5-5") for i in range(1, 6)]
    inp, results = tmp_path / "in.jsonl", tmp_path / "results.jsonl"
    lines = [
        {"id": d, "params": {"model": m, "max_tokens": 8, "messages": [{"role": "user", "content": d}]}}
        for d, m in docs
    ]
    inp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "hang.yaml").write_text(HANG_SCENARIO)
    env = {"ANTHROPIC_API_KEY": "sk-test"}

    def batch(url: str) -> Verb:
        return Verb("batch", "run", str(inp), "--out", str(results), "--base-url", url, cwd=tmp_path, env=env)

    with MockServer(scenario=str(tmp_path / "hang.yaml")) as hanging:
        verb = batch(hanging.url)
        verb.wait_for(lambda s: f"] 1/{len(docs)}" in s)  # doc-0 is done, the others hang in flight
        assert verb.interrupt() == 130
        text = verb.output()
    assert "Traceback" not in text and "run the same command again to resume" in text

    with MockServer() as healthy:
        again = batch(healthy.url)
        assert again.proc.wait(timeout=120) == 0, again.output()
        sent = [e for e in healthy.journal.entries() if e.path == "/v1/messages"]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in lines] == [(d, "succeeded") for d, _ in docs]
    assert len(sent) == len(docs) - 1  # doc-0 finished before Ctrl-C: it is not sent again
