"""THE journal analysis: what the harness claims about a client, computed from journal entries.

Pure code: no I/O, no clock. Conformance, the load-test report, the pytest plugin and
``MockServer.journal`` all read a journal through this module. What an attempt, success, a logical
request, a call, a gap, a wait and retry amplification are is stated once, in the "Definitions"
section of ``mockserver/JOURNAL.md``; each function below names the definition it computes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockserver.faults.kinds import COMPLETING_LABELS, TRANSPORT_LABELS
from mockserver.wire import paths

if TYPE_CHECKING:
    from mockserver.journal.entry import JournalEntry

MESSAGES_PATH = paths.MESSAGES
# HTTP statuses that mean "the service is overloaded or broken", as opposed to "the caller is wrong".
SERVER_SIDE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504, 529})
# Connection or stream faults after which a retry or a fallback is legitimate.
TRANSPORT_FAULTS: frozenset[str] = TRANSPORT_LABELS
# Faults after which the response still arrived whole (only later than it would have).
_COMPLETING_FAULTS: frozenset[str | None] = frozenset({None, *COMPLETING_LABELS})


def attempt_succeeded(entry: JournalEntry) -> bool:
    """THE definition of success: the response arrived whole ("An attempt succeeded" in JOURNAL.md)."""
    status = entry.status
    return (
        status is not None
        and 200 <= status < 300
        and entry.end is not None
        and not entry.client_gone
        and entry.error_type is None
        and entry.fault in _COMPLETING_FAULTS
    )


def failure_kind(entry: JournalEntry) -> str:
    """What an attempt got, short: ``200``, ``529``, ``reset``, ``200+stream_error_event``..."""
    if entry.status is None:
        return entry.fault or "no-response"
    if entry.fault is not None and entry.fault not in ("delay", "http_error"):
        return f"{entry.status}+{entry.fault}"
    return str(entry.status)


def is_server_side_failure(entry: JournalEntry) -> bool:
    """Overload, server error or a dropped connection/stream: worth a retry or a fallback."""
    if entry.status is not None and entry.status in SERVER_SIDE_STATUSES:
        return True
    return entry.fault in TRANSPORT_FAULTS


def logical_key(entry: JournalEntry) -> str:
    """The logical request an entry belongs to: its ``logical_id``; ``seq:N`` for an entry the
    server closed before it read a body (no digest), which is a logical request of its own."""
    return entry.logical_id or f"seq:{entry.seq}"


def call_key(entry: JournalEntry) -> str:
    """The call an entry belongs to: ``<api_key_id>:p:<prompt_digest>``, which survives a model
    fallback (the body differs only in ``model``/``max_tokens``); ``l:<logical key>`` when the
    body had no prompt digest (not JSON), so that the call is its logical request."""
    if entry.prompt_digest:
        return f"{entry.api_key_id}:p:{entry.prompt_digest}"
    return f"l:{logical_key(entry)}"


def first_answer(attempts: Iterable[JournalEntry]) -> JournalEntry | None:
    """The successful attempt that finished first (when a call was answered), or None."""
    done = [a for a in attempts if a.succeeded and a.end is not None]
    return min(done, key=lambda a: (a.end, a.seq)) if done else None


@dataclass(frozen=True, slots=True)
class LogicalRequest:
    """One logical request: a client's attempts at one exact body, in arrival order."""

    logical_id: str
    attempts: tuple[JournalEntry, ...]

    @property
    def starts(self) -> tuple[float, ...]:
        return tuple(a.start for a in self.attempts)

    @property
    def gaps(self) -> tuple[float, ...]:
        """Start-to-start seconds between consecutive attempts."""
        return tuple(b - a for a, b in itertools.pairwise(self.starts))

    @property
    def waits(self) -> tuple[float, ...]:
        """Seconds from the end of an attempt to the start of the next (the client's own wait).

        Falls back to the start-to-start gap when an attempt had not finished by the next one's
        start (a hang the client gave up on)."""
        out: list[float] = []
        for prev, nxt in itertools.pairwise(self.attempts):
            anchor = prev.end if prev.end is not None and prev.end <= nxt.start else prev.start
            out.append(nxt.start - anchor)
        return tuple(out)

    @property
    def idle_gaps(self) -> tuple[float, ...]:
        """The waits (:attr:`waits`), by the name ``MockServer.journal`` has always given them."""
        return self.waits

    @property
    def statuses(self) -> tuple[int | None, ...]:
        return tuple(a.status for a in self.attempts)

    @property
    def retry_counts(self) -> tuple[int | None, ...]:
        return tuple(a.retry_count for a in self.attempts)

    @property
    def final(self) -> JournalEntry:
        return self.attempts[-1]

    @property
    def succeeded(self) -> bool:
        """One attempt succeeded (:func:`attempt_succeeded`)."""
        return any(a.succeeded for a in self.attempts)

    def retry_layers(self) -> list[int]:
        """Lengths of the runs of ``x-stainless-retry-count`` 0,1,2,…: one run per SDK-level call.

        A client whose SDK retries inside another retry loop shows several runs longer than one
        (5 tenacity tries × 3 SDK attempts = five runs of three). Attempts without the header count
        as runs of one."""
        runs: list[int] = []
        for a in self.attempts:
            if runs and a.retry_count is not None and a.retry_count > 0:
                runs[-1] += 1
            else:
                runs.append(1)
        return runs


# the conformance kit's name for a logical request (one class: its attempt trace)
AttemptTrace = LogicalRequest


@dataclass(frozen=True, slots=True)
class Call:
    """One thing the caller asked for: every attempt on every model with the same prompt and key."""

    key: str
    attempts: tuple[JournalEntry, ...]

    @property
    def models(self) -> list[str | None]:
        """The models tried, in order, consecutive repeats collapsed."""
        out: list[str | None] = []
        for a in self.attempts:
            if not out or out[-1] != a.model:
                out.append(a.model)
        return out

    @property
    def answer(self) -> JournalEntry | None:
        """The attempt that answered the call (:func:`first_answer`)."""
        return first_answer(self.attempts)

    @property
    def answered_by(self) -> str | None:
        answer = self.answer
        return None if answer is None else answer.model

    @property
    def succeeded(self) -> bool:
        """One attempt succeeded (:func:`attempt_succeeded`)."""
        return any(a.succeeded for a in self.attempts)

    @property
    def first_start(self) -> float:
        return self.attempts[0].start

    @property
    def last_end(self) -> float:
        return max(a.end if a.end is not None else a.start for a in self.attempts)

    @property
    def duration(self) -> float:
        return self.last_end - self.first_start

    @property
    def latency_to_success(self) -> float | None:
        """Seconds from the first attempt's start to the answer's end; None when unanswered."""
        answer = self.answer
        return None if answer is None or answer.end is None else answer.end - self.first_start


def _grouped(
    entries: Iterable[JournalEntry], key: Callable[[JournalEntry], str]
) -> dict[str, list[JournalEntry]]:
    """Entries by ``key``, in ``seq`` order, the groups in the order of their first entry."""
    groups: dict[str, list[JournalEntry]] = {}
    for e in sorted(entries, key=lambda x: x.seq):
        groups.setdefault(key(e), []).append(e)
    return groups


def logical_requests(entries: Iterable[JournalEntry]) -> list[LogicalRequest]:
    """Group into logical requests (:func:`logical_key`), ordered by their first attempt."""
    return [LogicalRequest(k, tuple(v)) for k, v in _grouped(entries, logical_key).items()]


def calls(entries: Iterable[JournalEntry]) -> list[Call]:
    """Group into calls across model fallback (:func:`call_key`), ordered by their first attempt."""
    return [Call(k, tuple(v)) for k, v in _grouped(entries, call_key).items()]


def generation_entries(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    """Only the Messages calls (``POST /v1/messages``), the attempts every verdict is about."""
    return [e for e in entries if e.method == "POST" and e.path == MESSAGES_PATH]


def amplification(attempts: int, calls: int) -> float | None:
    """Retry amplification: attempts per call (1.0 = nobody retried); None without calls."""
    return attempts / calls if calls else None


def retry_amplification(calls: Sequence[Call]) -> float | None:
    """:func:`amplification` of these calls: their attempts per call."""
    return amplification(sum(len(c.attempts) for c in calls), len(calls))


def waits_by_step(traces: Sequence[LogicalRequest]) -> list[list[float]]:
    """``out[k]`` = the waits before retry k+1, one per logical request that got that far: the
    spread of each list is the jitter at that step."""
    out: list[list[float]] = []
    for t in traces:
        for k, w in enumerate(t.waits):
            while len(out) <= k:
                out.append([])
            out[k].append(w)
    return out


def retry_starts(traces: Sequence[LogicalRequest]) -> list[float]:
    """When every retry (each attempt after a logical request's first) arrived: clients that
    jitter do not land together."""
    return [a.start for t in traces for a in t.attempts[1:]]
