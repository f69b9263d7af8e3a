"""The runner against the mock under launch-day: SIGKILL mid-run, resume, exactly one result per
document, and every attempt accounted for in the mock's journal.

The mock runs in this process (MockServer, its scenario clock sped up fivefold so the 70 s
launch-day story takes 14 s, its spike from 2 s to 8 s); the runner runs as a subprocess so
it can be killed."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from resilience.runner.core import parse_documents

mockserver = pytest.importorskip("mockserver")
from mockserver import MockServer  # noqa: E402
from mockserver.wire.generation import prompt_digest_of  # noqa: E402

N_DOCS = 2000
CONCURRENCY = 32
MODEL = "claude-opus-5-5"  # the model the launch-day spike hits hardest
SPEEDUP = 5.0


def fast_clock() -> Any:
    t0 = time.monotonic()
    return lambda: t0 + (time.monotonic() - t0) * SPEEDUP


def runner_cmd(inp: Path, out: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "mockserver.cli", "batch", "run", str(inp), "--out", str(out),
        "--base-url", url, "--model", MODEL, "--max-tokens", "16",
        "--concurrency", str(CONCURRENCY), "--max-attempts", "40",
        "--base-delay", "0.01", "--max-delay", "0.2", "--no-progress",
    ]  # fmt: skip


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_runner_killed_mid_run_resumes_with_exactly_one_result_per_document(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "results.jsonl"
    inp.write_text(
        "".join(
            json.dumps({"id": f"doc-{i}", "text": f"Summarise document {i}."}) + "\n" for i in range(N_DOCS)
        )
    )
    docs = parse_documents(inp.read_text().splitlines(), model=MODEL, max_tokens=16)
    doc_of_digest = {prompt_digest_of(d.params): d.id for d in docs}
    assert len(doc_of_digest) == N_DOCS
    # each run has its own API key, so the journal tells the runs apart (api_key_id)
    env1 = {**os.environ, "ANTHROPIC_API_KEY": "key-first-run"}
    env2 = {**os.environ, "ANTHROPIC_API_KEY": "key-resumed-run"}

    with MockServer(scenario="launch-day", seed=7, clock=fast_clock(), journal_size=100_000) as server:
        first = subprocess.Popen(runner_cmd(inp, out, server.url), env=env1, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 300  # bounds a stuck runner only: a saturated machine is slow
        while count_lines(out) < N_DOCS // 4 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # polling another process, not waiting for time
        assert first.poll() is None, f"the runner ended before it could be killed: {first.communicate()}"
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL
        lines_at_kill = count_lines(out)
        assert 0 < lines_at_kill < N_DOCS

        second = subprocess.run(runner_cmd(inp, out, server.url), env=env2, capture_output=True, text=True,
                                timeout=600)  # fmt: skip
        assert second.returncode in (0, 1), second.stderr
        summary = json.loads(second.stdout)
        entries = [e.to_dict() for e in server.journal.entries()]

    results = [json.loads(line) for line in out.read_text().splitlines()]
    # exactly one line per document, in input order, each finished
    assert len(results) == N_DOCS
    assert [r["id"] for r in results] == [d.id for d in docs]
    assert all(r["status"] in ("succeeded", "failed") for r in results)
    assert summary["total"] == N_DOCS and summary["succeeded"] + summary["failed"] == N_DOCS
    # finished documents were not sent again: the resumed run made exactly the attempts the
    # journal holds under its key
    keys = collections.Counter(e["api_key_id"] for e in entries)
    first_key, resumed_key = (server.key_id(env["ANTHROPIC_API_KEY"]) for env in (env1, env2))
    assert set(keys) == {first_key, resumed_key}
    assert keys[resumed_key] == summary["attempts_this_run"]
    assert summary["attempts_this_run"] < summary["attempts_total"]
    per_doc: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    # a request of the killed runner can be cut between its headers and its body: the mock
    # journals it (from the headers) with no body, so it names no document. It was in flight
    # at the kill, so it counts against the same tolerance as the unrecorded attempts below.
    cut_at_kill = 0
    for e in entries:
        assert e["path"] == "/v1/messages"
        if e["body_digest"] == "":
            assert e["api_key_id"] == first_key, e
            assert e["prompt_digest"] == "", e
            cut_at_kill += 1
            continue
        per_doc[doc_of_digest[e["prompt_digest"]]].append(e)
    assert set(per_doc) == {d.id for d in docs}
    unrecorded = 0
    for r in results:
        seen = per_doc[r["id"]]
        # every recorded attempt is in the journal; the only extra ones are attempts that were in
        # flight when the first runner was killed
        assert len(seen) >= r["attempts"] >= 1
        unrecorded += len(seen) - r["attempts"]
        statuses = [e["status"] for e in seen]
        if r["status"] == "succeeded":
            assert 200 in statuses
            assert r["message"]["type"] == "message"
        else:
            assert r["error"]["status"] == statuses[-1]
        # the attempt number goes out as x-stainless-retry-count, so the journal tells them apart
        assert max(e["retry_count"] for e in seen) + 1 >= r["attempts"]
    # at most CONCURRENCY attempts were in flight when the first runner was killed
    assert unrecorded + cut_at_kill <= CONCURRENCY
    # documents the resumed run sent and documents it left alone (finished before the kill)
    # partition the input; everything in the output at the kill was left alone
    resumed = {d for d, seen in per_doc.items() if any(e["api_key_id"] == resumed_key for e in seen)}
    assert N_DOCS - len(resumed) >= lines_at_kill
    # documents were requeued through the overload (how much of the run falls in the spike
    # depends on the machine's speed; even the 1% background rate gives ~20 529s in 2,000)
    assert sum(1 for e in entries if e["status"] == 529) >= 3
    assert any(r["attempts"] > 1 for r in results)
