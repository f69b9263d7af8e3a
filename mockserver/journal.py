"""The request journal: every request the mock saw, in a bounded ring buffer.

The entry format is a fixed contract (see ``JournalEntry.to_dict``). Grouping into *logical
requests* (same API key + same body digest: a client's retries of one call) and their attempt
traces is a small pure API over a sequence of entries: :func:`logical_requests`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

DEFAULT_JOURNAL_SIZE = 10_000
KEPT_HEADERS: tuple[str, ...] = (
    "user-agent",
    "anthropic-version",
    "anthropic-beta",
    "x-stainless-retry-count",
    "x-stainless-timeout",
    "x-stainless-lang",
    "x-stainless-package-version",
)

_shared_values: dict[str, str] = {}


def _shared(value: str | None) -> str | None:
    """One copy of each repeated header value (user agent, versions...) across a long journal."""
    if value is None:
        return None
    shared = _shared_values.get(value)
    if shared is None:
        if len(_shared_values) >= 4096:
            return value
        _shared_values[value] = shared = value
    return shared


_kept_tuples: dict[tuple[str | None, ...], tuple[str | None, ...]] = {}


def kept_header_values(headers: Mapping[str, str]) -> tuple[str | None, ...]:
    """The values of KEPT_HEADERS in ``headers`` (None when absent), in KEPT_HEADERS order.

    Clients send the same few combinations again and again, so one shared tuple per combination
    serves every entry (less memory for a long journal, and no per-value work on a repeat)."""
    get = headers.get
    values = (  # written out: faster than tuple(map(headers.get, KEPT_HEADERS)); same order
        get("user-agent"),
        get("anthropic-version"),
        get("anthropic-beta"),
        get("x-stainless-retry-count"),
        get("x-stainless-timeout"),
        get("x-stainless-lang"),
        get("x-stainless-package-version"),
    )
    shared = _kept_tuples.get(values)
    if shared is None:
        shared = tuple(map(_shared, values))
        if len(_kept_tuples) < 4096:
            _kept_tuples[shared] = shared
    return shared


def body_digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def logical_id(key_id: str, digest: str) -> str:
    return hashlib.blake2b(f"{key_id}:{digest}".encode(), digest_size=8).hexdigest()


def parse_retry_count(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


RETRY_COUNT_AT = KEPT_HEADERS.index("x-stainless-retry-count")  # its place in kept_header_values
VERSION_AT = KEPT_HEADERS.index("anthropic-version")


class JournalEntry:
    """One request. Mutable while in flight; ``to_dict()`` is the journal entry contract."""

    __slots__ = (
        "api_key_id",
        "body_digest",
        "bytes_sent",
        "client_gone",
        "end",
        "error_type",
        "events_sent",
        "fault",
        "kept_values",
        "logical_id",
        "method",
        "model",
        "path",
        "prompt_digest",
        "reason",
        "request_id",
        "retry_count",
        "seq",
        "start",
        "status",
        "stream",
        "wall_start",
    )

    def __init__(
        self,
        seq: int,
        request_id: str,
        method: str,
        path: str,
        wall_start: float,
        start: float,
        api_key_id: str,
        retry_count: int | None,
        kept_values: tuple[str | None, ...],
    ) -> None:
        self.seq = seq
        self.request_id = request_id
        self.method = method
        self.path = path
        self.wall_start = wall_start
        self.start = start
        self.end: float | None = None
        self.model: str | None = None
        self.api_key_id = api_key_id
        self.retry_count = retry_count
        self.body_digest = ""
        self.prompt_digest = ""
        self.logical_id = ""
        self.stream = False
        self.status: int | None = None
        self.error_type: str | None = None
        self.fault: str | None = None
        self.reason: Mapping[str, Any] = {}
        self.bytes_sent = 0
        self.events_sent = 0
        self.client_gone = False
        # only the kept headers' values, in KEPT_HEADERS order (see kept_header_values): a tuple is
        # the smallest thing to hold (the journal can be a million entries long); `headers` turns it
        # back into a dict
        self.kept_values = kept_values

    @property
    def headers(self) -> dict[str, str]:
        """The request headers worth keeping (KEPT_HEADERS), lower-case names."""
        return {
            name: value
            for name, value in zip(KEPT_HEADERS, self.kept_values, strict=True)
            if value is not None
        }

    @property
    def latency(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "wall_start": self.wall_start,
            "start": self.start,
            "end": self.end,
            "model": self.model,
            "api_key_id": self.api_key_id,
            "retry_count": self.retry_count,
            "body_digest": self.body_digest,
            "prompt_digest": self.prompt_digest,
            "logical_id": self.logical_id,
            "stream": self.stream,
            "status": self.status,
            "error_type": self.error_type,
            "fault": self.fault,
            "reason": dict(self.reason),
            "bytes_sent": self.bytes_sent,
            "events_sent": self.events_sent,
            "client_gone": self.client_gone,
            "headers": self.headers,
        }

    def __repr__(self) -> str:
        return (
            f"JournalEntry(seq={self.seq}, {self.method} {self.path}, status={self.status}, "
            f"fault={self.fault}, retry_count={self.retry_count})"
        )


def decided_by(reason: Mapping[str, Any]) -> str | None:
    """What in the scenario decided an entry's fault, from its ``reason`` (see JOURNAL.md):
    ``rule:<id>``, ``override``, ``rate_limit:<bucket>``, ``capacity`` (shed),
    ``capacity:queued`` or ``latency:<rule id>`` (only a wait); None when nothing did."""
    source = reason.get("source")
    if source == "rule":
        return f"rule:{reason.get('rule')}"
    if source == "rate_limit":
        return f"rate_limit:{str(reason.get('limit', '')).replace(' ', '-')}"
    if source in ("override", "capacity"):
        return str(source)
    latency = reason.get("latency")
    if isinstance(latency, Mapping) and latency.get("s"):
        return f"latency:{latency.get('rule')}"
    capacity = reason.get("capacity")
    if isinstance(capacity, Mapping) and capacity.get("wait_s"):
        return "capacity:queued"
    return None


def wall_text(epoch: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds (``2026-12-03T12:30:42.123Z``)."""
    ms = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}Z"


@dataclass(frozen=True, slots=True)
class JournalFilter:
    since_seq: int | None = None  # entries with seq >= since_seq
    path: str | None = None
    model: str | None = None
    status: int | None = None
    api_key_id: str | None = None
    logical_id: str | None = None
    limit: int | None = None  # at most this many (the oldest matching first)

    def matches(self, e: JournalEntry) -> bool:
        return (
            (self.since_seq is None or e.seq >= self.since_seq)
            and (self.path is None or e.path == self.path)
            and (self.model is None or e.model == self.model)
            and (self.status is None or e.status == self.status)
            and (self.api_key_id is None or e.api_key_id == self.api_key_id)
            and (self.logical_id is None or e.logical_id == self.logical_id)
        )


class Journal:
    """A ring buffer of the last ``size`` entries; ``seq`` keeps counting across clears."""

    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE) -> None:
        if size < 1:
            raise ValueError(f"journal size must be >= 1, got {size}")
        self.size = size
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._next_seq = 0

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def open(
        self,
        request_id: str,
        method: str,
        path: str,
        wall_start: float,
        start: float,
        api_key_id: str,
        retry_count: int | None,
        headers: Mapping[str, str],
    ) -> JournalEntry:
        """A new entry, numbered (``seq``) and kept; the oldest goes when the journal is full."""
        return self.add(
            request_id, method, path, wall_start, start, api_key_id, retry_count, kept_header_values(headers)
        )

    def add(
        self,
        request_id: str,
        method: str,
        path: str,
        wall_start: float,
        start: float,
        api_key_id: str,
        retry_count: int | None,
        kept_values: tuple[str | None, ...],
    ) -> JournalEntry:
        """``open`` with the kept headers' values already taken (``kept_header_values``)."""
        seq = self._next_seq
        self._next_seq = seq + 1
        entry = JournalEntry(
            seq, request_id, method, path, wall_start, start, api_key_id, retry_count, kept_values
        )
        self._entries.append(entry)
        return entry

    def entries(self, flt: JournalFilter | None = None) -> list[JournalEntry]:
        snapshot = list(self._entries)  # one C-level copy: safe against the server thread appending
        if flt is None:
            return snapshot
        out = [e for e in snapshot if flt.matches(e)]
        return out if flt.limit is None else out[: max(flt.limit, 0)]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def to_jsonl(self, flt: JournalFilter | None = None) -> str:
        return entries_to_jsonl(self.entries(flt))

    def write_jsonl(self, path: str | Path, flt: JournalFilter | None = None) -> int:
        """Export the journal (or the filtered part) to a JSONL file; returns the number of entries."""
        entries = self.entries(flt)
        Path(path).write_text(entries_to_jsonl(entries), encoding="utf-8")
        return len(entries)

    def logical_requests(self, flt: JournalFilter | None = None) -> list[LogicalRequest]:
        return logical_requests(self.entries(flt))


@dataclass(frozen=True, slots=True)
class LogicalRequest:
    """One call and its retries: entries with the same ``logical_id`` in arrival order."""

    logical_id: str
    attempts: tuple[JournalEntry, ...]

    @property
    def starts(self) -> tuple[float, ...]:
        return tuple(a.start for a in self.attempts)

    @property
    def gaps(self) -> tuple[float, ...]:
        """Seconds from each attempt's start to the next attempt's start."""
        return tuple(b - a for a, b in pairwise(self.starts))

    @property
    def idle_gaps(self) -> tuple[float, ...]:
        """Seconds from each attempt's end to the next attempt's start (the client's wait)."""
        out = []
        for a, b in pairwise(self.attempts):
            out.append(b.start - (a.end if a.end is not None else a.start))
        return tuple(out)

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
        last = self.attempts[-1]
        return last.status is not None and 200 <= last.status < 300 and last.error_type is None


def logical_requests(entries: Iterable[JournalEntry]) -> list[LogicalRequest]:
    """Group entries into logical requests, ordered by their first attempt (pure)."""
    groups: dict[str, list[JournalEntry]] = {}
    for e in sorted(entries, key=lambda x: x.seq):
        groups.setdefault(e.logical_id or f"seq:{e.seq}", []).append(e)
    return [LogicalRequest(k, tuple(v)) for k, v in groups.items()]


_encode = json.JSONEncoder(default=str).encode


def entry_json(entry: JournalEntry) -> str:
    """One entry as JSON text (its ``to_dict()``; anything else JSON lacks as a string)."""
    return _encode(entry.to_dict())


def entries_to_jsonl(entries: Sequence[JournalEntry]) -> str:
    return "".join(entry_json(e) + "\n" for e in entries)
