"""Journal entries as typed values, and the groupings every check is built on.

Pure code: no I/O, no clock. A journal is a sequence of :class:`JournalEntry` (parsed from the
server's ENTRY dicts with :func:`parse_entries`). Two groupings matter:

* a *logical request* (:func:`logical_requests`): entries with the same ``logical_id`` — one client's
  attempts at one exact body, i.e. its retries;
* a *call* (:func:`calls`): entries with the same API key and ``prompt_digest`` — one thing the
  caller asked for, across model fallback (the body differs only in ``model``/``max_tokens``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# HTTP statuses that mean "the service is overloaded or broken", as opposed to "the caller is wrong".
SERVER_SIDE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504, 529})
# Connection or stream faults after which a retry or a fallback is legitimate.
TRANSPORT_FAULTS: frozenset[str] = frozenset(
    {"reset", "hang", "close_after_headers", "truncated_body", "garbage", "stream_error_event", "stream_cut"}
)


# Faults after which the response still arrived whole (only later than it would have).
_COMPLETING_FAULTS: frozenset[str | None] = frozenset({None, "delay", "stream_stall"})


class JournalFormatError(ValueError):
    """A journal entry that does not follow the journal format (names the entry and the key)."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    request_id: str
    method: str
    path: str
    wall_start: float
    start: float
    end: float | None
    model: str | None
    api_key_id: str
    retry_count: int | None
    body_digest: str
    prompt_digest: str
    logical_id: str
    stream: bool
    status: int | None
    error_type: str | None
    fault: str | None
    reason: Mapping[str, Any] = field(default_factory=dict)
    bytes_sent: int = 0
    events_sent: int = 0
    client_gone: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JournalEntry:
        missing = [name for name in _ENTRY_KEYS if name not in raw]  # every key is a field
        if missing:
            where = raw.get("seq", "?")
            raise JournalFormatError(f"journal entry seq={where}: missing key(s) {', '.join(missing)}")
        try:
            return cls(
                seq=int(raw["seq"]),
                request_id=str(raw["request_id"]),
                method=str(raw["method"]),
                path=str(raw["path"]),
                wall_start=float(raw["wall_start"]),
                start=float(raw["start"]),
                end=None if raw["end"] is None else float(raw["end"]),
                model=None if raw["model"] is None else str(raw["model"]),
                api_key_id=str(raw["api_key_id"]),
                retry_count=None if raw["retry_count"] is None else int(raw["retry_count"]),
                body_digest=str(raw["body_digest"]),
                prompt_digest=str(raw["prompt_digest"]),
                logical_id=str(raw["logical_id"]),
                stream=bool(raw["stream"]),
                status=None if raw["status"] is None else int(raw["status"]),
                error_type=None if raw["error_type"] is None else str(raw["error_type"]),
                fault=None if raw["fault"] is None else str(raw["fault"]),
                reason=dict(raw["reason"] or {}),
                bytes_sent=int(raw["bytes_sent"]),
                events_sent=int(raw["events_sent"]),
                client_gone=bool(raw["client_gone"]),
                headers={str(k): str(v) for k, v in dict(raw["headers"] or {}).items()},
            )
        except (TypeError, ValueError) as exc:
            raise JournalFormatError(f"journal entry seq={raw.get('seq', '?')}: {exc}") from exc

    @property
    def succeeded(self) -> bool:
        """The attempt delivered a complete 200 response (no fault that broke it, client still there)."""
        return (
            self.status == 200
            and self.end is not None
            and not self.client_gone
            and self.fault in _COMPLETING_FAULTS
        )

    @property
    def failure_kind(self) -> str:
        """What this attempt got, short: ``200``, ``529``, ``reset``, ``200+stream_error_event``..."""
        if self.status is None:
            return self.fault or "no-response"
        if self.fault is not None and self.fault not in ("delay", "http_error"):
            return f"{self.status}+{self.fault}"
        return str(self.status)

    @property
    def is_server_side_failure(self) -> bool:
        """Overload, server error or a dropped connection/stream: worth a retry or a fallback."""
        if self.status is not None and self.status in SERVER_SIDE_STATUSES:
            return True
        return self.fault in TRANSPORT_FAULTS


_ENTRY_KEYS: tuple[str, ...] = tuple(f.name for f in fields(JournalEntry))


def _entry(value: JournalEntry | Mapping[str, Any] | Any) -> JournalEntry:
    if isinstance(value, JournalEntry):
        return value
    if isinstance(value, Mapping):
        return JournalEntry.from_dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return JournalEntry.from_dict(to_dict())
    raise JournalFormatError(f"not a journal entry: {type(value).__name__}")


def parse_entries(raw: Iterable[JournalEntry | Mapping[str, Any] | Any]) -> list[JournalEntry]:
    """Entries (dicts, objects with ``to_dict()`` or JournalEntry) in ``seq`` order."""
    return sorted((_entry(r) for r in raw), key=lambda e: e.seq)


@dataclass(frozen=True, slots=True)
class AttemptTrace:
    """One logical request: a client's attempts at one exact body, in arrival order."""

    logical_id: str
    attempts: tuple[JournalEntry, ...]

    @property
    def starts(self) -> list[float]:
        return [a.start for a in self.attempts]

    @property
    def gaps(self) -> list[float]:
        """Start-to-start seconds between consecutive attempts."""
        s = self.starts
        return [b - a for a, b in itertools.pairwise(s)]

    @property
    def waits(self) -> list[float]:
        """Seconds from the end of an attempt to the start of the next (the client's own wait).

        Falls back to the start-to-start gap when an attempt never finished (hang)."""
        out: list[float] = []
        for prev, nxt in zip(self.attempts, self.attempts[1:], strict=False):
            anchor = prev.end if prev.end is not None and prev.end <= nxt.start else prev.start
            out.append(nxt.start - anchor)
        return out

    @property
    def succeeded(self) -> bool:
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
    def answered_by(self) -> str | None:
        for a in reversed(self.attempts):
            if a.succeeded:
                return a.model
        return None

    @property
    def succeeded(self) -> bool:
        return any(a.succeeded for a in self.attempts)

    @property
    def first_start(self) -> float:
        return self.attempts[0].start

    @property
    def last_end(self) -> float:
        ends = [a.end if a.end is not None else a.start for a in self.attempts]
        return max(ends)

    @property
    def duration(self) -> float:
        return self.last_end - self.first_start

    @property
    def latency_to_success(self) -> float | None:
        for a in self.attempts:
            if a.succeeded and a.end is not None:
                return a.end - self.first_start
        return None


def logical_requests(entries: Sequence[JournalEntry]) -> list[AttemptTrace]:
    """Group into logical requests, ordered by their first attempt."""
    groups: dict[str, list[JournalEntry]] = {}
    for e in sorted(entries, key=lambda x: x.seq):
        groups.setdefault(e.logical_id, []).append(e)
    return [AttemptTrace(k, tuple(v)) for k, v in groups.items()]


def calls(entries: Sequence[JournalEntry]) -> list[Call]:
    """Group into calls across model fallback (same API key and prompt digest)."""
    groups: dict[str, list[JournalEntry]] = {}
    for e in sorted(entries, key=lambda x: x.seq):
        key = f"{e.api_key_id}:{e.prompt_digest or e.body_digest}"
        groups.setdefault(key, []).append(e)
    return [Call(k, tuple(v)) for k, v in groups.items()]


def generation_entries(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    """Only the Messages calls (``POST /v1/messages``), the requests conformance is about."""
    return [e for e in entries if e.method == "POST" and e.path == "/v1/messages"]
