"""The client conformance kit: judge any client of the Messages API from the mock's journal.

The entries and their groupings are the journal's own (:mod:`mockserver.journal`: one entry type,
one analysis, re-exported here); :mod:`.checks` holds the eight checks; :mod:`.scorecard` renders
results; :mod:`.outcomes` summarises a workload.
"""

from mockserver.conformance.checks import (
    RetryAfterCase,
    check_backs_off,
    check_caps,
    check_fallback,
    check_honours_retry_after,
    check_jitter,
    check_no_forbidden_retries,
    check_no_stacking,
    check_survives,
)
from mockserver.conformance.verdicts import CheckResult, Verdict
from mockserver.journal import (
    AttemptTrace,
    Call,
    JournalEntry,
    JournalFormatError,
    calls,
    logical_requests,
    parse_entries,
)

__all__ = [
    "AttemptTrace",
    "Call",
    "CheckResult",
    "JournalEntry",
    "JournalFormatError",
    "RetryAfterCase",
    "Verdict",
    "calls",
    "check_backs_off",
    "check_caps",
    "check_fallback",
    "check_honours_retry_after",
    "check_jitter",
    "check_no_forbidden_retries",
    "check_no_stacking",
    "check_survives",
    "logical_requests",
    "parse_entries",
]
