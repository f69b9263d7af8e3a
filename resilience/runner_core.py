"""The document runner's pure core: documents, attempt outcomes, what to do next, the
adaptive concurrency limit and the progress line. No clock, no I/O, no global random.

A job is one document. After each attempt, :func:`decide` says whether it is done
(:class:`Complete`), goes back to the queue for later (:class:`Requeue`, with the delay the
server asked for in Retry-After, or a jittered backoff) or has failed for good
(:class:`Fail`, with its last error). Requeueing instead of sleeping is the point: a worker
is never held by a document that the server asked to come back later.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience.backoff import parse_retry_after

__all__ = [
    "SLOW_START_INITIAL",
    "AdaptiveLimit",
    "AttemptOutcome",
    "Complete",
    "Document",
    "DocumentError",
    "Fail",
    "Requeue",
    "RequeuePolicy",
    "decide",
    "format_duration",
    "format_progress",
    "is_retryable",
    "parse_documents",
    "parse_retry_after",
    "result_line",
]


class DocumentError(ValueError):
    """An input file that cannot be run; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    position: int  # 0-based order in the input
    params: dict[str, Any]  # a complete non-streaming Messages request body
    digest: str  # of the canonical params: detects an input that changed under a state file

    @property
    def custom_id(self) -> str:
        """A Message Batches custom_id (1-64 of [A-Za-z0-9_-]) whatever the document id is."""
        return f"doc-{self.position}"


def _digest(params: Mapping[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_documents(
    lines: Iterable[str],
    *,
    source: str = "<input>",
    model: str | None = None,
    max_tokens: int = 1024,
    system: str | None = None,
) -> list[Document]:
    """Documents from JSON lines. Each line is an object with an ``id`` and either
    ``params`` (a Messages request body; ``model`` and ``max_tokens`` default to the
    arguments) or ``text`` (sent as one user message, with the optional ``system``).
    Blank lines are skipped. Errors name ``source`` and the 1-based line."""
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"{source}:{lineno}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DocumentError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DocumentError(f"{where}: a document must be a JSON object, got {type(obj).__name__}")
        raw_id = obj.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
            raise DocumentError(f"{where}: a document needs an 'id' (a non-empty string or an integer)")
        doc_id = str(raw_id)
        if doc_id in seen:
            raise DocumentError(f"{where}: duplicate id {doc_id!r} (first on line {seen[doc_id]})")
        seen[doc_id] = lineno
        if "params" in obj:
            params = obj["params"]
            if not isinstance(params, dict):
                raise DocumentError(f"{where}: 'params' must be an object (a Messages request body)")
            params = dict(params)
            if not isinstance(params.get("messages"), list) or not params["messages"]:
                raise DocumentError(f"{where}: params.messages must be a non-empty list")
            if params.get("stream"):
                raise DocumentError(
                    f"{where}: params.stream must not be true (the runner stores whole messages)"
                )
            params.pop("stream", None)
        elif "text" in obj:
            text = obj["text"]
            if not isinstance(text, str) or not text:
                raise DocumentError(f"{where}: 'text' must be a non-empty string")
            params = {"messages": [{"role": "user", "content": text}]}
            doc_system = obj.get("system", system)
            if doc_system is not None:
                params["system"] = doc_system
        else:
            raise DocumentError(f"{where}: a document needs 'params' (a Messages request body) or 'text'")
        params.setdefault("max_tokens", max_tokens)
        if model is not None:
            params.setdefault("model", model)
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise DocumentError(f"{where}: document {doc_id!r} has no model; give params.model or --model")
        if not isinstance(params["max_tokens"], int) or isinstance(params["max_tokens"], bool):
            raise DocumentError(f"{where}: max_tokens must be an integer")
        docs.append(Document(doc_id, len(docs), params, _digest(params)))
    return docs


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt came back with. ``status`` is None when there was no HTTP response
    (connection error, timeout). ``message`` is set on success only."""

    status: int | None
    message: dict[str, Any] | None = None
    error_type: str | None = None
    error_message: str = ""
    retry_after_s: float | None = None
    should_retry: bool | None = None  # the x-should-retry header, when sent
    sent: bool = True  # False: answered without a request (cache hit, open circuit breaker)

    @property
    def ok(self) -> bool:
        return self.message is not None

    @property
    def overloaded(self) -> bool:
        """The service asked us to slow down (529 overloaded or 429 rate limited)."""
        return self.status in (429, 529) or self.error_type in ("overloaded_error", "rate_limit_error")

    def error_dict(self) -> dict[str, Any]:
        return {"status": self.status, "type": self.error_type, "message": self.error_message}


@dataclass(frozen=True, slots=True)
class RequeuePolicy:
    """How patient the runner is with one document.

    ``max_attempts`` attempts in all; between them the Retry-After the server sent (capped
    at ``retry_after_cap_s``) or, without one, ``base_delay_s * 2**(n-1)`` capped at
    ``max_delay_s``, shortened by up to ``jitter`` (a fraction) at random."""

    max_attempts: int = 8
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    retry_after_cap_s: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("base_delay_s", "max_delay_s", "retry_after_cap_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.max_delay_s < self.base_delay_s:
            raise ValueError(
                f"max_delay_s ({self.max_delay_s}) must be >= base_delay_s ({self.base_delay_s})"
            )
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter!r}")

    def backoff(self, attempts: int, rng: random.Random) -> float:
        base = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempts - 1, 62))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class Complete:
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Requeue:
    delay_s: float
    error: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fail:
    error: dict[str, Any]


Action = Complete | Requeue | Fail

_RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(outcome: AttemptOutcome) -> bool:
    """The SDKs' rule: x-should-retry wins; then 408/409/429/5xx and no response retry."""
    if outcome.should_retry is not None:
        return outcome.should_retry
    if outcome.status is None:
        return True
    return outcome.status in _RETRYABLE_STATUS or outcome.status >= 500


def decide(outcome: AttemptOutcome, attempts: int, policy: RequeuePolicy, rng: random.Random) -> Action:
    """What happens to a document after its ``attempts``-th attempt ended with ``outcome``.

    An outcome that sent nothing (``sent=False``: the client refused locally, e.g. an open
    circuit breaker) is not an attempt: the job comes back after the wait it was given (or
    the first backoff step), whatever its count."""
    if outcome.message is not None:
        return Complete(outcome.message)
    error = {**outcome.error_dict(), "attempts": attempts}
    if not outcome.sent and outcome.should_retry is not False:
        wait = outcome.retry_after_s if outcome.retry_after_s is not None else policy.backoff(1, rng)
        return Requeue(min(wait, policy.retry_after_cap_s), error)
    if not is_retryable(outcome) or attempts >= policy.max_attempts:
        return Fail(error)
    if outcome.retry_after_s is not None:
        delay = min(outcome.retry_after_s, policy.retry_after_cap_s)
    else:
        delay = policy.backoff(attempts, rng)
    return Requeue(delay, error)


# where the adaptive limit starts (slow start): the API also limits sharp increases in usage
# (429 ramp_limit_exceeded), and a run that opens at its ceiling meets an overloaded service
# with a full burst; doubling per round of successes reaches 16 after two rounds
SLOW_START_INITIAL = 4


class AdaptiveLimit:
    """Additive-increase, multiplicative-decrease limit on requests in flight, with slow start.

    It starts at ``initial`` (default: :data:`SLOW_START_INITIAL`, or ``max_limit`` if smaller)
    and, until the first overload, each success adds one (the limit doubles every round of
    requests: slow start).
    After that each success adds ``1/limit`` (about one per round). Each overload signal
    (529/429) from a request sent after the last decrease multiplies the limit by
    ``decrease``; signals from requests that were already in flight when we cut are the same
    congestion and are ignored. The limit stays within ``[min_limit, max_limit]``.
    Dispatches are numbered by the caller (:meth:`dispatched`), so no clock is needed.
    """

    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        decrease: float = 0.8,
        initial: int | None = None,
        slow_start: bool = True,
    ):
        if max_limit < 1 or min_limit < 1 or min_limit > max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        if not 0.0 < decrease < 1.0:
            raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.decrease = decrease
        start = min(SLOW_START_INITIAL, max_limit) if initial is None else initial
        self._limit = float(max(min_limit, min(start, max_limit)))
        self._slow_start = slow_start
        self._seq = 0
        self._cut_after = -1  # overloads of dispatches numbered <= this are already accounted for

    @property
    def limit(self) -> int:
        return max(self.min_limit, math.floor(self._limit))

    @property
    def in_slow_start(self) -> bool:
        return self._slow_start

    def dispatched(self) -> int:
        """Number the next dispatch; pass the number back to :meth:`on_result`."""
        self._seq += 1
        return self._seq

    def on_result(self, seq: int, overloaded: bool) -> None:
        if overloaded:
            self._slow_start = False
            if seq > self._cut_after:
                self._limit = max(float(self.min_limit), self._limit * self.decrease)
                self._cut_after = self._seq
        elif self._slow_start:
            self._limit = min(float(self.max_limit), self._limit + 1.0)
        else:
            self._limit = min(float(self.max_limit), self._limit + 1.0 / max(self._limit, 1.0))


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def format_progress(
    *,
    done: int,
    total: int,
    failed: int,
    processed: int,
    elapsed_s: float,
    recent_rate: float | None,
    overload_rate: float,
    in_flight: int,
    limit: int,
    width: int = 24,
) -> str:
    """One progress line: bar, done/total, docs/s, ETA, current 529 rate, concurrency.

    ``done`` counts every finished document, those a resumed run found finished too;
    ``processed`` only those this run finished in its ``elapsed_s``, which is what a rate
    (and an ETA) may count. ``recent_rate``, when known, is this run's rate of late."""
    frac = done / total if total else 1.0
    filled = min(width, math.floor(frac * width))
    bar = "#" * filled + "." * (width - filled)
    rate = recent_rate if recent_rate is not None else (processed / elapsed_s if elapsed_s > 0 else 0.0)
    remaining = total - done
    eta = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
    failed_txt = f" ({failed} failed)" if failed else ""
    flight_txt = f" | in flight {in_flight}/{limit}" if limit > 0 else ""  # limit 0: no dispatcher (batches)
    return (
        f"[{bar}] {done}/{total}{failed_txt} {100 * frac:5.1f}% | {rate:7.1f} doc/s | "
        f"ETA {format_duration(eta)} | 529 {100 * overload_rate:4.1f}%{flight_txt}"
    )


def result_line(doc_id: str, state: str, attempts: int, payload: dict[str, Any]) -> str:
    """The output line of a finished document (``state`` is succeeded or failed)."""
    key = "message" if state == "succeeded" else "error"
    return json.dumps(
        {"id": doc_id, "status": state, "attempts": attempts, key: payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )
