"""Ctrl-C stops `verify` and `demo` at once: exit 130, no traceback, servers stopped."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Generous: a full run of either command takes longer than this, and the interrupted one must
# exit well within it even on a saturated machine (the product's target is 2 s).
BOUND_S = 15.0


def _interrupt_once_started(args: list[str], started: str, cwd: Path) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=120)  # the event is the line, not the time
            assert line is not None, f"exited before it started probing: {''.join(seen)}"
            seen.append(line)
            if started in line:
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    return code, "".join(seen), took


def test_ctrl_c_stops_verify_with_130_and_no_traceback(tmp_path: Path) -> None:
    code, err, took = _interrupt_once_started(
        ["verify", "--client", "sdk-defaults"], "probes started", tmp_path
    )
    assert code == 130, err
    assert "Traceback" not in err and "busysignal: interrupted" in err
    assert "verified" not in err  # it stopped, rather than running every probe to the end
    assert took < BOUND_S, (took, err)


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_with_130_and_no_traceback(tmp_path: Path) -> None:
    code, err, took = _interrupt_once_started(
        ["demo", "--quick", "--out", str(tmp_path / "report")], "probes started for", tmp_path
    )
    assert code == 130, err
    assert "Traceback" not in err and "busysignal: interrupted" in err
    assert not (tmp_path / "report" / "report.md").exists()
    assert took < BOUND_S, (took, err)
