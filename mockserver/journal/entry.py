"""THE journal entry: one request the mock saw, live while in flight and parsed back from ENTRY.

One class serves the server's hot path and every reader. The server builds a :class:`JournalEntry`
as a request arrives and fills it in while it is answered; ``to_dict()`` is the ENTRY contract of
``JOURNAL.md``; :meth:`JournalEntry.from_dict` (and :func:`parse_entries`) turn ENTRY dicts, from
``GET /_busysignal/journal`` or a JSONL file, back into the same class. Its ``succeeded``,
``failure_kind`` and ``is_server_side_failure`` are the definitions of :mod:`.analysis`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mockserver.journal.analysis import attempt_succeeded, failure_kind, is_server_side_failure

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
    values = (  # one call per name: faster than tuple(map(headers.get, KEPT_HEADERS)); same order
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


class JournalFormatError(ValueError):
    """A journal entry that does not follow the journal format (names the entry and the field)."""


_NUMBER = (int, float)
# ENTRY's keys in order, with the types a parsed value may have and whether it may be null
_FIELDS: tuple[tuple[str, tuple[type, ...], bool], ...] = (
    ("seq", (int,), False),
    ("request_id", (str,), False),
    ("method", (str,), False),
    ("path", (str,), False),
    ("wall_start", _NUMBER, False),
    ("start", _NUMBER, False),
    ("end", _NUMBER, True),
    ("model", (str,), True),
    ("api_key_id", (str,), False),
    ("retry_count", (int,), True),
    ("body_digest", (str,), False),
    ("prompt_digest", (str,), False),
    ("logical_id", (str,), False),
    ("stream", (bool,), False),
    ("status", (int,), True),
    ("error_type", (str,), True),
    ("fault", (str,), True),
    ("reason", (Mapping,), True),
    ("bytes_sent", (int,), False),
    ("events_sent", (int,), False),
    ("client_gone", (bool,), False),
    ("headers", (Mapping,), True),
)
ENTRY_KEYS: tuple[str, ...] = tuple(name for name, _types, _nullable in _FIELDS)


def _checked(raw: Mapping[str, Any]) -> None:
    """Raise JournalFormatError naming the entry and the first field that is missing or mistyped."""
    where = f"journal entry seq={raw.get('seq', '?')}"
    missing = [name for name in ENTRY_KEYS if name not in raw]
    if missing:
        raise JournalFormatError(f"{where}: missing field {', '.join(map(repr, missing))}")
    for name, types, nullable in _FIELDS:
        value = raw[name]
        if value is None and nullable:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = "/".join(t.__name__ for t in types)
            raise JournalFormatError(f"{where}: field {name!r} should be {names}, got {value!r}")


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

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JournalEntry:
        """The entry an ENTRY dict describes; JournalFormatError names a missing or mistyped field.

        Only the KEPT_HEADERS survive in ``headers`` (the server never writes any other)."""
        _checked(raw)
        entry = cls(
            raw["seq"],
            raw["request_id"],
            raw["method"],
            raw["path"],
            float(raw["wall_start"]),
            float(raw["start"]),
            raw["api_key_id"],
            raw["retry_count"],
            kept_header_values(raw["headers"] or {}),
        )
        entry.end = None if raw["end"] is None else float(raw["end"])
        entry.model = raw["model"]
        entry.body_digest = raw["body_digest"]
        entry.prompt_digest = raw["prompt_digest"]
        entry.logical_id = raw["logical_id"]
        entry.stream = raw["stream"]
        entry.status = raw["status"]
        entry.error_type = raw["error_type"]
        entry.fault = raw["fault"]
        entry.reason = dict(raw["reason"] or {})
        entry.bytes_sent = raw["bytes_sent"]
        entry.events_sent = raw["events_sent"]
        entry.client_gone = raw["client_gone"]
        return entry

    def snapshot(self) -> JournalEntry:
        """A copy that the server's later writes to this entry (it may still be in flight) leave alone."""
        copy = JournalEntry.__new__(JournalEntry)
        for name in JournalEntry.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.reason = dict(self.reason)
        return copy

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

    @property
    def succeeded(self) -> bool:
        """The response arrived whole: see :func:`mockserver.journal.analysis.attempt_succeeded`."""
        return attempt_succeeded(self)

    @property
    def failure_kind(self) -> str:
        """What this attempt got, short: ``200``, ``529``, ``reset``, ``200+stream_error_event``..."""
        return failure_kind(self)

    @property
    def is_server_side_failure(self) -> bool:
        """Overload, server error or a dropped connection/stream: worth a retry or a fallback."""
        return is_server_side_failure(self)

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


def _entry(value: JournalEntry | Mapping[str, Any] | Any) -> JournalEntry:
    if isinstance(value, JournalEntry):
        return value.snapshot()
    if isinstance(value, Mapping):
        return JournalEntry.from_dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return JournalEntry.from_dict(to_dict())
    raise JournalFormatError(f"not a journal entry: {type(value).__name__}")


def parse_entries(raw: Iterable[JournalEntry | Mapping[str, Any] | Any]) -> list[JournalEntry]:
    """Entries (ENTRY dicts, objects with ``to_dict()`` or JournalEntry) in ``seq`` order.

    Always copies: a live entry is taken as it is now, and the server's later writes leave the
    copy alone."""
    return sorted((_entry(r) for r in raw), key=lambda e: e.seq)


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


_encode = json.JSONEncoder(default=str).encode


def entry_json(entry: JournalEntry) -> str:
    """One entry as JSON text (its ``to_dict()``; anything else JSON lacks as a string)."""
    return _encode(entry.to_dict())


def entries_to_jsonl(entries: Sequence[JournalEntry]) -> str:
    return "".join(entry_json(e) + "\n" for e in entries)
