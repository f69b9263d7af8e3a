"""The one vocabulary of fault kinds: for each fault a scenario can name, its family, the label the
journal gives it and whether the response still arrives whole.

The words are the scenario language's (``scenarios.schema``: ``ConnectionKind``, ``StreamKind`` and
the ``spend_limit`` short form); this table maps each to the facts the rest of the mock needs. The
engine labels its decisions with :func:`label`, and the journal analysis derives its sets of
transport and completing faults from :data:`KINDS`. Adding a fault kind means a word in the
language, a row here and its application in the web layer; a test keeps the words and the rows in
step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["connection", "stream", "error", "answer"]

# the journal's label of a decision that only adds latency (the response arrives whole, later)
DELAY_LABEL = "delay"


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str  # the scenario's (and the override header's) word: "reset", "stream_stall" ...
    # connection: instead of a response; stream: inside a 200 stream; error: an HTTP error;
    # answer: a whole 200 that says something else (a refusal)
    family: Family
    kind: str | None  # the Decision's ConnectionFault/StreamFault kind (None for an error)
    label: str  # what the journal's ``fault`` says of a request that got it
    completes: bool  # the response still arrives whole (only later)


KINDS: tuple[FaultKind, ...] = (
    # close the socket before any response byte
    FaultKind("reset", "connection", "reset", "reset", False),
    # never answer; hold the connection until the client gives up (at most `hang_s`)
    FaultKind("hang", "connection", "hang", "hang", False),
    # send the status line and headers, then close
    FaultKind("close_after_headers", "connection", "close_after_headers", "close_after_headers", False),
    # send a 200 JSON body cut in the middle
    FaultKind("truncated_body", "connection", "truncated_body", "truncated_body", False),
    # send a 200 whose body is not JSON
    FaultKind("garbage", "connection", "garbage", "garbage", False),
    # after N SSE events, send `event: error` and end the stream
    FaultKind("stream_error_event", "stream", "error_event", "stream_error_event", False),
    # after N events, stop sending for `stall_s` seconds, then carry on: every event arrives
    FaultKind("stream_stall", "stream", "stall", "stream_stall", True),
    # after N events, drop the connection
    FaultKind("stream_cut", "stream", "cut", "stream_cut", False),
    # the spend-cap 429: should-retry false and no retry-after (an error's label is its status)
    FaultKind("spend_limit", "error", None, "429-no-retry", False),
    # a whole 200 whose model declines: stop_reason "refusal" with its stop_details (Messages)
    FaultKind("refusal", "answer", None, "refusal", True),
)

BY_NAME: dict[str, FaultKind] = {k.name: k for k in KINDS}
_BY_KIND: dict[tuple[Family, str | None], FaultKind] = {(k.family, k.kind): k for k in KINDS if k.kind}

# Connection or stream faults after which a retry or a fallback is legitimate (the journal's labels).
TRANSPORT_LABELS: frozenset[str] = frozenset(
    k.label for k in KINDS if k.family in ("connection", "stream") and not k.completes
)
# Labels of decisions after which the response still arrived whole (only later than it would have).
COMPLETING_LABELS: frozenset[str] = frozenset({DELAY_LABEL, *(k.label for k in KINDS if k.completes)})


def label(family: Family, kind: str) -> str:
    """The journal label of the connection or stream fault ``kind`` (KeyError if it has no row)."""
    return _BY_KIND[(family, kind)].label
