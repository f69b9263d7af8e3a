"""The progress line on stderr: done/total, rate, ETA and the current 529 rate."""

from __future__ import annotations

import io

from resilience.runner import Progress
from resilience.runner.core import AttemptOutcome
from resilience.runner.store import FinishedJob


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def job(state: str = "succeeded") -> FinishedJob:
    return FinishedJob("d", 0, state, 1, {})


def test_progress_on_a_terminal_redraws_one_line_with_rate_eta_and_529_rate() -> None:
    clock = FakeClock()
    out = Tty()
    progress = Progress(100, done=10, stream=out, clock=clock)
    for i in range(20):
        clock.now += 0.25  # 4 documents a second
        progress.attempt(AttemptOutcome(529 if i % 4 == 0 else 200))
        progress.finished(job("failed" if i == 0 else "succeeded"))
    progress.close()
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K[")
    last = text.rsplit("\r\x1b[2K", 1)[1]
    assert "30/100 (1 failed)" in last
    assert "4.0 doc/s" in last
    assert "ETA 00:18" in last  # 70 left at 4 per second
    assert "529 25.0%" in last
    assert text.endswith("\n")
    # redrawn at most every 0.2 s, not once per document
    assert 10 <= text.count("\r\x1b[2K") <= 21


def test_progress_off_a_terminal_writes_plain_lines_now_and_then() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(50, stream=out, clock=clock)
    for _ in range(50):
        clock.now += 0.1
        progress.finished(job())
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert 2 <= len(lines) <= 5  # 5 s of work, a line every 2 s, and the last one
    assert "50/50" in lines[-1] and "ETA 00:00" in lines[-1]


def test_progress_disabled_writes_nothing() -> None:
    out = io.StringIO()
    progress = Progress(5, stream=out, enabled=False)
    progress.finished(job())
    progress.close()
    assert out.getvalue() == ""


def test_a_resumed_run_rates_only_the_documents_it_processed_itself() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(10_000, done=9_000, stream=out, clock=clock)  # 9000 found done on resume
    for _ in range(3):
        clock.now += 0.25  # 3 documents in this run's first 0.75 s: 4 a second
        progress.finished(job())
    line = progress.line()
    assert "9003/10000" in line
    assert "|     4.0 doc/s" in line  # not 9003 / 0.75 s = 12004 doc/s
    assert "ETA 04:09" in line  # 997 left at 4 per second
    for _ in range(8):  # past a second, the recent window: still this run's documents only
        clock.now += 0.25
        progress.finished(job())
    assert "|     4.0 doc/s" in progress.line()


def test_documents_counted_done_from_outside_are_not_rated_as_processed() -> None:
    clock = FakeClock()
    progress = Progress(100, stream=io.StringIO(), clock=clock)
    progress.done = 60  # --via celery: results already in Redis when the run is followed again
    clock.now += 0.5
    progress.finished(job())
    assert "61/100" in progress.line() and "|     2.0 doc/s" in progress.line()  # not 122
