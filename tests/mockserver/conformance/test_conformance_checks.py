"""The pure journal analysis and the eight checks, on synthetic journals."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mockserver.conformance import (
    JournalFormatError,
    RetryAfterCase,
    Verdict,
    calls,
    check_backs_off,
    check_caps,
    check_fallback,
    check_honours_retry_after,
    check_jitter,
    check_no_forbidden_retries,
    check_no_stacking,
    check_survives,
    logical_requests,
    parse_entries,
)
from mockserver.conformance.checks import largest_group
from mockserver.journal import JournalEntry


class Journal:
    """Builds ENTRY dicts as the server would write them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        *,
        start: float,
        status: int | None = 200,
        logical: str = "L1",
        prompt: str = "P1",
        model: str = "claude-sonnet-5-5",
        retry_count: int | None = 0,
        fault: str | None = None,
        latency: float = 0.002,
        reason: dict[str, Any] | None = None,
        key: str = "k1",
    ) -> Journal:
        self.rows.append(
            {
                "seq": len(self.rows),
                "request_id": f"req_{len(self.rows)}",
                "method": "POST",
                "path": "/v1/messages",
                "wall_start": 1_700_000_000.0 + start,
                "start": start,
                "end": start + latency,
                "model": model,
                "api_key_id": key,
                "retry_count": retry_count,
                "body_digest": f"{logical}-{model}",
                "prompt_digest": prompt,
                "logical_id": f"{logical}-{model}",
                "stream": False,
                "status": status,
                "error_type": None if status in (200, None) else "overloaded_error",
                "fault": fault if fault is not None else (None if status in (200, None) else "http_error"),
                "reason": reason or {},
                "bytes_sent": 10,
                "events_sent": 0,
                "client_gone": False,
                "headers": {},
            }
        )
        return self

    def retries(self, waits: list[float], *, statuses: list[int], t0: float = 0.0, **kw: Any) -> Journal:
        t = t0
        for i, st in enumerate(statuses):
            self.add(start=t, status=st, retry_count=i, **kw)
            if i < len(waits):
                t += 0.002 + waits[i]
        return self

    @property
    def entries(self) -> list[JournalEntry]:
        return parse_entries(self.rows)


def test_parse_names_the_missing_key() -> None:
    row = Journal().add(start=0.0).rows[0]
    del row["prompt_digest"]
    with pytest.raises(JournalFormatError, match=r"seq=0: missing field .prompt_digest."):
        parse_entries([row])


def test_parse_rejects_a_non_numeric_start() -> None:
    row = Journal().add(start=0.0).rows[0]
    row["start"] = "soon"
    with pytest.raises(JournalFormatError, match="seq=0"):
        parse_entries([row])


def test_waits_are_measured_from_the_end_of_the_previous_attempt() -> None:
    j = Journal().add(start=0.0, status=529, latency=0.1).add(start=0.6, retry_count=1)
    (trace,) = logical_requests(j.entries)
    assert trace.gaps == pytest.approx([0.6])
    assert trace.waits == pytest.approx([0.5])
    assert trace.succeeded


def test_retry_layers_see_an_sdk_retrying_inside_an_outer_loop() -> None:
    j = Journal()
    t = 0.0
    for _outer in range(5):
        for rc in range(3):
            j.add(start=t, status=529, retry_count=rc)
            t += 0.5
    (trace,) = logical_requests(j.entries)
    assert trace.retry_layers() == [3, 3, 3, 3, 3]


def test_retry_layers_of_single_attempt_calls_are_runs_of_one() -> None:
    j = Journal().retries([0.1, 0.2], statuses=[529, 529, 200])
    for row in j.rows:
        row["retry_count"] = 0
    (trace,) = logical_requests(j.entries)
    assert trace.retry_layers() == [1, 1, 1]


def test_calls_group_attempts_across_models_by_prompt() -> None:
    j = Journal().add(start=0.0, status=529).add(start=0.5, model="claude-haiku-5-5")
    (call,) = calls(j.entries)
    assert call.models == ["claude-sonnet-5-5", "claude-haiku-5-5"]
    assert call.answered_by == "claude-haiku-5-5"
    assert len(logical_requests(j.entries)) == 2


# 1 backs off -----------------------------------------------------------------------------------
def test_backs_off_passes_growing_waits_above_the_floor() -> None:
    j = Journal().retries([0.5, 1.0, 2.0], statuses=[529, 529, 529, 200])
    r = check_backs_off(j.entries)
    assert r.verdict is Verdict.PASS
    assert "×4.00" in r.measured


def test_backs_off_fails_constant_waits() -> None:
    j = Journal().retries([0.5, 0.5, 0.5], statuses=[529, 529, 529, 200])
    r = check_backs_off(j.entries)
    assert r.verdict is Verdict.FAIL
    assert "grew only ×1.00" in r.explanation


def test_backs_off_fails_an_immediate_retry() -> None:
    j = Journal().retries([0.001, 1.0], statuses=[529, 529, 200])
    r = check_backs_off(j.entries, floor_s=0.01)
    assert r.verdict is Verdict.FAIL
    assert "before retry 1 the median wait was 1 ms, under the 10 ms floor" in r.explanation


def test_backs_off_accepts_full_jitter_with_some_near_zero_waits() -> None:
    rng = random.Random(11)
    j = Journal()
    for c in range(8):
        waits = [0.0005 if c == 0 else rng.uniform(0, 1.0), rng.uniform(0, 2.0), rng.uniform(0, 4.0)]
        j.retries(waits, statuses=[529, 529, 529, 200], logical=f"L{c}", prompt=f"P{c}")
    r = check_backs_off(j.entries)
    assert r.verdict is Verdict.PASS, r.explanation


def test_backs_off_is_not_applicable_without_retries() -> None:
    assert check_backs_off(Journal().add(start=0).entries).verdict is Verdict.NOT_APPLICABLE


# 2 retry-after ---------------------------------------------------------------------------------
def test_retry_after_passes_when_the_wait_covers_the_header() -> None:
    j = Journal().retries([0.26], statuses=[429, 200])
    r = check_honours_retry_after([RetryAfterCase("retry-after-ms 250", j.entries, 0.25)])
    assert r.verdict is Verdict.PASS


def test_retry_after_fails_an_early_retry_and_names_the_case() -> None:
    j = Journal().retries([0.4], statuses=[429, 200])
    r = check_honours_retry_after([RetryAfterCase("retry-after 1", j.entries, 1.0)])
    assert r.verdict is Verdict.FAIL
    assert "retry-after 1: retried after 402 ms" in r.explanation


# 3 jitter --------------------------------------------------------------------------------------
def _burst(wait_for: Any, clients: int = 12) -> Journal:
    j = Journal()
    for c in range(clients):
        j.retries(wait_for(c), statuses=[529, 529, 529, 200], logical=f"L{c}", prompt=f"P{c}", t0=0.0001 * c)
    return j


def test_jitter_fails_only_the_retry_step_without_jitter() -> None:
    rng = random.Random(7)
    j = _burst(lambda c: [0.5 * (1 - 0.25 * rng.random()), 1.0 * (1 - 0.25 * rng.random()), 2.0])
    r = check_jitter(j.entries, min_relative_spread=0.05)
    # the third step has no jitter at all
    assert r.verdict is Verdict.FAIL
    assert "retry 3" in r.explanation and "retry 1:" not in r.explanation


def test_jitter_fails_identical_waits_and_reports_the_group() -> None:
    j = _burst(lambda c: [0.5, 1.0, 2.0])
    r = check_jitter(j.entries)
    assert r.verdict is Verdict.FAIL
    assert r.details["largest_group"] >= 12


def test_jitter_passes_full_jitter() -> None:
    rng = random.Random(3)
    j = _burst(lambda c: [rng.uniform(0.05, 0.5), rng.uniform(0.05, 1.0), rng.uniform(0.05, 2.0)])
    r = check_jitter(j.entries)
    assert r.verdict is Verdict.PASS, r.explanation


def test_one_delayed_client_does_not_pass_for_jitter() -> None:
    j = _burst(lambda c: [0.5 + (0.2 if c == 3 else 0.0), 1.0, 2.0])
    r = check_jitter(j.entries)
    assert r.verdict is Verdict.FAIL
    assert "retry 1:" in r.explanation


def test_largest_group_counts_instants_within_the_window() -> None:
    assert largest_group([0.0, 0.004, 0.009, 0.5, 0.505], 0.01) == 3
    assert largest_group([], 0.01) == 0


# 4 caps ----------------------------------------------------------------------------------------
def test_caps_fail_fifteen_attempts() -> None:
    j = Journal().retries([0.1] * 14, statuses=[529] * 15)
    r = check_caps(j.entries, max_attempts=10)
    assert r.verdict is Verdict.FAIL
    assert "15 attempts (cap 10)" in r.explanation


def test_caps_fail_a_call_that_keeps_trying_past_the_time_cap() -> None:
    j = Journal().retries([8.0] * 8, statuses=[529] * 9)
    r = check_caps(j.entries, max_total_s=60.0)
    assert r.verdict is Verdict.FAIL
    assert "kept trying for 64.02 s (cap 60.00 s)" in r.explanation


def test_caps_pass_a_client_that_gives_up() -> None:
    j = Journal().retries([0.5, 1.0], statuses=[529, 529, 529])
    assert check_caps(j.entries).verdict is Verdict.PASS


# 5 forbidden -----------------------------------------------------------------------------------
def test_forbidden_retry_of_a_400_fails() -> None:
    j = Journal().retries([4.0, 4.0], statuses=[400, 400, 400])
    r = check_no_forbidden_retries(j.entries)
    assert r.verdict is Verdict.FAIL
    assert r.measured == "retried 400 ×2"


def test_spend_limit_429_is_judged_by_its_reason() -> None:
    j = Journal().retries([0.5], statuses=[429, 429], reason={"rule": "spend-limit"})
    r = check_no_forbidden_retries(j.entries)
    assert r.verdict is Verdict.FAIL
    assert "spend-limit 429" in r.measured


def test_an_ordinary_429_may_be_retried() -> None:
    j = Journal().retries([0.5], statuses=[429, 200])
    assert check_no_forbidden_retries(j.entries).verdict is Verdict.NOT_APPLICABLE


def test_refusals_that_end_their_request_pass() -> None:
    j = Journal()
    for i, st in enumerate([400, 401, 403, 404, 413]):
        j.add(start=float(i), status=st, logical=f"L{i}", prompt=f"P{i}")
    r = check_no_forbidden_retries(j.entries)
    assert r.verdict is Verdict.PASS
    assert "0 retries of 5 refusals" in r.measured


# 6 fallback ------------------------------------------------------------------------------------
CHAIN = ("claude-sonnet-5-5", "claude-haiku-5-5")


def test_fallback_after_overload_in_order_passes() -> None:
    j = Journal().retries([0.1], statuses=[529, 529]).add(start=1.0, model=CHAIN[1])
    r = check_fallback(j.entries, chain=CHAIN)
    assert r.verdict is Verdict.PASS
    assert "claude-sonnet-5-5 → claude-haiku-5-5" in r.measured


def test_fallback_after_a_400_fails() -> None:
    j = Journal().add(start=0.0, status=400).add(start=0.1, model=CHAIN[1], status=400)
    r = check_fallback(j.entries, chain=CHAIN)
    assert r.verdict is Verdict.FAIL
    assert "after a caller error (400)" in r.explanation


def test_fallback_in_the_wrong_order_fails() -> None:
    j = Journal().add(start=0.0, status=529, model=CHAIN[1]).add(start=0.1, model=CHAIN[0])
    assert check_fallback(j.entries, chain=CHAIN).verdict is Verdict.FAIL


def test_a_chain_client_stuck_on_an_overloaded_model_fails() -> None:
    j = Journal().retries([0.1, 0.2], statuses=[529, 529, 529])
    r = check_fallback(j.entries, chain=CHAIN)
    assert r.verdict is Verdict.FAIL
    assert "instead of falling back" in r.explanation


def test_switching_models_without_a_chain_fails() -> None:
    j = Journal().add(start=0.0, status=529).add(start=0.1, model=CHAIN[1])
    assert check_fallback(j.entries, chain=CHAIN[:1]).verdict is Verdict.FAIL
    assert check_fallback(Journal().add(start=0).entries, chain=()).verdict is Verdict.NOT_APPLICABLE


# 7 stacking ------------------------------------------------------------------------------------
def test_stacking_five_by_three_fails_with_the_layers_named() -> None:
    j = Journal()
    t = 0.0
    for _ in range(5):
        for rc in range(3):
            j.add(start=t, status=529, retry_count=rc)
            t += 0.5
    r = check_no_stacking(j.entries, claimed_max_attempts=5)
    assert r.verdict is Verdict.FAIL
    assert "5 outer × 3 SDK attempts" in r.measured
    assert "more than the 5 claimed" in r.explanation


def test_one_layer_within_its_claim_passes() -> None:
    j = Journal().retries([0.5, 1.0], statuses=[529, 529, 529])
    assert check_no_stacking(j.entries, claimed_max_attempts=3).verdict is Verdict.PASS
    assert check_no_stacking(j.entries, claimed_max_attempts=2).verdict is Verdict.FAIL


# 8 survives ------------------------------------------------------------------------------------
def test_survival_after_a_mid_stream_error_passes() -> None:
    j = Journal().add(start=0.0, status=200, fault="stream_error_event").add(start=0.5, retry_count=0)
    r = check_survives(j.entries)
    assert r.verdict is Verdict.PASS
    assert "200+stream_error_event" in r.explanation


def test_a_stalled_stream_that_finished_counts_as_answered() -> None:
    j = Journal().add(start=0.0, status=200, fault="stream_stall")
    (call,) = calls(j.entries)
    assert call.succeeded
    assert check_survives(j.entries).verdict is Verdict.NOT_APPLICABLE


def test_a_call_lost_to_a_reset_fails() -> None:
    j = Journal().add(start=0.0, status=None, fault="reset")
    r = check_survives(j.entries)
    assert r.verdict is Verdict.FAIL
    assert "reset" in r.explanation


class _ClosingJournal:
    """A server journal whose last entry the server closes only after a few reads, as when a
    client holds its whole answer a moment before the server thread closes the entry."""

    def __init__(self, rows: list[dict[str, Any]], open_reads: int) -> None:
        self.rows, self.open_reads, self.reads = rows, open_reads, 0

    def entries(self) -> list[dict[str, Any]]:
        self.reads += 1
        if self.reads > self.open_reads:
            return self.rows
        return [*self.rows[:-1], {**self.rows[-1], "end": None}]


def test_settled_entries_waits_for_the_server_to_close_an_answered_request() -> None:
    from mockserver.conformance.runner import settled_entries

    journal = _ClosingJournal(Journal().add(start=0.0).add(start=0.1, logical="L2", prompt="P2").rows, 3)
    entries = settled_entries(journal.entries)
    assert journal.reads == 4 and all(e.end is not None for e in entries)
    assert all(e.succeeded for e in entries)


def test_settled_entries_does_not_wait_when_calls_are_still_running() -> None:
    from mockserver.conformance.runner import settled_entries

    journal = _ClosingJournal(Journal().add(start=0.0).rows, 1000)
    [entry] = settled_entries(journal.entries, wait=False)
    assert journal.reads == 1 and entry.end is None
