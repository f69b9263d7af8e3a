"""Durable job state of the document runner: one SQLite file in WAL mode.

Every state change is one transaction, committed before anything is written to the output
file, so the database is the truth and the output is a projection of it: on start the
output is rebuilt from the finished jobs, which is what makes ``kill -9`` at any moment
harmless (no result is lost, none is written twice).

A job is ``pending`` (with ``not_before``, epoch seconds, so a delay survives a restart),
``succeeded`` (with the message) or ``failed`` (with its last error). Jobs sent in a Message
Batch carry the batch id until its results are in. One runner at a time: an exclusive
``flock`` on ``STATE.lock`` (released by the kernel if the process dies).

:func:`open_store` opens the state for a run and refuses one that has lost work the output
shows was done (a truncated state file, a deleted write-ahead log, an older copy), instead of
silently sending those documents again; :func:`storage_failure` says what a failing state or
output (a damaged file, a full disk) means for the run and how to go on.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.runner.core import Complete, Document, DocumentError, Fail, Requeue

__all__ = [
    "EXIT_STORAGE",
    "FinishedJob",
    "JobStore",
    "PendingJob",
    "StateError",
    "StateLockedError",
    "open_store",
    "storage_failure",
]

log = logging.getLogger(__name__)

# The exit status of `busysignal batch run` when the state file or the output cannot be used
# (a damaged or lost state, a full disk, an I/O error): not "done, some failed" (1).
EXIT_STORAGE = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    doc_id      TEXT PRIMARY KEY,
    position    INTEGER NOT NULL UNIQUE,
    digest      TEXT NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL DEFAULT 0,
    last_error  TEXT,
    result      TEXT,
    batch_id    TEXT,
    updated_at  REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, not_before);
CREATE TABLE IF NOT EXISTS batches (
    batch_id    TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('submitted', 'collected'))
);
"""


class StateLockedError(RuntimeError):
    """Another runner holds the state file."""


class StateError(RuntimeError):
    """The state file cannot be used as it is; the message says what happened and what to do."""


_RESTART = "run again with --restart to start over (every document is sent again)"


@dataclass(frozen=True, slots=True)
class PendingJob:
    doc: Document
    attempts: int
    not_before: float
    batch_id: str | None


@dataclass(frozen=True, slots=True)
class FinishedJob:
    doc_id: str
    position: int
    state: str  # succeeded | failed
    attempts: int
    payload: dict[str, Any]  # the message, or the last error


class JobStore:
    """The state file. ``fresh=True`` discards what it held (and its WAL) once the lock is
    taken: the run starts over."""

    def __init__(self, path: str | os.PathLike[str], *, fresh: bool = False) -> None:
        self.path = Path(path)
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StateLockedError(f"another runner is using the state file {self.path}") from None
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable across a process crash
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            os.close(self._lock_fd)
            raise StateError(f"{self.path}: not a usable runner state file ({exc}); {_RESTART}") from None

    def close(self) -> None:
        self._db.close()
        os.close(self._lock_fd)

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> _Tx:
        return _Tx(self._db)

    def load(self, docs: Sequence[Document], now: float) -> int:
        """Add the documents not known yet; check the known ones did not change. Returns the
        number added. The state must describe exactly these documents."""
        known = {
            row[0]: (row[1], row[2]) for row in self._db.execute("SELECT doc_id, position, digest FROM jobs")
        }
        ids = {d.id for d in docs}
        stray = [k for k in known if k not in ids]
        if stray:
            raise DocumentError(
                f"{self.path}: the state file holds {len(stray)} documents that are not in the input "
                f"(e.g. {stray[0]!r}); use a new --state (or --out) for a different input"
            )
        added = 0
        with self._tx():
            for d in docs:
                old = known.get(d.id)
                if old is None:
                    self._db.execute(
                        "INSERT INTO jobs (doc_id, position, digest, params, state, updated_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)",
                        (d.id, d.position, d.digest, json.dumps(d.params, ensure_ascii=False), now),
                    )
                    added += 1
                elif old != (d.position, d.digest):
                    raise DocumentError(
                        f"{self.path}: document {d.id!r} changed since this state file was made "
                        "(different request or position); use a new --state (or --out)"
                    )
        return added

    def pending(self) -> list[PendingJob]:
        rows = self._db.execute(
            "SELECT doc_id, position, digest, params, attempts, not_before, batch_id FROM jobs "
            "WHERE state = 'pending' ORDER BY position"
        )
        return [
            PendingJob(Document(r[0], r[1], json.loads(r[3]), r[2]), r[4], r[5], r[6])
            for r in rows.fetchall()
        ]

    def record(self, doc_id: str, attempts: int, action: Complete | Requeue | Fail, now: float) -> bool:
        """Store the outcome of attempt number ``attempts``. Returns False (and changes
        nothing) when the job was already finished, so a late duplicate cannot overwrite it."""
        with self._tx():
            if isinstance(action, Complete):
                cur = self._db.execute(
                    "UPDATE jobs SET state='succeeded', attempts=?, result=?, batch_id=NULL, updated_at=? "
                    "WHERE doc_id=? AND state='pending'",
                    (attempts, json.dumps(action.message, ensure_ascii=False), now, doc_id),
                )
            elif isinstance(action, Fail):
                cur = self._db.execute(
                    "UPDATE jobs SET state='failed', attempts=?, last_error=?, batch_id=NULL, updated_at=? "
                    "WHERE doc_id=? AND state='pending'",
                    (attempts, json.dumps(action.error, ensure_ascii=False), now, doc_id),
                )
            else:
                cur = self._db.execute(
                    "UPDATE jobs SET attempts=?, not_before=?, last_error=?, batch_id=NULL, updated_at=? "
                    "WHERE doc_id=? AND state='pending'",
                    (
                        attempts,
                        now + action.delay_s,
                        json.dumps(action.error, ensure_ascii=False),
                        now,
                        doc_id,
                    ),
                )
        return cur.rowcount == 1

    def finished(self) -> Iterator[FinishedJob]:
        """Finished jobs in input order."""
        rows = self._db.execute(
            "SELECT doc_id, position, state, attempts, result, last_error FROM jobs "
            "WHERE state != 'pending' ORDER BY position"
        )
        for doc_id, position, state, attempts, result, last_error in rows:
            payload = json.loads(result if state == "succeeded" else last_error)
            yield FinishedJob(doc_id, position, state, attempts, payload)

    def finished_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT doc_id FROM jobs WHERE state != 'pending'")}

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "succeeded": 0, "failed": 0}
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

    def attempts_total(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(attempts), 0) FROM jobs").fetchone()
        return int(row[0])

    # --- Message Batches -------------------------------------------------------------

    def add_batch(self, batch_id: str, doc_ids: Sequence[str], now: float) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO batches (batch_id, created_at, state) VALUES (?, ?, 'submitted')",
                (batch_id, now),
            )
            self._db.executemany(
                "UPDATE jobs SET batch_id=?, updated_at=? WHERE doc_id=? AND state='pending'",
                [(batch_id, now, d) for d in doc_ids],
            )

    def open_batches(self) -> list[str]:
        rows = self._db.execute("SELECT batch_id FROM batches WHERE state='submitted' ORDER BY created_at")
        return [r[0] for r in rows]

    def close_batch(self, batch_id: str) -> None:
        """The batch's results are all recorded; jobs it still holds go back to the queue."""
        with self._tx():
            self._db.execute("UPDATE batches SET state='collected' WHERE batch_id=?", (batch_id,))
            self._db.execute(
                "UPDATE jobs SET batch_id=NULL WHERE batch_id=? AND state='pending'", (batch_id,)
            )


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite may have rolled back already (a full disk)
            self._db.execute("ROLLBACK")


def _results_in(out_path: Path, ids: set[str]) -> Iterator[str]:
    """Ids of the documents in ``ids`` that the output file holds a result line for (a line
    cut short by a crash is no result)."""
    try:
        fh = out_path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("status") in ("succeeded", "failed"):
                doc_id = str(obj.get("id"))
                if doc_id in ids:
                    yield doc_id


def open_store(
    state_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    docs: Sequence[Document],
    *,
    restart: bool = False,
    clock: Callable[[], float] = time.time,
    warn: Callable[[str], None] = log.warning,
) -> JobStore:
    """The state of a run over ``docs``, checked against what the output already holds.

    A result line is appended only after its document was committed, so an output with results
    the state does not record means the state lost work: it was truncated, its write-ahead log
    (``STATE-wal``) was deleted after a crash, or it is an older copy. Resuming would send those
    documents again and drop their lines, so that is refused (:class:`StateError`); ``restart``
    discards the state and starts over. An empty (0-byte) state file with no such output is
    started from the beginning, with a warning."""
    path = Path(state_path)
    empty = not restart and path.is_file() and path.stat().st_size == 0
    store = JobStore(path, fresh=restart)
    try:
        store.load(docs, clock())
        finished = store.finished_ids()
        out = Path(out_path)
        lost = [] if restart else [i for i in _results_in(out, {d.id for d in docs}) if i not in finished]
    except BaseException:
        store.close()
        raise
    if lost:
        store.close()
        raise StateError(
            f"{path}: the state does not record {len(set(lost))} documents that {out_path} has results "
            f"for (e.g. {lost[0]!r}): the state file was truncated, its write-ahead log ({path.name}-wal) "
            "was deleted, or it is an older copy. Resuming would send those documents again. Restore "
            f"the state file, or {_RESTART}."
        )
    if empty:
        warn(f"the state file {path} was empty (0 bytes): starting from the first document")
    return store


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_RESUME = "run the same command again to resume (documents that finished are not sent again)"


def storage_failure(
    exc: BaseException, state_path: str | os.PathLike[str], out_path: str | os.PathLike[str]
) -> str | None:
    """What a failure of the state file or the output means, and how to go on; None when
    ``exc`` is not one (it is then a bug, and should be seen as one)."""
    if isinstance(exc, StateError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL" or "full" in str(exc):
            return (
                f"the state file {state_path} could not be written: the disk is full ({exc}). "
                f"Free some space and {_RESUME}."
            )
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc):
            return f"the state file {state_path} is damaged ({exc}). Restore it from a copy, or {_RESTART}."
        return f"the state file {state_path} could not be used ({exc}). Once that is fixed, {_RESUME}."
    if isinstance(exc, OSError):
        where = exc.filename or out_path
        if exc.errno in _FULL:
            return f"could not write {where}: no space left on the device. Free some space and {_RESUME}."
        return f"could not use {where}: {exc.strerror or exc}. Once that is fixed, {_RESUME}."
    return None
