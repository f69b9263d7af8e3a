"""The document runner: every document through the Messages API, durably, politely.

``run_documents`` is the asyncio shell around :mod:`resilience.runner_core` (decisions) and
:mod:`resilience.runner_store` (SQLite state):

* a heap of ready jobs ordered by ``not_before``; at most ``limit`` attempts in flight, where
  the limit adapts (AIMD) to overload signals, so the runner settles at what the service
  can take instead of hammering it;
* one attempt per dispatch (the SDK's own retries off); on 529/429/5xx the job goes back to
  the heap with the Retry-After the server sent (or a jittered backoff) and the worker slot
  is free at once;
* every outcome is committed to SQLite before its line is appended to the output; the output
  is rebuilt from the database when a run starts and again, in input order, when it ends.

``run_batches`` does the same through the Message Batches API. ``run_file`` wires both to
files and is what ``busysignal batch run`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from resilience.breaker import CircuitBreakers
from resilience.cache import DEFAULT_TTL_S, ResponseCache
from resilience.classify import CircuitOpenError
from resilience.client import AsyncResilientAnthropic, outcome_of
from resilience.instrumentation.alerts import ErrorRateMonitor
from resilience.instrumentation.events import EventHook
from resilience.policy import Policy, Retry
from resilience.runner_core import (
    AdaptiveLimit,
    AttemptOutcome,
    Complete,
    Document,
    Fail,
    Requeue,
    RequeuePolicy,
    decide,
    parse_documents,
    parse_retry_after,
    result_line,
)
from resilience.runner_progress import Progress
from resilience.runner_store import FinishedJob, JobStore, PendingJob, open_store
from resilience.throttle import RateLimitPacer

__all__ = [
    "Attempter",
    "OutputFile",
    "Progress",
    "RunSummary",
    "SdkAttempter",
    "message_dict",
    "outcome_from_exception",
    "resilient_client",
    "run_batches",
    "run_documents",
    "run_file",
]

log = logging.getLogger(__name__)


class Attempter(Protocol):
    """One attempt at one request: never retries, never raises for an API failure."""

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome: ...


def _lower_headers(headers: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in headers.items()}
    except AttributeError:
        return {}


def outcome_from_exception(exc: BaseException, now_epoch: float) -> AttemptOutcome:
    """An SDK exception as an :class:`AttemptOutcome` (status None when no response came)."""
    import anthropic

    if isinstance(exc, CircuitOpenError):
        # the resilience policy's breaker refused locally: nothing was sent
        return AttemptOutcome(
            status=None,
            error_type="circuit_open",
            error_message=str(exc),
            retry_after_s=float(exc.retry_in_s),
            sent=False,
        )
    if isinstance(exc, anthropic.APIStatusError):
        headers = _lower_headers(exc.response.headers)
        error_type = getattr(exc, "type", None)
        message = getattr(exc, "api_message", None) or str(exc)
        body = exc.body
        if error_type is None and isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict) and isinstance(err.get("type"), str):
                error_type = err["type"]
        should = headers.get("x-should-retry")
        return AttemptOutcome(
            status=exc.status_code,
            error_type=error_type,
            error_message=str(message),
            retry_after_s=parse_retry_after(headers, now_wall=now_epoch),
            should_retry=True if should == "true" else False if should == "false" else None,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return AttemptOutcome(status=None, error_type="timeout", error_message=str(exc))
    if isinstance(exc, anthropic.APIConnectionError):
        return AttemptOutcome(status=None, error_type="connection_error", error_message=str(exc))
    if isinstance(exc, anthropic.APIError):  # e.g. a 200 whose body is not a message
        return AttemptOutcome(status=None, error_type="api_error", error_message=str(exc))
    # anything else is a bug or a bad request we built: do not retry it
    return AttemptOutcome(
        status=None, error_type=type(exc).__name__, error_message=str(exc), should_retry=False
    )


def message_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        result = to_dict(mode="json")
        if isinstance(result, dict):
            return result
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        result = dump(mode="json")
        if isinstance(result, dict):
            return result
    raise TypeError(f"cannot turn a {type(message).__name__} into a message dict")


class SdkAttempter:
    """Attempts through an async Anthropic-shaped client (``client.messages.create``), e.g.
    ``anthropic.AsyncAnthropic(max_retries=0)`` or the resilience wrapper configured not to
    retry overloads itself. The attempt number goes out as ``x-stainless-retry-count`` so the
    server's journal shows which try of a document each request was."""

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock

    async def __call__(self, params: dict[str, Any], attempt: int) -> AttemptOutcome:
        try:
            message = await self._client.messages.create(
                **params, extra_headers={"x-stainless-retry-count": str(attempt - 1)}
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return outcome_from_exception(exc, self._clock())
        # the resilience wrapper attaches how the call went; a cache hit sent nothing
        call = outcome_of(message)
        cached = call is not None and call.cached
        return AttemptOutcome(status=200, message=message_dict(message), sent=not cached)


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


AttemptObserver = Callable[[AttemptOutcome], None]


def monitor_observer(monitor: ErrorRateMonitor) -> AttemptObserver:
    """Feed the error-rate monitor with attempts that reached the service, by status. An
    outcome that sent nothing (a cache hit, a refusal by the open circuit breaker) says nothing
    about the service's error rate: counted, a breaker's refusals (status None) would read as
    failures and keep the alert up for as long as the breaker stays open."""

    def observe(outcome: AttemptOutcome) -> None:
        if outcome.sent:
            monitor.observe_status(outcome.status)

    return observe


def _summary(
    store: JobStore, total: int, made: int, start_mono: float, status_counts: dict[str, int]
) -> RunSummary:
    """How a run ended, from the store (the truth) and the run's own tallies."""
    counts = store.counts()
    return RunSummary(
        total=total,
        succeeded=counts["succeeded"],
        failed=counts["failed"],
        attempts=made,
        attempts_total=store.attempts_total(),
        elapsed_s=time.monotonic() - start_mono,
        status_counts=status_counts,
    )


def _finished(job: PendingJob, attempts: int, action: Complete | Fail) -> FinishedJob:
    if isinstance(action, Complete):
        return FinishedJob(job.doc.id, job.doc.position, "succeeded", attempts, action.message)
    return FinishedJob(job.doc.id, job.doc.position, "failed", attempts, action.error)


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
    policy = policy or RequeuePolicy()
    rng = rng or random.Random(0)
    start_mono = time.monotonic()
    limiter = AdaptiveLimit(concurrency, decrease=0.8) if adaptive else None
    heap: list[tuple[float, int, PendingJob]] = [(j.not_before, j.doc.position, j) for j in store.pending()]
    heapq.heapify(heap)
    counts = store.counts()
    total = sum(counts.values())
    made = 0
    status_counts: dict[str, int] = {}
    in_flight: set[asyncio.Task[None]] = set()
    wake = asyncio.Event()
    output.open_for_append()
    if progress is not None:
        progress.limit = concurrency

    def current_limit() -> int:
        return limiter.limit if limiter is not None else concurrency

    paused_until = -math.inf  # a Retry-After on a 429/529 holds every dispatch, not just its job

    async def one(job: PendingJob, seq: int) -> None:
        nonlocal made, paused_until
        outcome = await attempter(job.doc.params, job.attempts + 1)
        attempts = job.attempts + outcome.sent
        made += outcome.sent
        key = str(outcome.status) if outcome.status is not None else (outcome.error_type or "none")
        status_counts[key] = status_counts.get(key, 0) + 1
        if limiter is not None:
            limiter.on_result(seq, outcome.overloaded)
        for observe in observers:
            observe(outcome)
        if progress is not None:
            progress.attempt(outcome)
        action = decide(outcome, attempts, policy, rng)
        now = clock()
        if outcome.overloaded and outcome.sent and outcome.retry_after_s is not None:
            paused_until = max(paused_until, now + min(outcome.retry_after_s, policy.retry_after_cap_s))
        if not store.record(job.doc.id, attempts, action, now):
            return
        if isinstance(action, Requeue):
            nxt = PendingJob(job.doc, attempts, now + action.delay_s, None)
            heapq.heappush(heap, (nxt.not_before, job.doc.position, nxt))
        else:
            done = _finished(job, attempts, action)
            output.append(done)
            if progress is not None:
                progress.finished(done)

    crashed: list[BaseException] = []

    def task_done(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            crashed.append(exc)
        if progress is not None:
            progress.in_flight = len(in_flight)
        wake.set()

    try:
        while heap or in_flight:
            now = clock()
            limit = current_limit()
            if heap and len(in_flight) < limit and heap[0][0] <= now and paused_until <= now:
                _, _, job = heapq.heappop(heap)
                seq = limiter.dispatched() if limiter is not None else 0
                task = asyncio.get_running_loop().create_task(one(job, seq))
                in_flight.add(task)
                task.add_done_callback(task_done)
                if progress is not None:
                    progress.in_flight = len(in_flight)
                    progress.limit = limit
                continue
            timeout: float | None = None
            if heap and len(in_flight) < limit:
                timeout = max(0.0, heap[0][0] - now, paused_until - now)
            if progress is not None:
                progress.limit = limit
                progress.draw()
                timeout = 0.5 if timeout is None else min(timeout, 0.5)
            wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            if crashed:
                raise crashed[0]  # a bug in the shell (e.g. the database) must not be lost
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        output.close()
    return _summary(store, total, made, start_mono, status_counts)


# --- Message Batches -----------------------------------------------------------------


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
    policy = policy or RequeuePolicy()
    rng = rng or random.Random(0)
    start_mono = time.monotonic()
    total = sum(store.counts().values())
    made = 0
    status_counts: dict[str, int] = {}
    output.open_for_append()
    if progress is not None:
        progress.limit = 0  # no requests in flight to show: the batches hold them

    async def collect(batch_id: str) -> None:
        nonlocal made
        while True:
            batch = await _api_call_with_backoff(
                lambda: client.messages.batches.retrieve(batch_id), policy, rng, sleep, "retrieve"
            )
            if batch.processing_status == "ended":
                break
            if progress is not None:
                progress.draw()
            await sleep(poll_interval_s)
        by_custom = {j.doc.custom_id: j for j in store.pending() if j.batch_id == batch_id}
        decoder = await _api_call_with_backoff(
            lambda: client.messages.batches.results(batch_id), policy, rng, sleep, "results"
        )
        async for item in decoder:
            entry = message_dict(item)
            job = by_custom.pop(str(entry.get("custom_id")), None)
            if job is None:
                continue  # not ours, or already recorded
            result = entry.get("result")
            outcome = _batch_outcome(result if isinstance(result, dict) else {})
            record(job, outcome)
        for job in by_custom.values():  # no result line at all: try again
            record(job, AttemptOutcome(status=None, error_type="missing", error_message="no result in batch"))
        store.close_batch(batch_id)

    def record(job: PendingJob, outcome: AttemptOutcome) -> None:
        nonlocal made
        made += 1
        key = str(outcome.status) if outcome.status is not None else (outcome.error_type or "none")
        status_counts[key] = status_counts.get(key, 0) + 1
        for observe in observers:
            observe(outcome)
        if progress is not None:
            progress.attempt(outcome)
        attempts = job.attempts + 1
        action = decide(outcome, attempts, policy, rng)
        if not store.record(job.doc.id, attempts, action, clock()):
            return
        if not isinstance(action, Requeue):
            done = _finished(job, attempts, action)
            output.append(done)
            if progress is not None:
                progress.finished(done)

    try:
        for batch_id in store.open_batches():
            await collect(batch_id)
        while True:
            pending = store.pending()
            if not pending:
                break
            now = clock()
            ready = [j for j in pending if j.batch_id is None and j.not_before <= now]
            if not ready:
                await sleep(max(0.0, min(j.not_before for j in pending) - now))
                continue
            ids: list[str] = []
            for i in range(0, len(ready), batch_size):
                chunk = ready[i : i + batch_size]
                requests = [{"custom_id": j.doc.custom_id, "params": j.doc.params} for j in chunk]
                batch = await _api_call_with_backoff(
                    lambda requests=requests: client.messages.batches.create(requests=requests),  # type: ignore[misc]
                    policy,
                    rng,
                    sleep,
                    "create",
                )
                store.add_batch(batch.id, [j.doc.id for j in chunk], clock())
                ids.append(batch.id)
            for batch_id in ids:
                await collect(batch_id)
    finally:
        output.close()
    return _summary(store, total, made, start_mono, status_counts)


# --- the client ---------------------------------------------------------------------------


def resilient_client(
    sdk_client: Any,
    *,
    breaker: bool = False,
    breaker_open_s: float = 15.0,
    pace: bool = True,
    fallback: Sequence[str] | None = None,
    cache: ResponseCache | None = None,
    cache_ttl_s: float = DEFAULT_TTL_S,
    on_event: Sequence[EventHook] = (),
) -> AsyncResilientAnthropic:
    """The resilient wrapper as the runner wants it: ONE attempt per call (the runner requeues
    instead of sleeping in a worker), the rate-limit pacer (``pace``: requests are spaced out
    when the ``anthropic-ratelimit-*`` headers say a bucket is running low, before it runs out),
    the optional per-model breaker, fallback chain and response cache of the resilience
    policy, and its events for metrics."""
    policy = Policy(
        retry=Retry(max_attempts=1),
        breakers=CircuitBreakers(open_s=breaker_open_s) if breaker else None,
        pacer=RateLimitPacer(reserve=0.1, max_delay_s=10.0) if pace else None,
        fallback=list(fallback) if fallback else None,
        cache=cache,
        cache_ttl_s=cache_ttl_s,
        on_event=list(on_event) or None,
        log_events=False,
    )
    return AsyncResilientAnthropic(sdk_client, policy=policy)


# --- files ------------------------------------------------------------------------------


def default_state_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".state.sqlite")


def load_documents(
    input_path: str | os.PathLike[str], *, model: str | None, max_tokens: int, system: str | None
) -> list[Document]:
    path = Path(input_path)
    with path.open(encoding="utf-8") as fh:
        return parse_documents(fh, source=str(path), model=model, max_tokens=max_tokens, system=system)


async def run_file(
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    client: Any,
    batches_client: Any = None,
    state_path: str | os.PathLike[str] | None = None,
    via: str = "messages",
    concurrency: int = 16,
    adaptive: bool = True,
    policy: RequeuePolicy | None = None,
    model: str | None = None,
    max_tokens: int = 1024,
    system: str | None = None,
    batch_size: int = 10_000,
    poll_interval_s: float = 30.0,
    seed: int = 0,
    show_progress: bool = True,
    progress_stream: TextIO | None = None,
    observers: Sequence[AttemptObserver] = (),
    monitor: ErrorRateMonitor | None = None,
    restart: bool = False,
) -> RunSummary:
    """Load INPUT, resume (or, ``restart``, discard) the state next to OUT, run, and leave OUT
    holding exactly one line per document in input order (once every document has finished)."""
    docs = load_documents(input_path, model=model, max_tokens=max_tokens, system=system)
    output = OutputFile(out_path)
    with open_store(state_path or default_state_path(out_path), out_path, docs, restart=restart) as store:
        output.rebuild(store)  # whatever a crash left in OUT is replaced by what the state says
        counts = store.counts()
        progress = Progress(
            len(docs),
            done=counts["succeeded"] + counts["failed"],
            failed=counts["failed"],
            stream=progress_stream,
            enabled=show_progress,
        )
        all_observers = list(observers)
        if monitor is not None:
            all_observers.append(monitor_observer(monitor))
        try:
            if via == "batches":
                summary = await run_batches(
                    store,
                    output,
                    batches_client if batches_client is not None else client,
                    batch_size=batch_size,
                    poll_interval_s=poll_interval_s,
                    policy=policy,
                    rng=random.Random(seed),
                    progress=progress,
                    observers=all_observers,
                )
            elif via == "messages":
                summary = await run_documents(
                    store,
                    output,
                    SdkAttempter(client),
                    concurrency=concurrency,
                    policy=policy,
                    adaptive=adaptive,
                    rng=random.Random(seed),
                    progress=progress,
                    observers=all_observers,
                )
            else:
                raise ValueError(f"via must be 'messages' or 'batches', got {via!r}")
        finally:
            progress.close()
        output.rebuild(store)  # final: input order, one line per finished document
    return summary


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
