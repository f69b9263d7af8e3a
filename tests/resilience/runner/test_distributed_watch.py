"""LostWatch, the pure core that finds the documents of a Celery run nobody will answer, on
times the test gives it; and the decoding of task messages as the Redis transport stores them."""

from __future__ import annotations

import base64
import json

import pytest

from resilience.runner.watch import LostVerdict, LostWatch, task_doc


def test_a_document_with_no_result_and_no_task_past_the_bound_is_resubmitted_once_then_given_up() -> None:
    watch = LostWatch.start(["a", "b"], 0.0, lost_after_s=100.0)
    assert watch.observe(done=[], in_broker=[], now=100.0) == LostVerdict()  # not *past* the bound yet
    assert watch.observe(done=["b"], in_broker=[], now=100.5) == LostVerdict(resubmit=("a",))
    # queued again at 100.5: alive from then on, so not lost again before 200.5
    assert watch.observe(done=[], in_broker=[], now=200.0) == LostVerdict()
    assert watch.observe(done=[], in_broker=[], now=201.0) == LostVerdict(given_up=("a",))
    assert watch.observe(done=[], in_broker=[], now=500.0) == LostVerdict()  # said once, no third try
    assert watch.resubmitted == {"a"}


def test_a_document_seen_in_the_broker_is_alive_however_long_it_takes() -> None:
    watch = LostWatch.start(["backlog", "slow"], 0.0, lost_after_s=10.0)
    for t in range(5, 1000, 5):  # queued behind a backlog, or retried with countdowns for ages
        assert watch.observe(done=[], in_broker=["backlog", "slow"], now=float(t)) == LostVerdict()
    # then a worker takes "slow" and dies in the window: gone from the broker, no result
    assert watch.observe(done=["backlog"], in_broker=[], now=1005.0) == LostVerdict()
    assert watch.observe(done=[], in_broker=[], now=1010.5) == LostVerdict(resubmit=("slow",))


def test_a_finished_document_is_never_lost_and_other_runs_do_not_count() -> None:
    watch = LostWatch.start(["a"], 0.0, lost_after_s=1.0)
    assert watch.observe(done=["a"], in_broker=["not-ours"], now=50.0) == LostVerdict()
    assert "not-ours" not in watch.last_alive


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lost_after_s must be a positive"):
        LostWatch.start(["a"], 0.0, lost_after_s=0.0)


def test_task_doc_reads_the_run_and_document_of_a_task_message() -> None:
    body = json.dumps([[], {"run_id": "r1", "doc_id": "d7", "params": {}}, {}]).encode()
    message = {"body": base64.b64encode(body).decode(), "properties": {"body_encoding": "base64"}}
    assert task_doc(json.dumps(message)) == ("r1", "d7")
    assert task_doc(json.dumps({"body": body.decode(), "properties": {}})) == ("r1", "d7")
    assert task_doc(b"not json") is None
    assert task_doc(json.dumps({"body": json.dumps([[], {}, {}])})) is None
