"""``--via messages``: every pending document through the Messages API, from this process.

``run_documents`` is the asyncio shell around :mod:`resilience.runner.core` (decisions) and
:mod:`resilience.runner.store` (SQLite state):

* a heap of ready jobs ordered by ``not_before``; at most ``limit`` attempts in flight, where
  the limit adapts (:mod:`resilience.runner.limit`: slow start, then the library's AIMD) to
  overload signals, so the runner settles at what the service can take instead of hammering it;
* one attempt per dispatch (the SDK's own retries off); on 529/429/5xx the job goes back to
  the heap with the Retry-After the server sent (or a jittered backoff) and the worker slot
  is free at once;
* every outcome is committed to SQLite before its line is appended to the output; the output
  is rebuilt from the database when a run starts and again, in input order, when it ends
  (:func:`resilience.runner.files.run_file`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time
from collections.abc import Callable, Sequence

from resilience.runner.core import Requeue, RequeuePolicy
from resilience.runner.limit import AdaptiveLimit
from resilience.runner.output import AttemptObserver, OutputFile, RunLedger, RunSummary
from resilience.runner.progress import Progress
from resilience.runner.sdk import Attempter
from resilience.runner.store import JobStore, PendingJob

__all__ = ["run_documents"]


class _Dispatcher:
    """The heap of pending jobs and the attempts in flight of one run."""

    def __init__(
        self,
        ledger: RunLedger,
        attempter: Attempter,
        *,
        concurrency: int,
        limiter: AdaptiveLimit | None,
        clock: Callable[[], float],
    ) -> None:
        self.ledger = ledger
        self.attempter = attempter
        self.concurrency = concurrency
        self.limiter = limiter
        self.clock = clock
        self.heap = [(j.not_before, j.doc.position, j) for j in ledger.store.pending()]
        heapq.heapify(self.heap)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.crashed: list[BaseException] = []
        self.paused_until = -math.inf  # a Retry-After on a 429/529 holds every dispatch, not just its job

    @property
    def limit(self) -> int:
        return self.limiter.limit if self.limiter is not None else self.concurrency

    def _show(self, *, limit: int | None = None, draw: bool = False) -> None:
        progress = self.ledger.progress
        if progress is not None:
            progress.in_flight = len(self.in_flight)
            if limit is not None:
                progress.limit = limit
            if draw:
                progress.draw()

    async def one(self, job: PendingJob, seq: int) -> None:
        """One attempt at ``job``, and what it leads to."""
        outcome = await self.attempter(job.doc.params, job.attempts + 1)
        if self.limiter is not None:
            self.limiter.on_result(seq, outcome.overloaded)
        attempts, action = self.ledger.observe(job, outcome)
        now = self.clock()
        if outcome.overloaded and outcome.sent and outcome.retry_after_s is not None:
            cap = self.ledger.policy.retry_after_cap_s
            self.paused_until = max(self.paused_until, now + min(outcome.retry_after_s, cap))
        if self.ledger.commit(job, attempts, action, now) and isinstance(action, Requeue):
            nxt = PendingJob(job.doc, attempts, now + action.delay_s, None)
            heapq.heappush(self.heap, (nxt.not_before, job.doc.position, nxt))

    def task_done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.crashed.append(exc)
        self._show()
        self.wake.set()

    def dispatch(self, now: float, limit: int) -> bool:
        """Start the next job if it is due and there is room; whether one was started."""
        heap = self.heap
        if not (heap and len(self.in_flight) < limit and heap[0][0] <= now and self.paused_until <= now):
            return False
        _, _, job = heapq.heappop(heap)
        seq = self.limiter.dispatched() if self.limiter is not None else 0
        task = asyncio.get_running_loop().create_task(self.one(job, seq))
        self.in_flight.add(task)
        task.add_done_callback(self.task_done)
        self._show(limit=limit)
        return True

    async def wait(self, now: float, limit: int) -> None:
        """Until an attempt ends, the next job is due, or (with a progress line) half a second."""
        timeout: float | None = None
        if self.heap and len(self.in_flight) < limit:
            timeout = max(0.0, self.heap[0][0] - now, self.paused_until - now)
        if self.ledger.progress is not None:
            self._show(limit=limit, draw=True)
            timeout = 0.5 if timeout is None else min(timeout, 0.5)
        self.wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)

    async def run(self) -> None:
        try:
            while self.heap or self.in_flight:
                now = self.clock()
                limit = self.limit
                if self.dispatch(now, limit):
                    continue
                await self.wait(now, limit)
                if self.crashed:
                    raise self.crashed[0]  # a bug in the shell (e.g. the database) must not be lost
        finally:
            for task in self.in_flight:
                task.cancel()
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)


async def run_documents(
    store: JobStore,
    output: OutputFile,
    attempter: Attempter,
    *,
    concurrency: int = 16,
    policy: RequeuePolicy | None = None,
    adaptive: bool = True,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    observers: Sequence[AttemptObserver] = (),
    clock: Callable[[], float] = time.time,
) -> RunSummary:
    """Run every pending job of ``store`` to completion. ``clock`` is epoch seconds (delays
    are stored as epoch times so they survive a restart)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    ledger = RunLedger(store, output, policy=policy, rng=rng, progress=progress, observers=observers)
    limiter = AdaptiveLimit(concurrency, decrease=0.8) if adaptive else None
    if progress is not None:
        progress.limit = concurrency
    try:
        await _Dispatcher(ledger, attempter, concurrency=concurrency, limiter=limiter, clock=clock).run()
    finally:
        output.close()
    return ledger.summary()
