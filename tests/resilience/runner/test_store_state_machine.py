"""A Hypothesis state machine for the document runner's state file (``JobStore``).

The model is what the runner told the store: which documents were saved (loaded), claimed by a
Message Batch, requeued with a delay, or finished (succeeded or failed, with their payload and
attempt count). Outcomes, batches, late duplicates and reopening the file (a new process taking
over the state) come in any order; after every step the store, as it reads back, must say what
the model says. Time is a fake clock moved by a rule. The machine is also run once against a
store that lets a late duplicate overwrite a finished job, which it must catch."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.support import FakeClock, assert_machine_catches

from resilience.runner.core import Complete, Fail, Requeue, parse_documents
from resilience.runner.store import JobStore

DOCS = parse_documents([json.dumps({"id": f"d{i}", "text": f"doc {i}"}) for i in range(4)], model="m")
IDS = [d.id for d in DOCS]


@dataclass
class Job:
    """The model of one document's row."""

    state: str = "pending"
    attempts: int = 0
    not_before: float = 0.0
    batch_id: str | None = None
    payload: dict[str, Any] | None = None


class StoreMachine(RuleBasedStateMachine):
    store_class: type[JobStore] = JobStore

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.path = self.dir / "STATE"
        self.clock = FakeClock(start=1_000.0)
        self.store = self.store_class(self.path)
        assert self.store.load(DOCS, self.clock()) == len(DOCS)
        self.jobs = {doc_id: Job() for doc_id in IDS}
        self.batches: list[str] = []  # submitted, not yet collected, in order of creation
        self.made = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(dt=st.sampled_from([0.0, 0.5, 7.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(
        doc_id=st.sampled_from(IDS),
        kind=st.sampled_from(["complete", "requeue", "fail"]),
        delay_s=st.sampled_from([0.0, 2.5]),
    )
    def record(self, doc_id: str, kind: str, delay_s: float) -> None:
        """An attempt's outcome; for a finished job this is a late duplicate and must change nothing."""
        job = self.jobs[doc_id]
        attempts = job.attempts + 1
        action: Complete | Requeue | Fail
        if kind == "complete":
            action = Complete(
                {"type": "message", "content": [{"type": "text", "text": f"{doc_id}/{attempts}"}]}
            )
        elif kind == "fail":
            action = Fail({"type": "overloaded_error", "attempt": attempts})
        else:
            action = Requeue(delay_s, {"type": "overloaded_error", "attempt": attempts})
        stored = self.store.record(doc_id, attempts, action, self.clock())
        assert stored is (job.state == "pending"), f"record on a {job.state} job returned {stored}"
        if not stored:
            return
        job.attempts, job.batch_id = attempts, None
        if isinstance(action, Complete):
            job.state, job.payload = "succeeded", action.message
        elif isinstance(action, Fail):
            job.state, job.payload = "failed", action.error
        else:
            job.not_before = self.clock() + action.delay_s

    @rule(picks=st.sets(st.sampled_from(IDS), min_size=1))
    def claim_for_a_batch(self, picks: set[str]) -> None:
        """Submit a batch: the pending ones among ``picks`` carry its id until it is collected."""
        self.clock.advance(0.001)  # batches are listed in order of creation
        self.made += 1
        batch_id = f"msgbatch_{self.made}"
        self.store.add_batch(batch_id, sorted(picks), self.clock())
        self.batches.append(batch_id)
        for doc_id in picks:
            if self.jobs[doc_id].state == "pending":
                self.jobs[doc_id].batch_id = batch_id

    @precondition(lambda self: bool(self.batches))
    @rule(data=st.data())
    def collect_a_batch(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(self.batches))
        self.store.close_batch(batch_id)
        self.batches.remove(batch_id)
        for job in self.jobs.values():
            if job.batch_id == batch_id:
                job.batch_id = None

    @rule()
    def reopen(self) -> None:
        """Another process takes over the state file (and loads the same input again)."""
        self.store.close()
        self.store = self.store_class(self.path)
        assert self.store.load(DOCS, self.clock()) == 0

    @invariant()
    def reads_back_what_the_model_says(self) -> None:
        model = [(doc, self.jobs[doc.id]) for doc in DOCS]
        pending = {
            job.doc.id: (job.attempts, job.not_before, job.batch_id, job.doc) for job in self.store.pending()
        }
        assert pending == {
            doc.id: (job.attempts, job.not_before, job.batch_id, doc)
            for doc, job in model
            if job.state == "pending"
        }
        finished = [(f.doc_id, f.position, f.state, f.attempts, f.payload) for f in self.store.finished()]
        assert finished == [
            (doc.id, doc.position, job.state, job.attempts, job.payload)
            for doc, job in model
            if job.state != "pending"
        ]
        states = [job.state for job in self.jobs.values()]
        assert self.store.counts() == {s: states.count(s) for s in ("pending", "succeeded", "failed")}
        assert self.store.attempts_total() == sum(job.attempts for job in self.jobs.values())
        assert self.store.open_batches() == self.batches


# The suite's Hypothesis profile (tests/conftest.py: no deadline); each step is a transaction.
StoreMachine.TestCase.settings = settings(
    settings.get_profile("busysignal"), max_examples=25, stateful_step_count=20
)
TestJobStoreAgainstItsModel = StoreMachine.TestCase


class _StoreWhereTheLastWordWins(JobStore):
    """Broken: a late duplicate outcome reopens a finished job and overwrites it."""

    def record(self, doc_id: str, attempts: int, action: Complete | Requeue | Fail, now: float) -> bool:
        self._db.execute("UPDATE jobs SET state='pending' WHERE doc_id=?", (doc_id,))
        return super().record(doc_id, attempts, action, now)


def test_the_store_machine_catches_a_store_that_lets_a_duplicate_overwrite() -> None:
    class Broken(StoreMachine):
        store_class = _StoreWhereTheLastWordWins

    assert_machine_catches(Broken, max_examples=50)
