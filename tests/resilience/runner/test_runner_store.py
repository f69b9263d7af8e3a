"""JobStore (SQLite WAL state) and run_documents with a scripted attempter, in process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from resilience.runner import OutputFile, run_documents
from resilience.runner.core import (
    AttemptOutcome,
    Complete,
    DocumentError,
    Fail,
    Requeue,
    RequeuePolicy,
    parse_documents,
)
from resilience.runner.store import JobStore, StateLockedError


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
    }


def docs(n: int) -> list[Any]:
    return parse_documents([json.dumps({"id": f"d{i}", "text": f"doc {i}"}) for i in range(n)], model="m")


class Scripted:
    """Per document, a list of outcomes to return in turn (default: success)."""

    def __init__(self, script: dict[str, list[AttemptOutcome]] | None = None) -> None:
        self.script = script or {}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome:
        text = params["messages"][0]["content"]
        doc_id = "d" + text.split()[1]
        self.calls.append((doc_id, attempt))
        await asyncio.sleep(0)
        todo = self.script.get(doc_id, [])
        if todo:
            return todo.pop(0)
        return AttemptOutcome(200, message=message(text))


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_store_uses_wal_and_refuses_a_second_runner(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(3), 0.0)
        mode = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        with pytest.raises(StateLockedError, match="another runner"):
            JobStore(tmp_path / "s.sqlite")
    with JobStore(tmp_path / "s.sqlite") as again:  # released on close
        assert again.counts() == {"pending": 3, "succeeded": 0, "failed": 0}


def test_store_refuses_an_input_that_changed(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(3), 0.0)
        assert store.load(docs(3), 0.0) == 0  # same input: nothing new
        changed = parse_documents(
            [json.dumps({"id": f"d{i}", "text": f"other {i}"}) for i in range(3)], model="m"
        )
        with pytest.raises(DocumentError, match="changed since this state file"):
            store.load(changed, 0.0)
        with pytest.raises(DocumentError, match="not in the input"):
            store.load(docs(2), 0.0)


def test_store_records_once_and_late_duplicates_change_nothing(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(2), 0.0)
        assert store.record("d0", 1, Requeue(5.0, {"status": 529}), 100.0)
        (p0, p1) = store.pending()
        assert p0.attempts == 1 and p0.not_before == 105.0 and p1.attempts == 0
        assert store.record("d0", 2, Complete(message("x")), 106.0)
        assert not store.record("d0", 3, Fail({"status": 500}), 107.0)
        assert store.record("d1", 1, Fail({"status": 400}), 107.0)
        finished = list(store.finished())
        assert [(f.doc_id, f.state, f.attempts) for f in finished] == [
            ("d0", "succeeded", 2),
            ("d1", "failed", 1),
        ]
        assert store.attempts_total() == 3


async def test_run_documents_requeues_without_holding_the_worker(tmp_path: Path) -> None:
    # one worker; d0 is told to come back in 0.2 s: d1..d4 must not wait for it
    script = {"d0": [AttemptOutcome(529, error_type="overloaded_error", retry_after_s=0.2)]}
    attempter = Scripted(script)
    out = OutputFile(tmp_path / "out.jsonl")
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(5), 0.0)
        summary = await run_documents(store, out, attempter, concurrency=1, adaptive=False)
    assert attempter.calls == [("d0", 1), ("d1", 1), ("d2", 1), ("d3", 1), ("d4", 1), ("d0", 2)]
    assert summary.succeeded == 5 and summary.attempts == 6 and summary.status_counts == {"200": 5, "529": 1}
    results = read_results(tmp_path / "out.jsonl")
    assert [r["id"] for r in results] == ["d1", "d2", "d3", "d4", "d0"]  # appended as they finished
    assert results[-1]["attempts"] == 2


async def test_run_documents_fails_a_document_with_its_last_error(tmp_path: Path) -> None:
    over = AttemptOutcome(529, error_type="overloaded_error", error_message="Overloaded", retry_after_s=0.001)
    attempter = Scripted({"d1": [over] * 10})
    out = OutputFile(tmp_path / "out.jsonl")
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(3), 0.0)
        summary = await run_documents(
            store, out, attempter, policy=RequeuePolicy(max_attempts=3), concurrency=2
        )
        out.rebuild(store)
    assert summary.succeeded == 2 and summary.failed == 1
    results = read_results(tmp_path / "out.jsonl")
    assert [r["id"] for r in results] == ["d0", "d1", "d2"]
    assert results[1] == {
        "id": "d1",
        "status": "failed",
        "attempts": 3,
        "error": {"status": 529, "type": "overloaded_error", "message": "Overloaded", "attempts": 3},
    }


async def test_output_is_rebuilt_from_the_state_after_a_crash(tmp_path: Path) -> None:
    out_path = tmp_path / "out.jsonl"
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(4), 0.0)
        store.record("d0", 1, Complete(message("doc 0")), 1.0)
        store.record("d2", 1, Complete(message("doc 2")), 1.0)
        # what a crash can leave: a line written twice, a line for a job the state never committed,
        # a half-written line
        out_path.write_text(
            '{"id":"d0","status":"succeeded"}\n{"id":"d0","status":"succeeded"}\n{"id":"d3","status":"succ'
        )
        out = OutputFile(out_path)
        assert out.rebuild(store) == 2
        assert [r["id"] for r in read_results(out_path)] == ["d0", "d2"]
        attempter = Scripted()
        await run_documents(store, out, attempter, concurrency=4)
        assert sorted(c[0] for c in attempter.calls) == ["d1", "d3"]  # finished ones are not redone
        out.rebuild(store)
    results = read_results(out_path)
    assert [r["id"] for r in results] == ["d0", "d1", "d2", "d3"]
    assert all(r["status"] == "succeeded" for r in results)


async def test_a_retry_after_on_429_pauses_every_dispatch_not_only_its_document(tmp_path: Path) -> None:
    import time

    limited = AttemptOutcome(429, error_type="rate_limit_error", retry_after_s=0.2)
    attempter = Scripted({"d0": [limited]})
    stamps: list[float] = []
    inner = attempter.__call__

    async def timed(params: dict[str, Any], attempt: int) -> AttemptOutcome:
        stamps.append(time.monotonic())
        return await inner(params, attempt)

    out = OutputFile(tmp_path / "out.jsonl")
    with JobStore(tmp_path / "s.sqlite") as store:
        store.load(docs(3), 0.0)
        summary = await run_documents(store, out, timed, concurrency=1, adaptive=False)
    assert attempter.calls[0] == ("d0", 1)
    assert stamps[1] - stamps[0] >= 0.2  # d1 waited for the account-wide retry-after too
    assert summary.succeeded == 3 and summary.attempts == 4
