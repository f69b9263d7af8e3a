"""The live journal: every request the mock saw, in a bounded ring buffer, and its filter.

The entries are :class:`~mockserver.journal.entry.JournalEntry` (the entry format is a fixed
contract, ``JournalEntry.to_dict``); grouping them into logical requests and calls is
:mod:`mockserver.journal.analysis`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mockserver.journal.analysis import LogicalRequest, logical_requests
from mockserver.journal.entry import JournalEntry, entries_to_jsonl

DEFAULT_JOURNAL_SIZE = 10_000


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
        kept: tuple[str | None, ...],
    ) -> JournalEntry:
        """A new entry, numbered (``seq``) and kept; the oldest goes when the journal is full.

        ``kept`` are the values of the kept request headers (``kept_header_values``)."""
        seq = self._next_seq
        self._next_seq = seq + 1
        entry = JournalEntry(seq, request_id, method, path, wall_start, start, api_key_id, retry_count, kept)
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
