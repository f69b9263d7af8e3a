"""`busysignal batch run --out`: never overwrites a file it cannot rebuild, and a path it cannot
write is a clear error (exit 2) before anything is sent or created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver import MockServer
from mockserver.cli import main

UNREACHABLE = "http://127.0.0.1:9"


def run_cli(inp: Path, out: Path, url: str, *extra: str) -> int:
    return main(
        ["batch", "run", str(inp), "--out", str(out), "--base-url", url, "--api-key", "k", "--model",
         "claude-haiku-5-5", "--max-tokens", "16", "--no-progress", "--max-attempts", "1", *extra]
    )  # fmt: skip


@pytest.fixture
def inp(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"doc {i}"}) + "\n" for i in range(3)))
    return path


def test_an_existing_results_file_without_its_state_is_not_overwritten(
    tmp_path: Path, inp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("my own notes\n")
    assert run_cli(inp, out, UNREACHABLE) == 2
    err = capsys.readouterr().err
    assert f"--out {out} already exists and there is no state file" in err
    assert "Traceback" not in err
    assert out.read_text() == "my own notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "results.jsonl"]


@pytest.mark.parametrize(
    ("kind", "message"),
    [("folder", "is a folder"), ("under a file", "is a file"), ("under nothing", "does not exist")],
)
def test_an_out_path_that_cannot_be_a_file_is_a_clear_error(
    kind: str, message: str, tmp_path: Path, inp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x\n")
    out = {"folder": tmp_path / "folder", "under a file": tmp_path / "a-file" / "r.jsonl",
           "under nothing": tmp_path / "missing" / "r.jsonl"}[kind]  # fmt: skip
    assert run_cli(inp, out, UNREACHABLE) == 2
    err = capsys.readouterr().err
    assert "busysignal batch run: --out" in err and message in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder", "in.jsonl"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_with_its_state_file_an_existing_results_file_is_resumed_and_an_empty_one_is_used(
    tmp_path: Path, inp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("")  # e.g. made by mktemp: nothing in it to lose
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
        first = out.read_text()
        assert run_cli(inp, out, server.url) == 0  # the state file is there: a resume
        assert len(server.journal.entries()) == 3
    assert out.read_text() == first and len(first.splitlines()) == 3


def test_via_celery_an_existing_file_that_is_not_results_is_refused(
    tmp_path: Path, inp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("my own notes\n")
    assert run_cli(inp, out, UNREACHABLE, "--via", "celery", "--broker", "redis://127.0.0.1:9/0") == 2
    assert "is not a results file" in capsys.readouterr().err
    assert out.read_text() == "my own notes\n"
