"""The Celery follower and a document a worker lost between taking it from the queue and
recording it as unacknowledged: against a real redis-server (the shared fixture) and the real
Kombu message layout, with the workers played by the test on a fake clock (the follower's
``sleep`` is where the "workers" act and time moves on), so nothing waits for real time.

Also the bounded real-Celery version: a message popped and dropped, a real worker, and a
follower that notices, warns and queues the document again."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")
pytest.importorskip("celery")

from tests.support import FakeClock  # noqa: E402

from resilience.runner.core import parse_documents, result_line  # noqa: E402
from resilience.runner.watch import task_doc  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")

MODEL = "claude-haiku-5-5"


def answer(doc_id: str) -> str:
    message = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": doc_id}]}
    return result_line(doc_id, "succeeded", 1, message)


@pytest.fixture
def broker(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Redis database of this test's own as the broker (and results store) of this process."""
    from resilience.runner import via_celery

    url = redis_url.rsplit("/", 1)[0] + "/5"
    r = redis.Redis.from_url(url)
    r.flushdb()
    via_celery.configure(broker_url=url)
    try:
        yield r
    finally:
        via_celery.configure(broker_url=redis_url)
        r.flushdb()
        r.close()


class Workers:
    """What the workers do each time the follower sleeps: take every queued task; answer it,
    unless the script says it is lost (taken and dropped: the pop-to-unack window) or held
    (kept unacknowledged, as a worker waiting out a countdown, until ``release_at``)."""

    def __init__(self, r: Any, run_id: str, clock: FakeClock, *, lose: set[str], hold_until: float) -> None:
        self.r, self.run_id, self.clock = r, run_id, clock
        self.lose, self.hold_until = set(lose), hold_until
        self.taken: list[str] = []
        self.held: dict[str, bytes] = {}

    def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)
        from resilience.runner.via_celery import results_key

        while (raw := self.r.rpop("celery")) is not None:
            item = task_doc(raw)
            assert item is not None and item[0] == self.run_id
            doc_id = item[1]
            self.taken.append(doc_id)
            if doc_id in self.lose:
                self.lose.discard(doc_id)  # the worker died holding it; its next delivery is answered
                continue
            if doc_id.startswith("held") and self.clock() < self.hold_until:
                self.held[doc_id] = raw
                self.r.hset("unacked", f"tag-{doc_id}", json.dumps([json.loads(raw), "", "celery"]))
                continue
            self.r.hsetnx(results_key(self.run_id), doc_id, answer(doc_id))
        if self.clock() >= self.hold_until:
            for doc_id in list(self.held):
                self.r.hsetnx(results_key(self.run_id), doc_id, answer(doc_id))
                self.r.hdel("unacked", f"tag-{doc_id}")
                del self.held[doc_id]


def test_a_document_lost_by_a_worker_is_found_warned_about_and_queued_again_once(
    broker: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from resilience.runner import via_celery

    ids = ["lost-1", "held-1", "ok-1", "ok-2"]
    docs = parse_documents([json.dumps({"id": i, "text": f"doc {i}"}) for i in ids], model=MODEL)
    clock = FakeClock(0.0)
    workers = Workers(broker, "lost-run", clock, lose={"lost-1"}, hold_until=500.0)
    out = tmp_path / "out.jsonl"
    caplog.set_level(logging.WARNING, logger="resilience.runner.via_celery")
    summary = via_celery.run_via_celery(
        docs, out, run_id="lost-run", lost_after_s=100.0, poll_interval_s=1.0, clock=clock, sleep=workers,
        timeout_s=2000.0,
    )  # fmt: skip
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ids and summary.succeeded == 4
    # the lost one was taken twice (lost, then its resubmission); the held one, in the unacked hash
    # for 500 s (longer than the bound), was alive all along and never queued again
    assert sorted(workers.taken) == sorted(["lost-1", "lost-1", "held-1", "ok-1", "ok-2"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'lost-1'" in warnings[0] and "queueing it again, once" in warnings[0]
    assert clock() < 500.0 + 100.0  # it did not wait for the held one's fate to act on the lost one


def test_a_document_lost_twice_is_queued_again_only_once_and_the_follower_says_so(
    broker: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from resilience.runner import via_celery

    docs = parse_documents([json.dumps({"id": "gone", "text": "doc gone"})], model=MODEL)
    clock = FakeClock(0.0)
    workers = Workers(broker, "twice-run", clock, lose={"gone"}, hold_until=0.0)

    def lose_every_delivery(seconds: float) -> None:
        workers.lose.add("gone")
        workers(seconds)

    caplog.set_level(logging.WARNING, logger="resilience.runner.via_celery")
    with pytest.raises(TimeoutError, match="1 documents still without a result"):
        via_celery.run_via_celery(
            docs, tmp_path / "out.jsonl", run_id="twice-run", lost_after_s=50.0, clock=clock,
            sleep=lose_every_delivery, timeout_s=1000.0,
        )  # fmt: skip
    assert workers.taken == ["gone", "gone"]  # the first delivery and one resubmission, no more
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "queueing it again, once" in warnings[0]
    assert "still without a result" in warnings[1] and "not queueing it a third time" in warnings[1]


@pytest.mark.slow
def test_a_real_worker_answers_a_document_the_follower_queued_again_after_it_was_lost(
    broker: Any, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.resilience.runner.test_celery_distributed import start_worker, stop_worker

    from mockserver import MockServer
    from resilience.runner import via_celery

    url = redis_url.rsplit("/", 1)[0] + "/5"
    docs = parse_documents(
        [json.dumps({"id": f"r{i}", "text": f"real lost {i}"}) for i in range(6)], model=MODEL
    )
    via_celery.submit_documents("real-lost", docs)
    raw = broker.rpop("celery")  # a worker took it and died before recording it
    assert raw is not None
    lost = task_doc(raw)
    assert lost is not None
    caplog.set_level(logging.WARNING, logger="resilience.runner.via_celery")
    with MockServer(seed=2) as server:
        env = {
            **os.environ,
            "BUSYSIGNAL_BROKER_URL": url,
            "ANTHROPIC_API_KEY": "k",
            "ANTHROPIC_BASE_URL": server.url,
        }
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            # the follower resumes the run (nothing is queued twice) and notices the lost one after
            # its bound: 1 s without a result or a task, on the real clock, with a 120 s cap
            summary = via_celery.run_via_celery(
                docs, tmp_path / "out.jsonl", run_id="real-lost", lost_after_s=1.0, poll_interval_s=0.05,
                timeout_s=120.0,
            )  # fmt: skip
        finally:
            stop_worker(worker)
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [d.id for d in docs] and summary.succeeded == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(repr(lost[1]) in w and "queueing it again" in w for w in warnings), warnings
