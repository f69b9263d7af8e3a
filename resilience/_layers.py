"""The layers of :class:`~resilience.policy.Policy`, one function each, outermost first::

    cache → fallback chain (per model) → circuit breaker (per model) → concurrency limit /
    adaptive throttle → retry (backoff with jitter, Retry-After, retry budget) → one attempt

* the cache, outermost, is in :mod:`resilience.policy` (:func:`~resilience.policy.through_cache`:
  the SDK wrappers call it around a whole non-streaming ``create``);
* :func:`fallback_layer`: walks the models of the chain, moves on when a model gave no answer
  and the chain falls back on why, and raises the last error when no model answered;
* :func:`breaker_layer`: the model's breaker admits the call or refuses it (no request sent),
  and is told how the model did;
* :func:`limit_layer`: holds a concurrency slot for the whole retry loop on the model (or moves
  on at once when that model sheds load and the chain has a next model);
* :func:`retry_layer`: attempts until one answers or the retry decision is
  :class:`~resilience.backoff.GiveUp`, sleeping each :class:`~resilience.backoff.Delay`;
* :func:`attempt_layer`: one attempt, paced, its result fed to the adaptive limit and the pacer.

The layers here are generators over one :class:`_Call`: they yield the steps a
shell performs (``_INVOKE`` an attempt, ``_SLEEP``, ``_ACQUIRE`` a slot) and delegate inward
with ``yield from``, so the sync and async shells of the policy drive the same code.
:class:`Attempt` (what one attempt gets) and :class:`CallOutcome` (how a call was answered,
read with :func:`outcome_of`) are the types passed in and out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from resilience.backoff import Delay, GiveUp, GiveUpReason, retry_decision
from resilience.breaker import BreakerState, CircuitBreaker, CircuitBreakers
from resilience.classify import CircuitOpenError, Failure, Kind, classify_exception
from resilience.instrumentation.events import (
    AttemptFinished,
    CallFinished,
    FallbackTaken,
    GaveUp,
    RetryScheduled,
)
from resilience.throttle import ConcurrencyLimit, LimiterTimeout, ModelLimits

if TYPE_CHECKING:  # pragma: no cover
    from resilience.policy import Policy

__all__ = [
    "Attempt",
    "CallOutcome",
    "attempt_layer",
    "breaker_layer",
    "fallback_layer",
    "limit_layer",
    "outcome_of",
    "retry_layer",
]

# Failures that say something about a model's health (the breaker counts these).
BREAKER_FAILURES: frozenset[Kind] = frozenset(
    {Kind.OVERLOADED, Kind.SERVER, Kind.TIMEOUT, Kind.CONNECTION, Kind.RATE_LIMITED}
)

# Failures that say a model is congested, which cut its adaptive concurrency limit: a 529, and an
# attempt that timed out (the answer took longer than the caller allows, so the work in flight
# is more than the service gets through in time; work that timed out is usually still done by
# the server, for nobody, so sending as much again only lengthens its queue). With an adaptive
# limit, the breaker counts them only once that limit is at its floor: until then sending less
# is the answer, and opening the breaker would turn a client's own excess into an outage.
CONGESTION: frozenset[Kind] = frozenset({Kind.OVERLOADED, Kind.TIMEOUT})


class Attempt:
    """What one attempt gets: the model and parameters to use, its number on this model
    (``number``) and in the whole call, every model included (``number_in_call``), and the
    time left.
    An attempt that has response headers on success sets :attr:`response_headers` (the pacer
    reads the ``anthropic-ratelimit-*`` ones)."""

    __slots__ = (
        "_clock",
        "deadline",
        "max_attempts",
        "model",
        "number",
        "number_in_call",
        "params",
        "response_headers",
    )

    def __init__(
        self,
        model: str,
        params: Mapping[str, Any] | None,
        number: int,
        max_attempts: int,
        deadline: float,
        clock: Callable[[], float],
        number_in_call: int | None = None,
    ) -> None:
        self.model = model
        self.params = params
        self.number = number
        self.number_in_call = number if number_in_call is None else number_in_call
        self.max_attempts = max_attempts
        self.deadline = deadline
        self._clock = clock
        self.response_headers: Mapping[str, str] | None = None

    @property
    def timeout_s(self) -> float | None:
        """Seconds left before the call's deadline (None without a deadline)."""
        if self.deadline == math.inf:
            return None
        return max(0.001, self.deadline - self._clock())

    def __repr__(self) -> str:
        return f"Attempt(model={self.model!r}, number={self.number}/{self.max_attempts})"


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a call was answered: by ``model`` (``requested_model`` unless it fell back), after
    ``attempts`` attempts over ``models_tried``, in ``elapsed_s``; ``cached`` when the response
    cache answered."""

    requested_model: str
    model: str
    attempts: int
    models_tried: tuple[str, ...]
    elapsed_s: float
    cached: bool = False

    @property
    def fell_back(self) -> bool:
        return self.model != self.requested_model


_OUTCOME_ATTR = "_busysignal_outcome"


def outcome_of(obj: object) -> CallOutcome | None:
    """The :class:`CallOutcome` of a message or stream returned by a resilient client (which
    model answered, attempts, models tried, whether the cache answered); None for anything
    else."""
    outcome = getattr(obj, _OUTCOME_ATTR, None)
    if outcome is None:
        raw = getattr(obj, "_raw_stream", None)  # a MessageStream from messages.stream()
        outcome = getattr(raw, _OUTCOME_ATTR, None)
    return outcome if isinstance(outcome, CallOutcome) else None


def attach_outcome(obj: object, outcome: CallOutcome) -> None:
    object.__setattr__(obj, _OUTCOME_ATTR, outcome)


# --- the generator layers --------------------------------------------------------------------
_INVOKE = 0
_SLEEP = 1
_ACQUIRE = 2

_Step = tuple[int, Any]
_Layer = Generator[_Step, Any, "tuple[Any, CallOutcome] | _NoAnswer"]


@dataclass(slots=True)
class _Call:
    """One call through the layers: what it asked for, the model of the chain it is on (set by
    :func:`fallback_layer`; each layer below fills in its own piece) and what it has done so
    far. One object for the whole call: the layers run on every call, and each object built
    per call costs about as much as a layer."""

    policy: Policy
    model: str
    params: Mapping[str, Any] | None
    chain: tuple[str, ...]
    breakers: CircuitBreakers | None
    start: float
    deadline: float
    deposited: bool  # a request was counted in the retry budget (a resumption's was, before)
    tried: list[str]  # the models a request was sent to (or queued for), in order
    attempts: int = 0
    last_exc: BaseException | None = None
    last_failure: Failure | None = None
    skipped: CircuitOpenError | None = None
    on: str = ""  # the model being tried
    on_params: Mapping[str, Any] | None = None
    has_next: bool = False  # the chain has a model after this one
    breaker: CircuitBreaker | None = None  # the model's, set by breaker_layer
    limit: ConcurrencyLimit | None = None  # the model's, set by limit_layer

    def gave_up(self, model: str, attempts: int, reason: GiveUpReason, failure: Failure | None) -> None:
        """Count and report a give-up on ``model`` (a failure's details when there was one)."""
        policy = self.policy
        policy.counters.add("give_ups")
        kind = failure.kind.value if failure is not None else reason
        policy.emit(
            GaveUp(
                model=model,
                attempts=attempts,
                reason=reason,
                kind=kind,
                status=failure.status if failure is not None else None,
                error_type=failure.error_type if failure is not None else None,
                request_id=failure.request_id if failure is not None else None,
                elapsed_s=policy.clock.monotonic() - self.start,
            )
        )

    def finished(self, answered_by: str | None, now: float) -> None:
        """Count the end of the call (answered by ``answered_by``, or failed) and report it."""
        counters = self.policy.counters
        counters.add("calls_ok" if answered_by is not None else "calls_failed")
        counters.add("attempts", self.attempts)
        if self.policy._hooks:
            self.policy.emit(
                CallFinished(
                    requested_model=self.model,
                    model=answered_by,
                    ok=answered_by is not None,
                    attempts=self.attempts,
                    elapsed_s=now - self.start,
                )
            )


@dataclass(frozen=True, slots=True)
class _NoAnswer:
    """A model gave no answer. ``reason`` is what :class:`FallbackTaken` says if the chain moves
    on; ``failure`` the last classified failure (None: no request was sent); ``health``: the
    breaker counts it as a failure of the model."""

    reason: str
    failure: Failure | None
    health: bool = False


def fallback_layer(call: _Call) -> Generator[_Step, Any, tuple[Any, CallOutcome]]:
    """The models of the chain in order, until one answers; the last error is raised when none
    did. A model that gave no answer hands over to the next one when that is left, the deadline
    is not past, and no request was sent or the chain falls back on the failure."""
    policy = call.policy
    fallback = policy.fallback
    chain = call.chain
    for index, name in enumerate(chain):
        params = call.params
        if index > 0 and params is not None and fallback is not None:
            params = fallback.params_for(name, params)
        call.on, call.on_params, call.has_next = name, params, index + 1 < len(chain)
        call.breaker = call.limit = None
        result = yield from breaker_layer(call)
        if isinstance(result, tuple):  # an answer
            return result
        failure = result.failure
        if not (
            call.has_next
            and policy.clock.monotonic() < call.deadline
            and (failure is None or (fallback is not None and fallback.should_fall_back(failure)))
        ):
            break
        policy.counters.add("fallbacks")
        policy.emit(FallbackTaken(from_model=name, to_model=chain[index + 1], reason=result.reason))
    call.finished(None, policy.clock.monotonic())
    error = call.last_exc if call.last_exc is not None else call.skipped
    assert error is not None
    last = call.last_failure
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(
            f"busysignal: gave up on {call.model!r} after {call.attempts} attempt(s) over "
            f"{call.tried or [call.model]} ({last.kind.value if last else 'circuit_open'})"
        )
    raise error


def breaker_layer(call: _Call) -> _Layer:
    """The model's breaker admits the call or refuses it at once; what the inner layers did on
    the model is recorded with it (a success, a failure of the model's health, or neither)."""
    if call.breakers is None:
        return (yield from limit_layer(call))
    breaker = call.breaker = call.breakers.for_model(call.on)
    monotonic = call.policy.clock.monotonic
    ticket = breaker.admit(monotonic())
    if ticket is None:
        call.skipped = call.skipped or CircuitOpenError(call.on, breaker.retry_in(monotonic()))
        call.gave_up(call.on, 0, "circuit_open", None)
        return _NoAnswer(Kind.CIRCUIT_OPEN.value, None)
    outcome: Literal["success", "failure", "ignored"] = "ignored"
    try:
        result = yield from limit_layer(call)
        if isinstance(result, tuple):  # an answer
            outcome = "success"
        elif result.health:
            outcome = "failure"
        return result
    finally:
        breaker.record(outcome, monotonic(), ticket)


def limit_layer(call: _Call) -> _Layer:
    """A concurrency slot on the model, held for the whole retry loop (a retrying call keeps its
    place). No free slot on a model that sheds load, with a next model left: move on now, no
    request sent. Otherwise wait for one until the deadline (:class:`LimiterTimeout`)."""
    policy = call.policy
    limit = policy.limit
    if limit is None:
        call.tried.append(call.on)
        return (yield from retry_layer(call))
    mlimit = call.limit = limit.for_model(call.on) if isinstance(limit, ModelLimits) else limit
    monotonic = policy.clock.monotonic
    if not mlimit.try_acquire():
        if (
            isinstance(limit, ModelLimits)
            and limit.shed_to_fallback
            and call.has_next
            and mlimit.overloaded
            and monotonic() < call.deadline
        ):
            return _NoAnswer("throttled", None)
        call.tried.append(call.on)
        try:
            yield (_ACQUIRE, (mlimit, None if call.deadline == math.inf else call.deadline - monotonic()))
        except LimiterTimeout:
            policy.counters.add("calls_failed")
            call.gave_up(call.on, 0, "throttled", None)
            raise
    else:
        call.tried.append(call.on)
    try:
        return (yield from retry_layer(call))
    finally:
        mlimit.release()


def retry_layer(call: _Call) -> _Layer:
    """Attempts on the model until one answers or the retry decision is :class:`GiveUp`; each
    :class:`Delay` is slept. An error the policy does not know passes through untouched."""
    policy = call.policy
    budget = policy.budget
    previous: float | None = None
    number = 0
    while True:
        number += 1
        call.attempts += 1
        if not call.deposited and budget is not None:
            budget.on_request()  # once per call: a fallback model's attempt is no new request
            call.deposited = True
        ok, value, failure, now = yield from attempt_layer(call, number)
        if ok:
            call.finished(call.on, now)
            outcome = CallOutcome(call.model, call.on, call.attempts, tuple(call.tried), now - call.start)
            return value, outcome
        if failure is None:  # not ours to judge: let it through untouched
            call.finished(None, now)
            raise value
        call.last_exc, call.last_failure = value, failure
        decision = _decide(call, number, failure, previous, now)
        if isinstance(decision, GiveUp):
            call.gave_up(call.on, number, decision.reason, failure)
            return _NoAnswer(failure.kind.value, failure, _counts_against_health(failure, call.limit))
        policy.counters.add("retries")
        policy.emit(
            RetryScheduled(
                model=call.on,
                attempt=number,
                max_attempts=policy.retry.max_attempts,
                delay_s=decision.seconds,
                kind=failure.kind.value,
                status=failure.status,
                error_type=failure.error_type,
                request_id=failure.request_id,
                retry_after_s=failure.retry_after_s,
            )
        )
        yield (_SLEEP, decision.seconds)
        previous = decision.seconds


def _decide(call: _Call, number: int, failure: Failure, previous: float | None, now: float) -> Delay | GiveUp:
    """The retry decision, then what the other layers may say against a retry: a model out of
    capacity with a next one left (that one answers sooner), a breaker other calls opened
    meanwhile (stop hammering this model), an empty retry budget."""
    policy = call.policy
    retry = policy.retry
    decision = retry_decision(
        failure, number, retry=retry, previous_delay=previous, rng=policy.rng, now=now, deadline=call.deadline
    )
    if isinstance(decision, GiveUp):
        return decision
    fallback = policy.fallback
    if (
        call.has_next
        and fallback is not None
        and number >= fallback.attempts_on(call.on, failure, retry.max_attempts)
    ):
        return GiveUp("overload_fallback")
    if call.breaker is not None and call.breaker.state is BreakerState.OPEN:
        return GiveUp("circuit_open")
    if policy.budget is not None and not policy.budget.try_retry():
        policy.counters.add("budget_refusals")
        return GiveUp("budget")
    return decision


def _counts_against_health(failure: Failure, limit: ConcurrencyLimit | None) -> bool:
    """Does the breaker count this give-up? Congestion is the adaptive limit's to handle while it
    can still cut: the breaker counts it once the limit is at its floor and the model still
    fails, so sending less did not help (an outage)."""
    adaptive = limit.adaptive if limit is not None else None
    congested = failure.kind in CONGESTION and adaptive is not None and not adaptive.floored
    return failure.kind in BREAKER_FAILURES and not congested


_Tried = tuple[bool, Any, "Failure | None", float]  # ok, result or error, failure, when it ended


def attempt_layer(call: _Call, number: int) -> Generator[_Step, Any, _Tried]:
    """One attempt (the SDK's own retries are off underneath): paced when the rate-limit
    buckets run low, then sent; its latency and headers feed the adaptive limit and the pacer,
    and a failure is classified (None: not one the policy knows)."""
    policy = call.policy
    clock = policy.clock
    monotonic = clock.monotonic
    pacer = policy.pacer
    if pacer is not None:
        wait = pacer.reserve(clock.wall())
        if wait > 0:
            yield (_SLEEP, min(wait, max(0.0, call.deadline - monotonic())))
    attempt = Attempt(
        call.on, call.on_params, number, policy.retry.max_attempts, call.deadline, monotonic, call.attempts
    )
    began = monotonic()
    ok, value = yield (_INVOKE, attempt)
    now = monotonic()
    adaptive = call.limit.adaptive if call.limit is not None else None
    failure: Failure | None = None
    if ok:
        if adaptive is not None:
            adaptive.on_success(now - began)
        if pacer is not None and attempt.response_headers is not None:
            pacer.observe(attempt.response_headers, clock.wall())
    else:
        failure = classify_exception(value, now_wall=clock.wall())
    if policy._hooks:  # the event is built only when someone listens
        _report(policy, call.on, number, ok, failure, now - began)
    if failure is not None:
        if failure.kind in CONGESTION and adaptive is not None:
            adaptive.on_overload(began, now)
        if pacer is not None and failure.headers:
            pacer.observe(failure.headers, clock.wall())
    return ok, value, failure, now


def _report(
    policy: Policy, model: str, number: int, ok: bool, failure: Failure | None, latency_s: float
) -> None:
    """Report one attempt (``ok``, or its failure; neither: an error the policy does not know)."""
    policy.emit(
        AttemptFinished(
            model=model,
            attempt=number,
            ok=ok,
            kind=failure.kind.value if failure is not None else None,
            status=failure.status if failure is not None else None,
            latency_s=latency_s,
        )
    )
