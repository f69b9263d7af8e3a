"""The contract between the server (the I/O shell) and the fault engine (the pure core).

The server fills :class:`RequestFacts` from a validated request, calls
``engine.decide(facts, now)`` and applies the :class:`Decision` it gets; when the response is
finished (or the client went away) it calls ``engine.complete(...)``, which lets stateful
parts such as the capacity model release what the request held. ``now`` is seconds on the
server's monotonic clock; engines never read a clock of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from scenarios.schema import ConnectionKind, StreamKind

# the kinds are the scenario language's words (what each does: mockserver.faults.kinds)
ConnectionFaultKind = ConnectionKind
StreamFaultKind = StreamKind


@dataclass(slots=True)
class RequestFacts:
    """What the engine may know about one request (everything already validated).

    Made once per request on the server's hot path: a plain slotted class (a frozen dataclass
    costs several times more to construct). Treat it as read-only."""

    index: int  # 0-based arrival order since the scenario (re)started
    method: str
    path: str
    model: str | None
    stream: bool
    api_key_id: str  # short non-reversible id of the API key ("" when none)
    body_digest: str  # digest of the raw body; key + digest identify a logical request
    headers: Mapping[str, str]  # lower-cased request headers
    input_tokens: int = 0  # estimated input tokens (0 for non-generation routes)
    max_tokens: int = 0  # requested max_tokens (0 for non-generation routes)
    retry_count: int | None = None  # x-stainless-retry-count, when sent
    loopback: bool = False  # the request came from a loopback address (unknown: no, fail closed)
    speed: str | None = None  # the Messages request's speed ("fast", "standard"; None: not sent)

    @property
    def logical_key(self) -> str:
        return f"{self.api_key_id}:{self.body_digest}"


@dataclass(frozen=True, slots=True)
class HttpError:
    status: int
    error_type: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)  # retry-after, x-should-retry, ...


@dataclass(frozen=True, slots=True)
class ConnectionFault:
    kind: ConnectionFaultKind
    hang_s: float = 600.0  # upper bound for "hang", so a forgotten client cannot pin the server


@dataclass(frozen=True, slots=True)
class StreamFault:
    kind: StreamFaultKind
    after_events: int = 3
    error_type: str = "overloaded_error"
    message: str = "Overloaded"
    stall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """A Messages answer whose model declines (``stop_reason: refusal``): its stop_details."""

    category: str | None = None
    explanation: str | None = None
    recommended_model: str | None = None


@dataclass(slots=True)
class Decision:
    """What to do with one request. At most one of error / connection_fault applies;
    stream_fault applies only to a 200 streamed response.

    Made once per request on the server's hot path: a plain slotted class (a frozen dataclass
    costs several times more to construct). Treat it as read-only."""

    error: HttpError | None = None
    connection_fault: ConnectionFault | None = None
    stream_fault: StreamFault | None = None
    delay_s: float = 0.0  # extra wait before the first response byte (latency, queueing)
    ttft_s: float | None = None  # overrides the server's time to first token
    tokens_per_s: float | None = None  # overrides the server's generation speed
    headers: Mapping[str, str] = field(default_factory=dict)  # added to every response (rate-limit headers)
    reason: Mapping[str, Any] = field(default_factory=dict)  # why: rule id, draw, seed... (journalled)
    refusal: Refusal | None = None  # a Messages 200 that declines instead of answering

    @property
    def is_fault(self) -> bool:
        return (
            self.error is not None
            or self.connection_fault is not None
            or self.stream_fault is not None
            or self.refusal is not None
        )


PASS = Decision()


class FaultEngine(Protocol):
    """What the server asks of an engine."""

    def decide(self, facts: RequestFacts, now: float) -> Decision: ...

    def complete(
        self,
        facts: RequestFacts,
        decision: Decision,
        now: float,
        *,
        status: int,
        output_tokens: int,
        client_gone: bool,
    ) -> None: ...

    def restart(self, now: float) -> None:
        """The scenario clock starts again at ``now`` (a new or re-put scenario)."""
        ...


class NoFaults:
    """The engine of the `steady` world: every request passes."""

    def decide(self, facts: RequestFacts, now: float) -> Decision:
        return PASS

    def complete(self, *facts_decision_now: object, **outcome: object) -> None:
        """Nothing to account: the steady world holds nothing between requests."""

    def restart(self, now: float) -> None:
        return None
