"""The checks as assertion helpers for tests: pass on PASS, raise AssertionError otherwise.

``N/A`` fails an assertion too: asserting that a client backs off when it never retried would
otherwise pass without proving anything.

Every helper sets ``__tracebackhide__``: a failing assertion's report ends at the test's own
line, with the check's verdict and measurement, not in these frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mockserver.conformance import checks
from mockserver.conformance.checks import RetryAfterCase
from mockserver.conformance.verdicts import CheckResult, Verdict
from mockserver.journal import JournalEntry


def require(result: CheckResult) -> CheckResult:
    __tracebackhide__ = True
    if result.verdict is not Verdict.PASS:
        raise AssertionError(
            f"busysignal check {result.number} ({result.title}): {result.verdict.value}\n"
            f"  measured: {result.measured}\n  {result.explanation}"
        )
    return result


def assert_backs_off(entries: Sequence[JournalEntry], **kw: Any) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_backs_off(entries, **kw))


def assert_honours_retry_after(
    entries: Sequence[JournalEntry], *, required_wait_s: float, tolerance_s: float = 0.005
) -> CheckResult:
    __tracebackhide__ = True
    case = RetryAfterCase(f"retry-after {required_wait_s:g} s", entries, required_wait_s)
    return require(checks.check_honours_retry_after([case], tolerance_s=tolerance_s))


def assert_jitters(entries: Sequence[JournalEntry], **kw: Any) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_jitter(entries, **kw))


def assert_caps(entries: Sequence[JournalEntry], **kw: Any) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_caps(entries, **kw))


def assert_no_forbidden_retries(entries: Sequence[JournalEntry]) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_no_forbidden_retries(entries))


def assert_falls_back(entries: Sequence[JournalEntry], *, chain: Sequence[str]) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_fallback(entries, chain=chain))


def assert_no_stacking(entries: Sequence[JournalEntry], *, claimed_max_attempts: int | None) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_no_stacking(entries, claimed_max_attempts=claimed_max_attempts))


def assert_survives(entries: Sequence[JournalEntry]) -> CheckResult:
    __tracebackhide__ = True
    return require(checks.check_survives(entries))
