"""The document runner's pure core: documents, attempt outcomes and what to do next. No clock,
no I/O, no global random.

A job is one document. After each attempt, :func:`decide` says whether it is done
(:class:`Complete`), goes back to the queue for later (:class:`Requeue`, with the delay the
server asked for in Retry-After, or a jittered backoff) or has failed for good
(:class:`Fail`, with its last error). Requeueing instead of sleeping is the point: a worker
is never held by a document that the server asked to come back later.

What may be retried is the library's one rule (:func:`resilience.classify_status`), and the
backoff between attempts is the library's SDK formula (:class:`resilience.SdkBackoff`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience import SdkBackoff, classify_status

__all__ = [
    "Action",
    "AttemptOutcome",
    "Complete",
    "Document",
    "DocumentError",
    "Fail",
    "Requeue",
    "RequeuePolicy",
    "decide",
    "is_retryable",
    "parse_documents",
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
    at ``retry_after_cap_s``) or, without one, the library's SDK backoff
    (:class:`resilience.SdkBackoff`): ``base_delay_s * 2**(n-1)`` capped at ``max_delay_s``,
    shortened by up to ``jitter`` (a fraction below 1) at random."""

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
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter!r}")

    def backoff(self, attempts: int, rng: random.Random) -> float:
        if self.base_delay_s == 0:
            return 0.0  # every step of a zero envelope is zero
        sdk = SdkBackoff(base=self.base_delay_s, cap=self.max_delay_s, reduction=self.jitter)
        return sdk.delay(attempts, None, rng)


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


def is_retryable(outcome: AttemptOutcome) -> bool:
    """The library's rule (:func:`resilience.classify_status`) on the status, the error type and
    x-should-retry. No response at all (a connection error, a timeout, a batch request that
    expired) is retried unless x-should-retry (or the runner, for a bug of ours) said no."""
    if outcome.status is None:
        return outcome.should_retry is not False
    header = None if outcome.should_retry is None else ("true" if outcome.should_retry else "false")
    try:
        return classify_status(outcome.status, outcome.error_type, header)[1]
    except ValueError:  # not an HTTP status at all: nothing the rule knows to retry
        return False


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


def result_line(doc_id: str, state: str, attempts: int, payload: dict[str, Any]) -> str:
    """The output line of a finished document (``state`` is succeeded or failed)."""
    key = "message" if state == "succeeded" else "error"
    return json.dumps(
        {"id": doc_id, "status": state, "attempts": attempts, key: payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )
