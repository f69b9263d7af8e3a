"""What a run leaves behind and reports: RESULTS.jsonl, the tallies and the summary.

:class:`OutputFile` is RESULTS.jsonl as a projection of the job store. :class:`RunLedger` is the
bookkeeping every way of running shares (``--via messages`` and ``--via batches``): each outcome
is tallied, shown to the observers and the progress line and decided on; each decision is
committed to the store before the finished document's line is appended.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from resilience import ErrorRateMonitor
from resilience.runner.core import (
    Action,
    AttemptOutcome,
    Complete,
    Fail,
    Requeue,
    RequeuePolicy,
    decide,
    result_line,
)
from resilience.runner.progress import Progress
from resilience.runner.store import FinishedJob, JobStore, PendingJob

__all__ = [
    "AttemptObserver",
    "OutputFile",
    "RunLedger",
    "RunSummary",
    "finished_job",
    "monitor_observer",
    "summary_json",
]

AttemptObserver = Callable[[AttemptOutcome], None]


class OutputFile:
    """RESULTS.jsonl as a projection of the job store: :meth:`rebuild` rewrites it atomically
    from the finished jobs (dropping whatever a crash left), :meth:`append` adds a line for a
    job just committed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None

    def rebuild(self, store: JobStore) -> int:
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        n = 0
        with tmp.open("w", encoding="utf-8") as fh:
            for job in store.finished():
                fh.write(result_line(job.doc_id, job.state, job.attempts, job.payload) + "\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        return n

    def open_for_append(self) -> None:
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, job: FinishedJob) -> None:
        if self._fh is None:
            self.open_for_append()
        assert self._fh is not None
        self._fh.write(result_line(job.doc_id, job.state, job.attempts, job.payload) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class RunSummary:
    total: int
    succeeded: int
    failed: int
    attempts: int  # attempts made by this run
    attempts_total: int  # recorded over all runs on this state
    elapsed_s: float
    status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.succeeded + self.failed == self.total


def monitor_observer(monitor: ErrorRateMonitor) -> AttemptObserver:
    """Feed the error-rate monitor with attempts that reached the service, by status. An
    outcome that sent nothing (a cache hit, a refusal by the open circuit breaker) says nothing
    about the service's error rate: counted, a breaker's refusals (status None) would read as
    failures and keep the alert up for as long as the breaker stays open."""

    def observe(outcome: AttemptOutcome) -> None:
        if outcome.sent:
            monitor.observe_status(outcome.status)

    return observe


def finished_job(job: PendingJob, attempts: int, action: Complete | Fail) -> FinishedJob:
    if isinstance(action, Complete):
        return FinishedJob(job.doc.id, job.doc.position, "succeeded", attempts, action.message)
    return FinishedJob(job.doc.id, job.doc.position, "failed", attempts, action.error)


class RunLedger:
    """One run's bookkeeping over a store and its output (opened for appending here)."""

    def __init__(
        self,
        store: JobStore,
        output: OutputFile,
        *,
        policy: RequeuePolicy | None,
        rng: random.Random | None,
        progress: Progress | None,
        observers: Sequence[AttemptObserver],
    ) -> None:
        self.store = store
        self.output = output
        self.policy = policy or RequeuePolicy()
        self.rng = rng or random.Random(0)
        self.progress = progress
        self.observers = tuple(observers)
        self.total = sum(store.counts().values())
        self.made = 0
        self.status_counts: dict[str, int] = {}
        self._start_mono = time.monotonic()
        output.open_for_append()

    def observe(self, job: PendingJob, outcome: AttemptOutcome) -> tuple[int, Action]:
        """Tally and show one outcome of ``job``; its attempt count and what happens next."""
        attempts = job.attempts + outcome.sent
        self.made += outcome.sent
        key = str(outcome.status) if outcome.status is not None else (outcome.error_type or "none")
        self.status_counts[key] = self.status_counts.get(key, 0) + 1
        for observe in self.observers:
            observe(outcome)
        if self.progress is not None:
            self.progress.attempt(outcome)
        return attempts, decide(outcome, attempts, self.policy, self.rng)

    def commit(self, job: PendingJob, attempts: int, action: Action, now: float) -> bool:
        """Record ``action`` (False: the store already had this job finished) and, for a
        finished document, append its line."""
        if not self.store.record(job.doc.id, attempts, action, now):
            return False
        if not isinstance(action, Requeue):
            done = finished_job(job, attempts, action)
            self.output.append(done)
            if self.progress is not None:
                self.progress.finished(done)
        return True

    def summary(self) -> RunSummary:
        """How the run ended, from the store (the truth) and the run's own tallies."""
        counts = self.store.counts()
        return RunSummary(
            total=self.total,
            succeeded=counts["succeeded"],
            failed=counts["failed"],
            attempts=self.made,
            attempts_total=self.store.attempts_total(),
            elapsed_s=time.monotonic() - self._start_mono,
            status_counts=self.status_counts,
        )


def summary_json(summary: RunSummary) -> str:
    return json.dumps(
        {
            "total": summary.total,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "attempts_this_run": summary.attempts,
            "attempts_total": summary.attempts_total,
            "attempts_per_document": round(summary.attempts_total / summary.total, 4)
            if summary.total
            else 0.0,
            "elapsed_s": round(summary.elapsed_s, 3),
            "statuses": dict(sorted(summary.status_counts.items())),
        }
    )
