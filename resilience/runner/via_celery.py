"""The document runner's job on Celery with a Redis broker, for work that outgrows one machine.

One task per document, :func:`process_document`. It makes ONE attempt through the resilient
client (the resilience policy, with its breaker when asked; the SDK's retries off) and, when
the service says "later" (529, 429, 5xx, no response, an open breaker), re-queues itself with
a countdown (the Retry-After the server sent, else a jittered backoff) instead of sleeping in
a worker. The decisions are the runner's (:func:`resilience.runner.core.decide`).

Each document's final result goes into one Redis hash per run, written with ``HSETNX``: the
first final result wins, so a task delivered twice (``acks_late`` after a worker died) cannot
give a document two results. :func:`collect_results` reads them back as result lines.

Configuration (environment of workers and submitters):

* ``BUSYSIGNAL_BROKER_URL``: the Redis broker (default ``redis://127.0.0.1:6379/0``); results
  go to the same Redis unless ``BUSYSIGNAL_RESULTS_URL`` says otherwise;
* ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``: read by the workers' client.

Start workers with ``celery -A resilience.runner.via_celery worker --pool threads --concurrency 8``,
or follow a whole input file with ``busysignal batch run INPUT --out OUT --via celery``.

Tasks are acknowledged late, so a task whose worker died is delivered again once it has been
unacknowledged for the Redis transport's visibility timeout (``BUSYSIGNAL_VISIBILITY_TIMEOUT``,
default 3600 s): a worker hands such tasks back to the queue when it starts and at a sweep
every ``unacked_restore_interval`` (10 s). Kombu would only really sweep every tenth time
(every 100 s); we sweep each time, so redelivery comes within 10 s of the timeout. Keep the
timeout above the longest countdown (the requeue policy's ``max_delay_s`` and
``retry_after_cap_s``) and the longest call, or Redis hands a task a live worker still holds
out a second time (the results hash still keeps one result).

One window is not covered: a message a worker has just popped from the queue but not yet
recorded as unacknowledged (a short window, longer on a loaded machine) is lost if the
worker is killed (SIGKILL, the OOM killer) in that window. Such a document would never get a
result: the follower (:func:`run_via_celery`, what ``busysignal batch run ... --via celery``
runs) calls a document lost once it has had no result and no task in the broker for longer
than the visibility timeout (plus a minute), warns, and queues it again once (a duplicate
still yields one result; :mod:`resilience.runner.watch`). ``--resubmit`` queues every
document of the run that has no result again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from celery import Celery

from resilience import CircuitBreakers, Policy, ResilientAnthropic, Retry
from resilience.runner.core import (
    AttemptOutcome,
    Complete,
    Document,
    Requeue,
    RequeuePolicy,
    decide,
    result_line,
)
from resilience.runner.output import RunSummary
from resilience.runner.progress import Progress
from resilience.runner.sdk import message_outcome, outcome_from_exception, retry_count
from resilience.runner.store import FinishedJob
from resilience.runner.watch import LostVerdict, LostWatch, broker_doc_ids

__all__ = [
    "app",
    "collect_results",
    "configure",
    "lost_after_default_s",
    "process_document",
    "results_key",
    "run_via_celery",
    "submit_documents",
    "submitted_key",
]

log = logging.getLogger(__name__)

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def _broker_url() -> str:
    return os.environ.get("BUSYSIGNAL_BROKER_URL", DEFAULT_BROKER)


def _results_url() -> str:
    return os.environ.get("BUSYSIGNAL_RESULTS_URL", _broker_url())


app = Celery("busysignal")
app.conf.update(
    broker_url=_broker_url(),
    result_backend=None,  # results live in our own hash (idempotent); no per-task result keys
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,  # a worker that dies mid-task leaves the task to be delivered again
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    broker_transport_options={
        "visibility_timeout": float(os.environ.get("BUSYSIGNAL_VISIBILITY_TIMEOUT", "3600")),
        # every periodic restore call really sweeps (Kombu's default scans on every tenth)
        "unacked_restore_throttle": 1,
    },
    task_ignore_result=True,
)

_local = threading.local()
_results_override: str | None = None


def configure(*, broker_url: str | None = None, results_url: str | None = None) -> None:
    """Point this process (a submitter, usually) at a broker and a results Redis other than
    the environment's. Call before submitting."""
    global _results_override
    if broker_url is not None:
        app.conf.broker_url = broker_url
    if results_url is not None or broker_url is not None:
        _results_override = results_url or broker_url
    _local.__dict__.pop("redis", None)


def _client() -> Any:
    """The worker thread's resilient client (one per thread; built on first use)."""
    client = getattr(_local, "client", None)
    if client is None:
        import anthropic

        breaker = os.environ.get("BUSYSIGNAL_BREAKER", "") == "1"
        policy = Policy(
            retry=Retry(max_attempts=1),  # one attempt; overload re-queues the task instead
            breakers=CircuitBreakers() if breaker else None,
            log_events=False,
        )
        client = ResilientAnthropic(anthropic.Anthropic(max_retries=0), policy=policy)
        _local.client = client
    return client


def _redis() -> Any:
    r = getattr(_local, "redis", None)
    if r is None:
        import redis

        r = redis.Redis.from_url(_results_override or _results_url())
        _local.redis = r
    return r


def results_key(run_id: str) -> str:
    return f"busysignal:runs:{run_id}:results"


def _attempt(params: dict[str, Any], attempt: int) -> AttemptOutcome:
    try:
        message = _client().messages.create(**params, extra_headers=retry_count(attempt))
    except Exception as exc:
        return outcome_from_exception(exc, time.time())
    return message_outcome(message)


@app.task(bind=True, name="busysignal.process_document", acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def process_document(
    self: Any,
    run_id: str,
    doc_id: str,
    params: dict[str, Any],
    policy: dict[str, Any] | None = None,
    attempts_before: int = 0,
) -> str:
    """One attempt at one document; re-queues itself with a countdown on overload.

    Returns ``"succeeded"``, ``"failed"`` or ``"requeued"`` (the last one through
    ``self.retry``, which raises Celery's Retry)."""
    requeue = RequeuePolicy(**(policy or {}))
    outcome = _attempt(params, attempts_before + 1)
    attempts = attempts_before + outcome.sent
    rng = random.Random(f"{run_id}:{doc_id}:{attempts}")
    action = decide(outcome, attempts, requeue, rng)
    if isinstance(action, Requeue):
        raise self.retry(
            countdown=action.delay_s,
            kwargs={
                "run_id": run_id,
                "doc_id": doc_id,
                "params": params,
                "policy": policy,
                "attempts_before": attempts,
            },
            args=(),
        )
    state, payload = (
        ("succeeded", action.message) if isinstance(action, Complete) else ("failed", action.error)
    )
    _redis().hsetnx(results_key(run_id), doc_id, result_line(doc_id, state, attempts, payload))
    return state


def submitted_key(run_id: str) -> str:
    return f"busysignal:runs:{run_id}:submitted"


def _decoded(items: Iterable[Any]) -> set[str]:
    return {k.decode() if isinstance(k, bytes) else str(k) for k in items}


def submit_documents(
    run_id: str,
    docs: Iterable[Document],
    *,
    policy: RequeuePolicy | None = None,
    skip_done: bool = True,
    skip_submitted: bool = False,
) -> int:
    """Queue one task per document. Skips documents that already have a result in this run
    (``skip_done``) and, with ``skip_submitted``, those already queued by an earlier submit
    (their tasks are in the broker). Returns how many were queued. A document is marked
    submitted after its task is queued, so a crash in between can only queue it twice (and
    its result is still recorded once)."""
    policy_dict = asdict(policy) if policy is not None else None
    r = _redis()
    skip: set[str] = set()
    if skip_done:
        skip |= _decoded(r.hkeys(results_key(run_id)))
    if skip_submitted:
        skip |= _decoded(r.smembers(submitted_key(run_id)))
    n = 0
    # a connection of our own (not the app's pool), so that configure() takes effect at once
    with app.connection_for_write(app.conf.broker_url) as conn:
        for doc in docs:
            if doc.id in skip:
                continue
            process_document.apply_async(
                kwargs={"run_id": run_id, "doc_id": doc.id, "params": doc.params, "policy": policy_dict},
                connection=conn,
            )
            r.sadd(submitted_key(run_id), doc.id)
            n += 1
    return n


def lost_after_default_s() -> float:
    """How long a document may have no result and no task in the broker before the follower
    calls it lost: the visibility timeout (after which the broker would have handed out again
    anything it still held) and a minute for the workers' sweep to act."""
    return float(app.conf.broker_transport_options.get("visibility_timeout", 3600)) + 60.0


def run_via_celery(
    docs: Sequence[Document],
    out_path: str | os.PathLike[str],
    *,
    run_id: str,
    policy: RequeuePolicy | None = None,
    resubmit: bool = False,
    poll_interval_s: float = 1.0,
    progress: Progress | None = None,
    timeout_s: float | None = None,
    lost_after_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunSummary:
    """Submit the documents of a run that have no result yet and follow their results into
    ``out_path`` until every document has one (workers do the work: start them with
    ``celery -A resilience.runner.via_celery worker``). The results hash is the truth: OUT is
    rebuilt from it when following starts and rewritten in input order at the end. Running
    it again resumes; documents already queued are not queued again unless ``resubmit``
    (for a broker that lost its queue). A document with no result and no task in the broker
    for ``lost_after_s`` (default :func:`lost_after_default_s`) was lost by a worker: it is
    queued again once, with a warning (:mod:`resilience.runner.watch`). Raises
    TimeoutError after ``timeout_s``."""
    start = clock()
    order = [d.id for d in docs]
    by_id = {d.id: d for d in docs}
    out = Path(out_path)
    submit_documents(run_id, docs, policy=policy, skip_submitted=not resubmit)
    lost_after_s = lost_after_default_s() if lost_after_s is None else lost_after_s
    watch = LostWatch.start(order, start, lost_after_s=lost_after_s)
    scan_every_s = min(60.0, watch.lost_after_s / 4)
    next_scan = start + scan_every_s
    seen = {r["id"]: r for r in collect_results(run_id) if r["id"] in by_id}
    _write_all(out, order, seen)
    if progress is not None:
        progress.done = len(seen)
        progress.failed = sum(1 for r in seen.values() if r["status"] == "failed")
    with out.open("a", encoding="utf-8") as fh, contextlib.closing(_broker_redis()) as broker:
        while len(seen) < len(by_id):
            now = clock()
            if timeout_s is not None and now - start > timeout_s:
                raise TimeoutError(f"run {run_id}: {len(by_id) - len(seen)} documents still without a result")
            if now >= next_scan:
                verdict = watch.observe(done=seen, in_broker=broker_doc_ids(broker, run_id), now=now)
                _act_on_lost(
                    run_id, verdict, [by_id[d] for d in verdict.resubmit], policy, watch.lost_after_s
                )
                next_scan = now + scan_every_s
            if progress is not None:
                progress.draw()
            sleep(poll_interval_s)
            _append_new(fh, collect_results(run_id), seen, by_id, progress)
    _write_all(out, order, seen)
    attempts = sum(int(r.get("attempts", 0)) for r in seen.values())
    failed = sum(1 for r in seen.values() if r["status"] == "failed")
    return RunSummary(
        total=len(by_id),
        succeeded=len(seen) - failed,
        failed=failed,
        attempts=attempts,
        attempts_total=attempts,
        elapsed_s=clock() - start,
    )


def _write_all(out: Path, order: Sequence[str], results: Mapping[str, dict[str, Any]]) -> None:
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for doc_id in order:
            if doc_id in results:
                fh.write(json.dumps(results[doc_id], ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, out)


def _append_new(
    fh: TextIO,
    current: Iterable[dict[str, Any]],
    seen: dict[str, dict[str, Any]],
    wanted: Mapping[str, Document],
    progress: Progress | None,
) -> None:
    """Append the results that came in since the last look (each document once)."""
    for result in current:
        doc_id = result["id"]
        if doc_id in seen or doc_id not in wanted:
            continue
        seen[doc_id] = result
        fh.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
        if progress is not None:
            progress.finished(_finished_job(result))
    fh.flush()


def _broker_redis() -> Any:
    import redis

    return redis.Redis.from_url(app.conf.broker_url)


def _act_on_lost(
    run_id: str,
    verdict: LostVerdict,
    lost: Sequence[Document],
    policy: RequeuePolicy | None,
    lost_after_s: float,
) -> None:
    for doc in lost:
        log.warning(
            "run %s: document %r has had no result and no task in the broker for %.0fs (a worker "
            "lost it between taking it from the queue and recording it); queueing it again, once",
            run_id,
            doc.id,
            lost_after_s,
        )
    if lost:
        submit_documents(run_id, lost, policy=policy)  # skips any that got a result meanwhile
    for doc_id in verdict.given_up:
        log.warning(
            "run %s: document %r is still without a result or a task %.0fs after it was queued again; "
            "not queueing it a third time. Are workers running (celery -A resilience.runner.via_celery "
            "worker)? Their logs say more; --resubmit queues every document without a result again",
            run_id,
            doc_id,
            lost_after_s,
        )


def _finished_job(result: Mapping[str, Any]) -> FinishedJob:
    payload = result.get("message") if result["status"] == "succeeded" else result.get("error")
    return FinishedJob(
        str(result["id"]), 0, str(result["status"]), int(result.get("attempts", 0)), dict(payload or {})
    )


def collect_results(run_id: str, order: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The results recorded for ``run_id`` (one per document), in ``order`` when given."""
    raw: Mapping[Any, Any] = _redis().hgetall(results_key(run_id))
    by_id = {
        (k.decode() if isinstance(k, bytes) else str(k)): json.loads(
            v.decode() if isinstance(v, bytes) else v
        )
        for k, v in raw.items()
    }
    if order is None:
        return [by_id[k] for k in sorted(by_id)]
    return [by_id[k] for k in order if k in by_id]
