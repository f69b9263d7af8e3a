"""The runner's pure core: documents, Retry-After, requeue decisions, AIMD limit, progress line."""

from __future__ import annotations

import email.utils
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import SdkBackoff, classify_status, parse_retry_after
from resilience.runner.core import (
    AttemptOutcome,
    Complete,
    DocumentError,
    Fail,
    Requeue,
    RequeuePolicy,
    decide,
    is_retryable,
    parse_documents,
    result_line,
)
from resilience.runner.limit import AdaptiveLimit
from resilience.runner.progress import format_duration, format_progress

OK = {"type": "message", "role": "assistant", "content": [], "stop_reason": "end_turn"}


def lines(*objs: object) -> list[str]:
    return [json.dumps(o) for o in objs]


def test_parse_documents_accepts_text_and_params_forms() -> None:
    docs = parse_documents(
        [
            *lines({"id": "a", "text": "hello"}),
            "",
            *lines(
                {
                    "id": 7,
                    "params": {
                        "model": "m2",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "x"}],
                    },
                }
            ),
        ],
        model="m1",
        max_tokens=32,
        system="sys",
    )
    assert [d.id for d in docs] == ["a", "7"]
    assert [d.position for d in docs] == [0, 1]
    assert docs[0].params == {
        "messages": [{"role": "user", "content": "hello"}],
        "system": "sys",
        "max_tokens": 32,
        "model": "m1",
    }
    assert docs[1].params["model"] == "m2" and docs[1].params["max_tokens"] == 5
    assert docs[0].custom_id == "doc-0"
    assert docs[0].digest != docs[1].digest


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"in\.jsonl:1: not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"text": "x"}', "needs an 'id'"),
        ('{"id": "", "text": "x"}', "needs an 'id'"),
        ('{"id": "a"}', "needs 'params'"),
        ('{"id": "a", "text": ""}', "'text' must be a non-empty string"),
        ('{"id": "a", "params": {"messages": []}}', "params.messages must be a non-empty list"),
        ('{"id": "a", "params": {"messages": [{"role": "user", "content": "x"}], "stream": true}}', "stream"),
    ],
)
def test_parse_documents_rejects_bad_lines_naming_file_and_line(line: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse_documents([line], source="in.jsonl", model="m")


def test_parse_documents_rejects_duplicates_and_missing_model() -> None:
    with pytest.raises(DocumentError, match=r"in\.jsonl:2: duplicate id 'a' \(first on line 1\)"):
        parse_documents(
            lines({"id": "a", "text": "x"}, {"id": "a", "text": "y"}), source="in.jsonl", model="m"
        )
    with pytest.raises(DocumentError, match="has no model"):
        parse_documents(lines({"id": "a", "text": "x"}))


def test_parse_retry_after_prefers_ms_then_seconds_then_date() -> None:
    assert parse_retry_after({"retry-after-ms": "150", "retry-after": "5"}, now_wall=0.0) == 0.15
    assert parse_retry_after({"retry-after": "2.5"}, now_wall=0.0) == 2.5
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now_wall=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "1"}, now_wall=0.0) == 1.0
    assert parse_retry_after({"retry-after": "0"}, now_wall=0.0) is None
    assert parse_retry_after({"retry-after": "-3"}, now_wall=0.0) is None
    assert parse_retry_after({"retry-after": "soon"}, now_wall=0.0) is None
    assert parse_retry_after({}, now_wall=0.0) is None


def test_decide_completes_on_a_message() -> None:
    assert decide(AttemptOutcome(200, message=OK), 1, RequeuePolicy(), random.Random(0)) == Complete(OK)


def test_decide_requeues_overload_with_the_servers_retry_after() -> None:
    action = decide(AttemptOutcome(529, retry_after_s=7.0), 1, RequeuePolicy(), random.Random(0))
    assert isinstance(action, Requeue) and action.delay_s == 7.0
    capped = decide(AttemptOutcome(429, retry_after_s=9999.0), 1, RequeuePolicy(), random.Random(0))
    assert isinstance(capped, Requeue) and capped.delay_s == 300.0


def test_decide_fails_fast_on_non_retryable_errors_and_keeps_the_last_error() -> None:
    action = decide(
        AttemptOutcome(400, error_type="invalid_request_error", error_message="bad"),
        1,
        RequeuePolicy(),
        random.Random(0),
    )
    assert action == Fail({"status": 400, "type": "invalid_request_error", "message": "bad", "attempts": 1})
    # the library's one rule: x-should-retry overrides the status, except that the caller's
    # own mistakes (400, 401, 403, 404, 413) are never retried, whatever the headers say
    assert isinstance(
        decide(AttemptOutcome(529, should_retry=False), 1, RequeuePolicy(), random.Random(0)), Fail
    )
    assert isinstance(
        decide(AttemptOutcome(418, should_retry=True), 1, RequeuePolicy(), random.Random(0)), Requeue
    )
    assert isinstance(
        decide(AttemptOutcome(400, should_retry=True), 1, RequeuePolicy(), random.Random(0)), Fail
    )


def test_decide_gives_up_after_max_attempts() -> None:
    policy = RequeuePolicy(max_attempts=3)
    assert isinstance(decide(AttemptOutcome(529), 2, policy, random.Random(0)), Requeue)
    last = decide(AttemptOutcome(529, error_type="overloaded_error"), 3, policy, random.Random(0))
    assert isinstance(last, Fail) and last.error["type"] == "overloaded_error" and last.error["attempts"] == 3


@given(st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_backoff_stays_within_its_jittered_exponential_envelope(attempts: int, seed: int) -> None:
    policy = RequeuePolicy(base_delay_s=0.5, max_delay_s=8.0, jitter=0.25)
    action = decide(AttemptOutcome(None), min(attempts, 7), policy, random.Random(seed))
    assert isinstance(action, Requeue)
    cap = min(8.0, 0.5 * 2 ** (min(attempts, 7) - 1))
    assert 0.75 * cap <= action.delay_s <= cap


def test_the_backoff_is_the_librarys_sdk_formula_with_the_policys_numbers() -> None:
    policy = RequeuePolicy(max_attempts=99, base_delay_s=0.5, max_delay_s=8.0, jitter=0.25)
    sdk = SdkBackoff(base=0.5, cap=8.0, reduction=0.25)
    for attempts in range(1, 9):
        action = decide(AttemptOutcome(503), attempts, policy, random.Random(attempts))
        assert isinstance(action, Requeue)
        assert action.delay_s == sdk.delay(attempts, None, random.Random(attempts))
    assert RequeuePolicy(base_delay_s=0.0, max_delay_s=0.0).backoff(3, random.Random(0)) == 0.0


@given(
    st.integers(100, 599), st.sampled_from([None, True, False]), st.sampled_from([None, "overloaded_error"])
)
def test_what_the_runner_retries_is_the_librarys_one_rule(
    status: int, should_retry: bool | None, error_type: str | None
) -> None:
    header = None if should_retry is None else str(should_retry).lower()
    outcome = AttemptOutcome(status, error_type=error_type, should_retry=should_retry)
    assert is_retryable(outcome) == classify_status(status, error_type, header)[1]
    # no response at all is retried unless it was told not to be
    assert is_retryable(AttemptOutcome(None, should_retry=should_retry)) is (should_retry is not False)


def test_requeue_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RequeuePolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        RequeuePolicy(base_delay_s=5, max_delay_s=1)
    with pytest.raises(ValueError, match="jitter"):
        RequeuePolicy(jitter=2)
    with pytest.raises(ValueError, match="jitter"):
        RequeuePolicy(jitter=1.0)  # the SDK formula shortens a delay by less than all of it


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 64))
def test_adaptive_limit_stays_within_bounds(overloads: list[bool], max_limit: int) -> None:
    lim = AdaptiveLimit(max_limit)
    for over in overloads:
        seq = lim.dispatched()
        lim.on_result(seq, over)
        assert 1 <= lim.limit <= max_limit


def test_adaptive_limit_cuts_once_per_congestion_episode() -> None:
    lim = AdaptiveLimit(20, decrease=0.5, initial=20)
    seqs = [lim.dispatched() for _ in range(20)]
    for s in seqs:  # twenty 529s from requests all in flight together: one cut, not twenty
        lim.on_result(s, True)
    assert lim.limit == 10
    s = lim.dispatched()  # sent after the cut: its overload is news
    lim.on_result(s, True)
    assert lim.limit == 5


def test_adaptive_limit_slow_start_doubles_per_round_until_the_first_overload() -> None:
    lim = AdaptiveLimit(100)
    assert lim.limit == 4
    for _ in range(4):
        lim.on_result(lim.dispatched(), False)
    assert lim.limit == 8
    for _ in range(8):
        lim.on_result(lim.dispatched(), False)
    assert lim.limit == 16
    lim.on_result(lim.dispatched(), True)
    assert lim.limit == 12 and not lim.in_slow_start


def test_adaptive_limit_grows_by_about_one_per_round_of_successes() -> None:
    lim = AdaptiveLimit(100, initial=10, slow_start=False)
    for _ in range(10):
        lim.on_result(lim.dispatched(), False)
    assert lim.limit == 10 or lim.limit == 11
    for _ in range(11):
        lim.on_result(lim.dispatched(), False)
    assert lim.limit >= 11


def test_format_progress_shows_counts_rate_eta_and_529_rate() -> None:
    line = format_progress(
        done=500,
        total=2000,
        failed=3,
        processed=450,
        elapsed_s=10.0,
        recent_rate=50.0,
        overload_rate=0.125,
        in_flight=7,
        limit=16,
    )
    assert "500/2000 (3 failed)" in line
    assert " 25.0%" in line
    assert "50.0 doc/s" in line
    assert "ETA 00:30" in line
    assert "529 12.5%" in line
    assert "in flight 7/16" in line
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) == "--:--"
    stalled = format_progress(
        done=0, total=10, failed=0, processed=0, elapsed_s=0.0, recent_rate=None, overload_rate=1.0,
        in_flight=0, limit=0,
    )  # fmt: skip
    assert "ETA --:--" in stalled
    assert "in flight" not in stalled  # no dispatcher (Message Batches)


def test_format_progress_rates_only_what_this_run_processed() -> None:
    resumed = format_progress(
        done=5390, total=6000, failed=0, processed=6, elapsed_s=2.0, recent_rate=None, overload_rate=0.0,
        in_flight=2, limit=4,
    )  # fmt: skip
    assert "5390/6000" in resumed
    assert "|     3.0 doc/s" in resumed  # 6 documents in 2 s, not 5390 / 2 s
    assert "ETA 03:23" in resumed  # 610 left at 3 per second


def test_result_line_carries_message_or_error() -> None:
    ok = json.loads(result_line("a", "succeeded", 2, OK))
    assert ok == {"id": "a", "status": "succeeded", "attempts": 2, "message": OK}
    bad = json.loads(result_line("b", "failed", 8, {"status": 529}))
    assert bad == {"id": "b", "status": "failed", "attempts": 8, "error": {"status": 529}}


def test_decide_requeues_a_local_refusal_without_giving_up_even_at_the_attempt_limit() -> None:
    refused = AttemptOutcome(None, error_type="circuit_open", retry_after_s=2.0, sent=False)
    action = decide(refused, 8, RequeuePolicy(max_attempts=8), random.Random(0))
    assert isinstance(action, Requeue) and action.delay_s == 2.0
