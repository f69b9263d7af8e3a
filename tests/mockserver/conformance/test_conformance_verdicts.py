"""Verdicts that could not judge are not passes: lost calls, unfinished calls, client bugs (pure)."""

from __future__ import annotations

import functools
from typing import Any

import anthropic
from tests.mockserver.conformance.test_conformance_checks import Journal

from mockserver.conformance import RetryAfterCase, Verdict
from mockserver.conformance.checks import check_backs_off, check_caps, check_honours_retry_after, check_jitter
from mockserver.conformance.probes import probes
from mockserver.conformance.raised import client_error, is_api_error
from mockserver.conformance.runner import ProbeRun, judge
from mockserver.conformance.verdicts import Score, result


def _lost(n: int, status: int = 529) -> Journal:
    j = Journal()
    for c in range(n):
        j.add(start=0.01 * c, status=status, logical=f"L{c}", prompt=f"P{c}")
    return j


def test_a_client_that_never_retried_fails_the_overload_checks_with_its_lost_calls() -> None:
    r1 = check_backs_off(_lost(8).entries)
    assert r1.verdict is Verdict.FAIL and r1.measured == "8 calls lost without a retry"
    assert "were never retried" in r1.explanation and "(529)" in r1.explanation
    r2 = check_honours_retry_after([RetryAfterCase("retry-after 1", _lost(1, 429).entries, 1.0)])
    assert r2.verdict is Verdict.FAIL and r2.measured == "1 calls lost without a retry"
    r3 = check_jitter(_lost(12).entries)
    assert r3.verdict is Verdict.FAIL and r3.measured == "12 calls lost without a retry"


def test_no_retries_are_not_applicable_when_nothing_was_lost() -> None:
    answered = Journal().add(start=0).entries
    assert check_backs_off(answered).verdict is Verdict.NOT_APPLICABLE
    assert check_jitter(answered).verdict is Verdict.NOT_APPLICABLE
    # a spend-limit 429 must not be retried: ending there is not a lost call for check 2
    spend = Journal().add(start=0, status=429, reason={"fault": "429-no-retry"}).entries
    assert check_honours_retry_after([RetryAfterCase("x", spend, 1.0)]).verdict is Verdict.NOT_APPLICABLE


def test_caps_fail_calls_still_running_when_the_kit_stopped_waiting() -> None:
    # a client that waits 40 s between attempts: the journal shows two short attempts only
    j = Journal().retries([40.0], statuses=[529, 529])
    assert check_caps(j.entries).verdict is Verdict.PASS  # the journal alone cannot tell
    r = check_caps(j.entries, unfinished=2, waited_s=65.0)
    assert r.verdict is Verdict.FAIL
    assert "2 calls had not returned when the kit stopped waiting after 65.00 s" in r.explanation
    assert check_caps([], unfinished=1).verdict is Verdict.FAIL  # nothing sent, and still running


def test_the_score_counts_judged_checks_apart_from_not_applicable() -> None:
    p, f, na = Verdict.PASS, Verdict.FAIL, Verdict.NOT_APPLICABLE
    results = [result(n, v, "m", "e") for n, v in zip(range(1, 9), [p, p, p, p, p, na, p, na], strict=True)]
    score = Score.of(results)
    assert str(score) == "6/6 judged, 2 n/a" and score.ok
    assert not Score.of([result(1, na, "m", "e")]).ok  # nothing judged is not a pass
    assert not Score.of([result(1, p, "m", "e"), result(2, f, "m", "e")]).ok


def _raise_value_error(**params: Any) -> None:
    raise ValueError(f"bad params {sorted(params)}")


def test_client_error_names_the_type_message_and_the_clients_own_line() -> None:
    try:
        functools.partial(_raise_value_error, model="m")()  # a stdlib frame between: skipped
    except ValueError as exc:
        err = client_error(exc)
    assert err.type_name == "ValueError" and err.message == "bad params ['model']"
    assert err.where is not None and "test_conformance_verdicts.py:" in err.where
    assert err.where.endswith('in _raise_value_error: raise ValueError(f"bad params {sorted(params)}")')
    assert str(err).startswith("ValueError: bad params ['model'] (at ")
    assert not is_api_error(ValueError("x"))
    assert is_api_error(anthropic.APIConnectionError(request=_request()))


def _request() -> Any:
    import httpx2

    return httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")


def test_a_broken_probe_fails_the_checks_it_feeds_and_shows_the_exception() -> None:
    by_name = {p.name: p for p in probes("m")}
    answered = Journal().add(start=0).entries
    err = client_error(ValueError("boom"))
    runs = {
        "backoff": ProbeRun(by_name["backoff"], [], raised={"ValueError": 8}, errors=[err]),
        "refusal-400": ProbeRun(by_name["refusal-400"], answered),
    }
    r = {x.number: x for x in judge(runs, chain=["m"], claimed_max_attempts=3)}
    assert r[1].verdict is Verdict.FAIL
    assert r[1].measured == (
        "raised ValueError ×8 in probe backoff; no attempt reached the mock in probe backoff"
    )
    assert "ValueError: boom" in r[1].explanation
    assert r[7].verdict is Verdict.FAIL  # stacking reads every probe
    assert r[5].verdict is not Verdict.FAIL  # refusal-400 was not broken
