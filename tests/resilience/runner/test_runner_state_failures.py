"""`busysignal batch run` when its state or its output fails: a damaged state file, a full disk
under the state (SQLite's own SQLITE_FULL, forced with ``max_page_count``) or under the output
(ENOSPC from the writer), and a state that lost work (0 bytes, or its WAL gone). Each is a clear
message and exit status 3, never a traceback or the "some failed" 1, and never a silent redo;
afterwards every document still has exactly one result line."""

from __future__ import annotations

import collections
import errno
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServer
from mockserver.cli import main
from mockserver.wire.generation import prompt_digest_of
from resilience.runner import OutputFile
from resilience.runner.core import parse_documents
from resilience.runner.store import EXIT_STORAGE, JobStore, StateError, storage_failure

MODEL = "claude-haiku-5-5"
N = 30


def write_docs(path: Path) -> None:
    lines = (json.dumps({"id": f"doc-{i}", "text": f"state doc {i}"}) + "\n" for i in range(N))
    path.write_text("".join(lines))


def run_cli(inp: Path, out: Path, url: str, *extra: str) -> int:
    return main(
        ["batch", "run", str(inp), "--out", str(out), "--base-url", url, "--api-key", "k", "--model", MODEL,
         "--max-tokens", "16", "--no-progress", "--concurrency", "4", *extra]
    )  # fmt: skip


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent_per_doc(server: MockServer, inp: Path) -> dict[str, int]:
    docs = parse_documents(inp.read_text().splitlines(), model=MODEL, max_tokens=16)
    doc_of = {prompt_digest_of(d.params): d.id for d in docs}
    counts: dict[str, int] = collections.Counter()
    for e in server.journal.entries():
        digest = e.to_dict()["prompt_digest"]
        if digest in doc_of:
            counts[doc_of[digest]] += 1
    return dict(counts)


def assert_exactly_once(out: Path) -> None:
    got = results(out)
    assert [r["id"] for r in got] == [f"doc-{i}" for i in range(N)]
    assert all(r["status"] == "succeeded" for r in got)


def assert_clear_error(err: str, *phrases: str) -> None:
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, err


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_docs(inp)
    return inp, out, tmp_path / "out.jsonl.state.sqlite"


def test_a_damaged_state_file_is_exit_3_with_the_way_forward_and_restart_starts_over(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out, state = files
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
        data = bytearray(state.read_bytes())
        assert len(data) > 8192
        data[4096:] = b"\x5a" * (len(data) - 4096)  # every page after the first is garbage
        state.write_bytes(bytes(data))
        capsys.readouterr()
        assert run_cli(inp, out, server.url) == EXIT_STORAGE
        assert_clear_error(capsys.readouterr().err, str(state), "is damaged", "--restart")
        assert run_cli(inp, out, server.url, "--restart") == 0
        assert sent_per_doc(server, inp) == {f"doc-{i}": 2 for i in range(N)}  # --restart redid all
    assert_exactly_once(out)


def test_a_full_disk_under_the_state_is_exit_3_and_the_rerun_resumes_exactly(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inp, out, state = files
    real_record = JobStore.record
    recorded: list[str] = []

    def record_until_the_disk_fills(self: JobStore, doc_id: str, *args: Any) -> bool:
        if len(recorded) == 10:  # from now on the database may not grow by a page: SQLITE_FULL
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages}")
        ok = real_record(self, doc_id, *args)
        recorded.append(doc_id)
        return ok

    monkeypatch.setattr(JobStore, "record", record_until_the_disk_fills)
    with MockServer(seed=1) as server:
        code = run_cli(inp, out, server.url)
        err = capsys.readouterr().err
        assert code == EXIT_STORAGE, err
        assert_clear_error(err, str(state), "the disk is full", "run the same command again to resume")
        monkeypatch.setattr(JobStore, "record", real_record)
        with JobStore(state) as store:
            done_before = store.finished_ids()
        assert 0 < len(done_before) < N
        assert run_cli(inp, out, server.url) == 0
        sent = sent_per_doc(server, inp)
    assert_exactly_once(out)
    assert all(sent[d] == 1 for d in done_before)  # what the state had recorded was not sent again
    assert set(sent) == {f"doc-{i}" for i in range(N)}


def test_a_full_disk_under_the_output_is_exit_3_and_the_rerun_resumes_exactly(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inp, out, _ = files
    real_append = OutputFile.append
    appended: list[int] = []

    def append_until_the_disk_fills(self: OutputFile, job: Any) -> None:
        if len(appended) == 10:
            raise OSError(errno.ENOSPC, "No space left on device")  # as a write() raises it: no filename
        real_append(self, job)
        appended.append(1)

    monkeypatch.setattr(OutputFile, "append", append_until_the_disk_fills)
    with MockServer(seed=1) as server:
        code = run_cli(inp, out, server.url)
        err = capsys.readouterr().err
        assert code == EXIT_STORAGE, err
        assert_clear_error(err, str(out), "no space left on the device", "run the same command again")
        monkeypatch.setattr(OutputFile, "append", real_append)
        assert run_cli(inp, out, server.url) == 0
        sent = sent_per_doc(server, inp)
    assert_exactly_once(out)
    # the document committed just before its line failed to reach OUT was not sent again
    assert sum(1 for n in sent.values() if n == 1) >= 11


def test_a_zero_length_state_is_refused_when_out_holds_results_not_silently_redone(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inp, out, state = files
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
        before = out.read_text()
        state.write_bytes(b"")
        capsys.readouterr()
        assert run_cli(inp, out, server.url) == EXIT_STORAGE
        assert_clear_error(capsys.readouterr().err, f"does not record {N} documents", "--restart")
        assert out.read_text() == before  # nothing sent, OUT untouched
        assert sent_per_doc(server, inp) == {f"doc-{i}": 1 for i in range(N)}


def test_a_state_that_lost_its_wal_is_refused_instead_of_redoing_the_work(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inp, out, state = files
    copy = state.with_name("without-wal.sqlite")
    real_record = JobStore.record

    def record_and_copy_the_main_file(self: JobStore, *args: Any) -> bool:
        ok = real_record(self, *args)
        if not copy.exists():  # the main file alone: what is left when the WAL is deleted
            shutil.copyfile(state, copy)
        return ok

    monkeypatch.setattr(JobStore, "record", record_and_copy_the_main_file)
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
        monkeypatch.setattr(JobStore, "record", real_record)
        copy.replace(state)
        Path(f"{state}-wal").unlink(missing_ok=True)
        Path(f"{state}-shm").unlink(missing_ok=True)
        capsys.readouterr()
        assert run_cli(inp, out, server.url) == EXIT_STORAGE
        assert_clear_error(capsys.readouterr().err, "write-ahead log", "--restart")
        assert sent_per_doc(server, inp) == {f"doc-{i}": 1 for i in range(N)}
    assert_exactly_once(out)


def test_an_empty_state_file_without_results_starts_with_a_warning(
    files: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inp, out, state = files
    state.write_bytes(b"")  # e.g. --state "$(mktemp)"
    with MockServer(seed=1) as server:
        assert run_cli(inp, out, server.url) == 0
    assert "was empty (0 bytes): starting from the first document" in caplog.text
    assert_exactly_once(out)


def test_storage_failure_names_only_storage_failures(tmp_path: Path) -> None:
    state, out = tmp_path / "s.sqlite", tmp_path / "out.jsonl"
    assert storage_failure(ValueError("a bug"), state, out) is None
    assert storage_failure(KeyError("x"), state, out) is None
    full = storage_failure(sqlite3.OperationalError("database or disk is full"), state, out)
    assert full is not None and "disk is full" in full and str(state) in full
    other = storage_failure(OSError(errno.EIO, "Input/output error", "elsewhere.jsonl"), state, out)
    assert other is not None and "could not use elsewhere.jsonl: Input/output error" in other
    unnamed = storage_failure(OSError(errno.ENOSPC, "No space left on device"), state, out)
    assert unnamed is not None and f"could not write {out}: no space left on the device" in unnamed
    assert storage_failure(StateError("said so"), state, out) == "said so"


def test_restart_is_refused_where_there_is_no_state_to_discard(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("celery")
    inp, out, _ = files
    assert run_cli(inp, out, "http://127.0.0.1:9", "--via", "celery", "--restart") == 2
    assert "--restart has no state to discard with --via celery" in capsys.readouterr().err
