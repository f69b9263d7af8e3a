"""--via batches across a crash: a batch created before the crash is collected on resume, not
submitted again."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anthropic
import pytest

from mockserver import MockServer
from resilience.runner import OutputFile, run_batches
from resilience.runner.core import parse_documents
from resilience.runner.store import JobStore


class Crash(Exception):
    pass


class CrashBeforeCollecting:
    """The SDK's batches resource, except that the process 'dies' right after create."""

    def __init__(self, sdk: anthropic.AsyncAnthropic) -> None:
        self._sdk = sdk
        self.messages = SimpleNamespace(batches=self)

    async def create(self, **kwargs: Any) -> Any:
        return await self._sdk.messages.batches.create(**kwargs)

    async def retrieve(self, batch_id: str) -> Any:
        raise Crash(batch_id)


async def test_batches_created_before_a_crash_are_collected_on_resume(tmp_path: Path) -> None:
    docs = parse_documents(
        [json.dumps({"id": f"d{i}", "text": f"batch doc {i}"}) for i in range(30)], model="claude-haiku-5-5"
    )
    out = OutputFile(tmp_path / "out.jsonl")
    with MockServer(seed=2) as server:
        sdk = anthropic.AsyncAnthropic(api_key="k", base_url=server.url, max_retries=0)
        with JobStore(tmp_path / "state.sqlite") as store:
            store.load(docs, 0.0)
            with pytest.raises(Crash):
                await run_batches(store, out, CrashBeforeCollecting(sdk), batch_size=20, poll_interval_s=0.01)
            assert len(store.open_batches()) == 2  # both chunks' batch ids were kept
        with JobStore(tmp_path / "state.sqlite") as store:
            out.rebuild(store)
            summary = await run_batches(store, out, sdk, batch_size=20, poll_interval_s=0.01)
            out.rebuild(store)
            assert store.open_batches() == []
        await sdk.close()
        creates = [
            e
            for e in server.journal.entries()
            if e.to_dict()["method"] == "POST" and e.to_dict()["path"] == "/v1/messages/batches"
        ]
    # two chunks (20 + 10) created before the crash, collected on resume: nothing submitted twice
    assert len(creates) == 2
    assert summary.succeeded == 30 and summary.attempts_total == 30
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [d.id for d in docs]
    assert all(r["status"] == "succeeded" and r["attempts"] == 1 for r in lines)
