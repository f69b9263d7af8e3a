"""`batch run`'s adaptive concurrency: what the help says is what the runner does. It opens at
SLOW_START_INITIAL requests in flight, grows while requests succeed, and never passes
--concurrency; with --no-adaptive it opens at --concurrency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mockserver.cli import build_parser
from resilience.runner import SLOW_START_INITIAL, OutputFile, run_documents
from resilience.runner.core import AttemptOutcome, parse_documents
from resilience.runner.store import JobStore

OK = {"type": "message", "role": "assistant", "content": [], "stop_reason": "end_turn"}


class Gated:
    """Holds every attempt until the test opens the gate; records how many were in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome:
        self.started += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.gate.wait()
        for _ in range(5):  # an attempt takes a while: others start meanwhile
            await asyncio.sleep(0)
        self.in_flight -= 1
        return AttemptOutcome(200, message=OK)


async def run_gated(tmp_path: Path, concurrency: int, adaptive: bool) -> tuple[int, Gated]:
    """Start a run of 200 documents; return how many attempts it opened before the first one
    finished, then let it finish."""
    docs = parse_documents([json.dumps({"id": f"d{i}", "text": f"doc {i}"}) for i in range(200)], model="m")
    attempter = Gated()
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs, 0.0)
        run = asyncio.create_task(
            run_documents(store, OutputFile(tmp_path / "out.jsonl"), attempter, concurrency=concurrency,
                          adaptive=adaptive)
        )  # fmt: skip
        for _ in range(50):  # the dispatcher opens what its limit allows, then waits for a result
            await asyncio.sleep(0)
        opened = attempter.started
        attempter.gate.set()
        summary = await run
    assert summary.succeeded == 200
    return opened, attempter


def test_adaptive_opens_at_the_slow_start_and_grows_to_concurrency_but_not_past_it(tmp_path: Path) -> None:
    opened, attempter = asyncio.run(run_gated(tmp_path, concurrency=16, adaptive=True))
    assert opened == SLOW_START_INITIAL == 4
    assert attempter.most_in_flight == 16


def test_without_adaptive_the_run_opens_at_concurrency(tmp_path: Path) -> None:
    opened, attempter = asyncio.run(run_gated(tmp_path, concurrency=16, adaptive=False))
    assert opened == 16 and attempter.most_in_flight == 16


def test_the_help_says_where_the_adaptive_limit_starts_and_its_default_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["batch", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "most requests in flight (default 16)" in text
    assert f"the run starts at {SLOW_START_INITIAL} and doubles per round of successes" in text
    args = build_parser().parse_args(["batch", "run", "in.jsonl", "--out", "o.jsonl"])
    assert args.concurrency == 16 and args.adaptive
