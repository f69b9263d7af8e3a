"""``--via batches``: the pending documents through the Message Batches API.

Documents go out in batches of ``batch_size``; each batch is polled until it has ended and its
result lines are recorded through the same ledger as ``--via messages`` (a document that errored
retryably, expired or is missing goes into a later batch, after its delay). A control-plane call
(create, retrieve, results) that the service turns away is retried with the runner's policy.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from resilience.runner.core import AttemptOutcome, Requeue, RequeuePolicy, decide
from resilience.runner.output import AttemptObserver, OutputFile, RunLedger, RunSummary
from resilience.runner.progress import Progress
from resilience.runner.sdk import message_dict, outcome_from_exception
from resilience.runner.store import JobStore, PendingJob

__all__ = ["run_batches"]

log = logging.getLogger(__name__)


def _batch_outcome(result: dict[str, Any]) -> AttemptOutcome:
    """One line of a batch's results as an attempt outcome."""
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return AttemptOutcome(status=200, message=result["message"])
    if kind == "errored":
        err = result.get("error")
        inner = err.get("error") if isinstance(err, dict) and isinstance(err.get("error"), dict) else err
        etype = inner.get("type") if isinstance(inner, dict) else None
        msg = inner.get("message", "") if isinstance(inner, dict) else ""
        status = {
            "invalid_request_error": 400,
            "authentication_error": 401,
            "permission_error": 403,
            "not_found_error": 404,
            "request_too_large": 413,
            "rate_limit_error": 429,
            "api_error": 500,
            "overloaded_error": 529,
        }.get(str(etype))
        # an error we do not know is not ours to give up on: retry it like a 500
        return AttemptOutcome(status=status or 500, error_type=etype, error_message=str(msg))
    # canceled / expired: the request never ran
    return AttemptOutcome(status=None, error_type=str(kind), error_message=f"batch request {kind}")


async def _api_call_with_backoff(
    make: Callable[[], Awaitable[Any]],
    policy: RequeuePolicy,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]],
    what: str,
) -> Any:
    """A control-plane call (create, retrieve) retried on overload; it is one call, not a
    document, so waiting here holds nothing else up."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return await make()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = outcome_from_exception(exc, time.time())
            action = decide(outcome, attempts, policy, rng)
            if not isinstance(action, Requeue):
                raise
            log.info(
                "busysignal batch: %s failed (%s), retrying in %.2fs", what, outcome.status, action.delay_s
            )
            await sleep(action.delay_s)


class _BatchRun:
    """One run through Message Batches: what its methods share."""

    def __init__(
        self,
        ledger: RunLedger,
        client: Any,
        *,
        batch_size: int,
        poll_interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.client = client
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.sleep = sleep

    async def call(self, make: Callable[[], Awaitable[Any]], what: str) -> Any:
        return await _api_call_with_backoff(make, self.ledger.policy, self.ledger.rng, self.sleep, what)

    def record(self, job: PendingJob, outcome: AttemptOutcome) -> None:
        attempts, action = self.ledger.observe(job, outcome)
        self.ledger.commit(job, attempts, action, self.clock())

    async def collect(self, batch_id: str) -> None:
        """Poll a batch until it has ended, then record its result lines."""
        while True:
            batch = await self.call(lambda: self.client.messages.batches.retrieve(batch_id), "retrieve")
            if batch.processing_status == "ended":
                break
            if self.ledger.progress is not None:
                self.ledger.progress.draw()
            await self.sleep(self.poll_interval_s)
        by_custom = {j.doc.custom_id: j for j in self.store.pending() if j.batch_id == batch_id}
        decoder = await self.call(lambda: self.client.messages.batches.results(batch_id), "results")
        async for item in decoder:
            entry = message_dict(item)
            job = by_custom.pop(str(entry.get("custom_id")), None)
            if job is None:
                continue  # not ours, or already recorded
            result = entry.get("result")
            self.record(job, _batch_outcome(result if isinstance(result, dict) else {}))
        missing = AttemptOutcome(status=None, error_type="missing", error_message="no result in batch")
        for job in by_custom.values():  # no result line at all: try again
            self.record(job, missing)
        self.store.close_batch(batch_id)

    async def submit(self, ready: Sequence[PendingJob]) -> list[str]:
        """Create the batches for ``ready`` jobs, storing each id as soon as it is known."""
        ids: list[str] = []
        for i in range(0, len(ready), self.batch_size):
            chunk = ready[i : i + self.batch_size]
            requests = [{"custom_id": j.doc.custom_id, "params": j.doc.params} for j in chunk]
            batch = await self.call(
                lambda requests=requests: self.client.messages.batches.create(requests=requests),  # type: ignore[misc]
                "create",
            )
            self.store.add_batch(batch.id, [j.doc.id for j in chunk], self.clock())
            ids.append(batch.id)
        return ids

    async def run(self) -> None:
        for batch_id in self.store.open_batches():
            await self.collect(batch_id)
        while pending := self.store.pending():
            now = self.clock()
            ready = [j for j in pending if j.batch_id is None and j.not_before <= now]
            if not ready:
                await self.sleep(max(0.0, min(j.not_before for j in pending) - now))
                continue
            for batch_id in await self.submit(ready):
                await self.collect(batch_id)


async def run_batches(
    store: JobStore,
    output: OutputFile,
    client: Any,
    *,
    batch_size: int = 10_000,
    poll_interval_s: float = 30.0,
    policy: RequeuePolicy | None = None,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    observers: Sequence[AttemptObserver] = (),
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunSummary:
    """Run the pending jobs through Message Batches: submit in chunks of ``batch_size``, poll
    every ``poll_interval_s`` until ended, record every result line; requests that errored
    retryably (or expired, or are missing) go into a later batch, after their delay.

    A batch id is stored as soon as the API returns it, and on resume open batches are polled
    and collected rather than resubmitted. (A crash between the create call returning and that
    write would submit those documents again; their results are still recorded once.)"""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ledger = RunLedger(store, output, policy=policy, rng=rng, progress=progress, observers=observers)
    if progress is not None:
        progress.limit = 0  # no requests in flight to show: the batches hold them
    run = _BatchRun(
        ledger, client, batch_size=batch_size, poll_interval_s=poll_interval_s, clock=clock, sleep=sleep
    )
    try:
        await run.run()
    finally:
        output.close()
    return ledger.summary()
