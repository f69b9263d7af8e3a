"""The journal, the source of truth: the live ring, THE entry type and THE analysis.

* :mod:`.entry` — :class:`JournalEntry`, one request: live while the server answers it, and the
  same class parsed back from an ENTRY dict (``JOURNAL.md``'s format) by :func:`parse_entries`;
* :mod:`.ring` — :class:`Journal`, the bounded ring the server appends to, and :class:`JournalFilter`;
* :mod:`.analysis` — what "succeeded" means, logical requests, calls, gaps and waits, retry
  amplification: the one reading that conformance, load tests, the plugin and ``MockServer.journal``
  share;
* :mod:`.export` — ``GET /_busysignal/journal`` streamed in chunks (imports aiohttp: not loaded here).
"""

from mockserver.journal.analysis import (
    MESSAGES_PATH,
    SERVER_SIDE_STATUSES,
    TRANSPORT_FAULTS,
    AttemptTrace,
    Call,
    LogicalRequest,
    amplification,
    attempt_succeeded,
    call_key,
    calls,
    failure_kind,
    first_answer,
    generation_entries,
    is_server_side_failure,
    logical_key,
    logical_requests,
    retry_amplification,
    retry_starts,
    waits_by_step,
)
from mockserver.journal.entry import (
    ENTRY_KEYS,
    KEPT_HEADERS,
    RETRY_COUNT_AT,
    VERSION_AT,
    JournalEntry,
    JournalFormatError,
    body_digest,
    decided_by,
    entries_to_jsonl,
    entry_json,
    kept_header_values,
    logical_id,
    parse_entries,
    parse_retry_count,
    wall_text,
)
from mockserver.journal.ring import DEFAULT_JOURNAL_SIZE, Journal, JournalFilter

__all__ = [
    "DEFAULT_JOURNAL_SIZE",
    "ENTRY_KEYS",
    "KEPT_HEADERS",
    "MESSAGES_PATH",
    "RETRY_COUNT_AT",
    "SERVER_SIDE_STATUSES",
    "TRANSPORT_FAULTS",
    "VERSION_AT",
    "AttemptTrace",
    "Call",
    "Journal",
    "JournalEntry",
    "JournalFilter",
    "JournalFormatError",
    "LogicalRequest",
    "amplification",
    "attempt_succeeded",
    "body_digest",
    "call_key",
    "calls",
    "decided_by",
    "entries_to_jsonl",
    "entry_json",
    "failure_kind",
    "first_answer",
    "generation_entries",
    "is_server_side_failure",
    "kept_header_values",
    "logical_id",
    "logical_key",
    "logical_requests",
    "parse_entries",
    "parse_retry_count",
    "retry_amplification",
    "retry_starts",
    "waits_by_step",
    "wall_text",
]
