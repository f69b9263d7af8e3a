"""`busysignal batch run` in process against the mock: Message Batches, the response cache,
the circuit breaker's local refusals, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServer
from mockserver.cli import main

MODEL = "claude-haiku-5-5"

BATCH_OVERLOAD = {
    "name": "batch-overload",
    "description": "three in ten batch items end errored with overloaded_error",
    "rules": [
        {
            "id": "batch-items-overloaded",
            "match": {"path": "/v1/messages/batches"},
            "trigger": {"probability": 0.3},
            "fault": 529,
        }
    ],
}


def write_docs(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"id": f"doc-{i}", "text": t}) + "\n" for i, t in enumerate(texts)))


def run_cli(inp: Path, out: Path, url: str, *extra: str) -> int:
    return main(
        ["batch", "run", str(inp), "--out", str(out), "--base-url", url, "--api-key", "k", "--model", MODEL,
         "--max-tokens", "16", "--no-progress", "--base-delay", "0.001", "--max-delay", "0.01", *extra]
    )  # fmt: skip


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_via_batches_resubmits_errored_items_until_every_document_has_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp, [f"document {i}" for i in range(200)])
    with MockServer(scenario=BATCH_OVERLOAD, seed=3) as server:
        opts = ["--via", "batches", "--poll-interval", "0.01", "--batch-size", "150", "--max-attempts", "30"]
        code = run_cli(inp, out, server.url, *opts)
        entries = [e.to_dict() for e in server.journal.entries()]
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    got = results(out)
    assert [r["id"] for r in got] == [f"doc-{i}" for i in range(200)]
    assert all(r["status"] == "succeeded" and r["message"]["type"] == "message" for r in got)
    creates = [e for e in entries if e["method"] == "POST" and e["path"] == "/v1/messages/batches"]
    # 200 documents in chunks of 150, then rounds for the ~30% that errored each time
    assert len(creates) >= 3
    assert summary["statuses"]["529"] > 20
    assert sum(r["attempts"] for r in got) == summary["attempts_total"] == 200 + summary["statuses"]["529"]
    assert any(r["attempts"] > 1 for r in got)


def test_a_cache_hit_does_not_touch_the_network_and_counts_no_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp, ["the same text", "the same text", "another text"])
    with MockServer(seed=1) as server:
        code = run_cli(inp, out, server.url, "--cache", "memory", "--concurrency", "1")
        entries = server.journal.entries()
    assert code == 0
    got = results(out)
    assert [r["attempts"] for r in got] == [1, 0, 1]
    assert got[0]["message"] == got[1]["message"]
    assert len(entries) == 2


def test_an_open_breaker_holds_documents_locally_without_spending_attempts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    always = {
        "name": "down",
        "description": "every call is a 529",
        "rules": [{"id": "all", "match": {"path": "/v1/messages"}, "fault": 529}],
    }
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp, [f"document {i}" for i in range(12)])
    with MockServer(scenario=always, seed=1) as server:
        opts = [
            "--breaker",
            "--breaker-open",
            "0.05",
            "--concurrency",
            "1",
            "--no-adaptive",
            "--max-attempts",
            "1",
        ]
        code = run_cli(inp, out, server.url, *opts, "--retry-after-cap", "0.01")
        sent = len(server.journal.entries())
    assert code == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["statuses"]["circuit_open"] >= 1  # the breaker did refuse locally
    got = results(out)
    assert len(got) == 12 and all(r["status"] == "failed" for r in got)
    # every document failed on its one real attempt (529); none was refused by the breaker as
    # if it were an attempt, so the journal holds exactly one request per document
    assert sent == 12
    assert all(r["error"]["status"] == 529 and r["attempts"] == 1 for r in got)


def test_bad_input_is_a_clear_error_with_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    assert run_cli(inp, out, "http://127.0.0.1:9") == 2
    assert "in.jsonl:2: duplicate id 'a' (first on line 1)" in capsys.readouterr().err
    assert run_cli(tmp_path / "missing.jsonl", out, "http://127.0.0.1:9") == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert run_cli(inp, out, "http://127.0.0.1:9", "--cache", "memcached://x") == 2
    assert "--cache must be" in capsys.readouterr().err


def test_rerunning_a_finished_run_sends_nothing_and_rewrites_the_same_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp, [f"document {i}" for i in range(20)])
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
        first = out.read_text()
        assert run_cli(inp, out, server.url) == 0
        assert len(server.journal.entries()) == 20
    assert out.read_text() == first
    write_docs(inp, [f"changed {i}" for i in range(20)])
    assert run_cli(inp, out, "http://127.0.0.1:9") == 2
    assert "changed since this state file" in capsys.readouterr().err


def test_overload_fires_the_error_rate_alert_once_and_metrics_are_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    half = {
        "name": "half",
        "description": "half the calls are 529",
        "rules": [
            {"id": "a", "match": {"path": "/v1/messages"}, "trigger": {"probability": 0.5}, "fault": 529}
        ],
    }
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp, [f"document {i}" for i in range(60)])
    with MockServer(scenario=half, seed=5) as server, caplog.at_level("WARNING", logger="resilience.alerts"):
        code = run_cli(inp, out, server.url, "--metrics-port", "0", "--max-attempts", "40")
    assert code == 0
    assert "metrics on http://127.0.0.1:" in capsys.readouterr().err
    fired = [r for r in caplog.records if "alert FIRED" in r.getMessage()]
    assert len(fired) == 1
    assert "batch run error rate" in fired[0].getMessage()
