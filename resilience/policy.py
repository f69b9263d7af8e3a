"""``Policy``: the pieces composed in one fixed order, outermost first::

    [cache →] fallback chain → circuit breaker (per model) → concurrency limit / adaptive
    throttle → retry (backoff, Retry-After, retry budget, deadline; pacer before each attempt)
    → one attempt

* The **fallback chain** walks the models for the requested one; for each model
* the **breaker** may refuse at once (then the chain moves on with no request sent);
* a **concurrency slot** is held for the whole retry loop on that model (a retrying call keeps
  its place; new calls queue behind it instead of piling onto an overloaded service, or, when
  that model's adaptive limit was cut and the chain has a next model, move on to it at once);
* the **retry loop** makes attempts until success, a failure that is not retryable, the
  attempt limit, the overall deadline, a Retry-After above the ceiling or an empty budget, or
  until a model that has a next one has answered 529 ``overload_attempts`` times;
* when it gives up on a model with a failure the chain falls back on, the next model is tried
  with the same parameters (``max_tokens`` clamped); otherwise the last error is raised.

The **cache** sits outside all of this in the SDK wrapper (non-streaming ``create`` only).

The logic lives once, in a generator (:meth:`Policy._steps`) that yields what to do next
(attempt, sleep, wait for a slot) and is driven by a sync shell (:meth:`Policy.call`) and an
async one (:meth:`Policy.acall`). Every decision in it is a pure function or a state machine
with time passed in; the clock, the sleep and the random generator are injected.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from resilience import testing
from resilience.backoff import Backoff, FullJitter
from resilience.breaker import BreakerState, CircuitBreakers
from resilience.budget import RetryBudget
from resilience.cache import DEFAULT_TTL_S, ResponseCache
from resilience.classify import CircuitOpenError, Failure, Kind, classify_exception
from resilience.fallback import FallbackChain
from resilience.instrumentation.events import (
    AttemptFinished,
    BreakerChanged,
    CallFinished,
    Counters,
    Event,
    EventHook,
    FallbackTaken,
    GaveUp,
    RetryScheduled,
    log,
    log_event,
)
from resilience.testing import Clock, SystemClock
from resilience.throttle import AIMDLimit, ConcurrencyLimit, LimiterTimeout, ModelLimits, RateLimitPacer

__all__ = ["Attempt", "CallOutcome", "Policy", "Retry", "StreamRetry", "retry_decision"]

T = TypeVar("T")

StreamRetry = Literal["preamble", "buffer", "none"]
"""How much of a stream is held back so that a failure inside it can still be retried:
``"preamble"`` (default) holds back the events that carry no output yet (message_start,
content_block_start, ping) until the first delta, ``"buffer"`` holds back the whole stream
(any mid-stream error is retried, but nothing streams), ``"none"`` hands every event over at
once (only failures before the first event are retried).

What happens *after* events were handed over is ``Policy(stream_resume=...)``: ``False``
(default) raises the failure to the caller unchanged; ``True`` retries the same request on the
same model and, only if the new stream repeats every event already delivered (same text, same
blocks; ids and usage may differ), carries on after them as if nothing happened; a retry that
diverges raises the original failure. Worth it with deterministic output (``temperature=0``, a
test double); with sampled output the replay rarely matches and costs one extra request.
Either way a failure after output is reported as :class:`StreamInterrupted`."""

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


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry settings. ``max_attempts`` counts the first attempt (4 = 1 + 3 retries, per model).
    ``deadline_s`` bounds the whole call, every model and wait included (None: no deadline).
    A Retry-After above ``retry_after_ceiling_s`` makes the policy give up on that model
    instead of sleeping for minutes (the fallback chain may then move on)."""

    max_attempts: int = 4
    backoff: Backoff = field(default_factory=lambda: FullJitter(base=1.0, multiplier=2.0, cap=20.0))
    deadline_s: float | None = 600.0
    retry_after_ceiling_s: float = 60.0
    retry_after_jitter: float = 0.0
    """0 (default): wait exactly what Retry-After says. ``j > 0``: wait ``ra * (1 + U(0, j))``,
    never earlier than asked, so that clients told the same instant do not return in one wave,
    and never longer than ``retry_after_ceiling_s``."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise ValueError(f"Retry: max_attempts must be an int >= 1, got {self.max_attempts!r}")
        if self.deadline_s is not None and not (math.isfinite(self.deadline_s) and self.deadline_s > 0):
            raise ValueError(
                f"Retry: deadline_s must be a finite number > 0 or None, got {self.deadline_s!r}"
            )
        if not self.retry_after_ceiling_s >= 0:
            raise ValueError(f"Retry: retry_after_ceiling_s must be >= 0, got {self.retry_after_ceiling_s!r}")
        if not 0.0 <= self.retry_after_jitter <= 10.0:
            raise ValueError(f"Retry: retry_after_jitter must be in [0, 10], got {self.retry_after_jitter!r}")
        if not isinstance(self.backoff, Backoff):
            raise TypeError(f"Retry: backoff must be a backoff strategy, got {self.backoff!r}")


def retry_decision(
    failure: Failure,
    attempt: int,
    *,
    retry: Retry,
    previous_delay: float | None,
    rng: random.Random,
    now: float,
    deadline: float,
) -> float | str:
    """Pure: the delay before the next attempt, or why there is none (``not_retryable``,
    ``attempts``, ``retry_after_over_ceiling``, ``deadline``). The budget is checked after."""
    if not failure.retryable:
        return "not_retryable"
    if attempt >= retry.max_attempts:
        return "attempts"
    if failure.retry_after_s is not None:
        if failure.retry_after_s > retry.retry_after_ceiling_s:
            return "retry_after_over_ceiling"
        delay = failure.retry_after_s
        if retry.retry_after_jitter > 0.0:  # later than asked, but never past the ceiling
            delay = min(
                delay + rng.uniform(0.0, retry.retry_after_jitter * delay), retry.retry_after_ceiling_s
            )
    else:
        delay = retry.backoff.delay(attempt, previous_delay, rng)
    if now + delay >= deadline:
        return "deadline"
    return delay


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


_INVOKE = 0
_SLEEP = 1
_ACQUIRE = 2

_Step = tuple[int, Any]


def _resume(steps: Generator[_Step, Any, Any], kind: int, ok: bool, value: Any) -> _Step:
    """Feed what a shell did for one step back into the core: an attempt's result or error;
    the end of a sleep; a slot, or :class:`LimiterTimeout` (which the core turns into a
    give-up). Any other failure of a sleep or a wait is raised from the shell."""
    if kind == _INVOKE:
        return steps.send((ok, value))
    if ok:
        return steps.send(None)
    if kind == _ACQUIRE and isinstance(value, LimiterTimeout):
        return steps.throw(value)
    raise value


class Policy:
    """Retry, budget, breaker, throttle and fallback, composed (see the module docstring).

    Every piece is optional (``None`` switches it off) and usable alone. A policy holds shared
    state (budget, breakers, limit, pacer, counters): share one policy between everything that
    talks to one account, and those pieces are shared too.

    Parameters (all keyword-only):

    * ``retry``: :class:`Retry` (None: one attempt, no retries);
    * ``budget``: :class:`~resilience.budget.RetryBudget`;
    * ``breakers``: :class:`~resilience.breaker.CircuitBreakers` (one breaker per model);
    * ``limit``: :class:`~resilience.throttle.ModelLimits` (one limit per model, optionally
      adaptive; a call moves to the next model instead of queueing for one cut by overload) or
      one :class:`~resilience.throttle.ConcurrencyLimit` shared by all models;
    * ``pacer``: :class:`~resilience.throttle.RateLimitPacer`;
    * ``fallback``: a :class:`~resilience.fallback.FallbackChain` or a list of model ids;
    * ``cache``, ``cache_ttl_s``: a :class:`~resilience.cache.ResponseCache`, used by the SDK
      wrappers as the outermost layer;
    * ``stream_retry``, ``stream_resume``: see :data:`StreamRetry`;
    * ``on_event``: one hook or a list (see :mod:`resilience.instrumentation.events`); ``log_events``: the
      default log lines;
    * ``clock``: a :class:`~resilience.testing.Clock` (monotonic, wall, sleep, async sleep);
      ``seed``: the seed of the policy's own random generator (jitter).
    """

    def __init__(
        self,
        *,
        retry: Retry | None = None,
        budget: RetryBudget | None = None,
        breakers: CircuitBreakers | None = None,
        limit: ConcurrencyLimit | ModelLimits | None = None,
        pacer: RateLimitPacer | None = None,
        fallback: FallbackChain | Sequence[str] | None = None,
        cache: ResponseCache | None = None,
        cache_ttl_s: float = DEFAULT_TTL_S,
        stream_retry: StreamRetry = "preamble",
        stream_resume: bool = False,
        on_event: EventHook | Sequence[EventHook] | None = None,
        log_events: bool = True,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if stream_retry not in ("preamble", "buffer", "none"):
            raise ValueError(
                f"Policy: stream_retry must be 'preamble', 'buffer' or 'none', got {stream_retry!r}"
            )
        if not (isinstance(cache_ttl_s, (int, float)) and cache_ttl_s > 0):
            raise ValueError(f"Policy: cache_ttl_s must be > 0, got {cache_ttl_s!r}")
        self.retry = retry if retry is not None else Retry(max_attempts=1)
        self.budget = budget
        self.breakers = breakers
        self.limit = limit
        self.pacer = pacer
        if fallback is not None and not isinstance(fallback, FallbackChain):
            fallback = FallbackChain(fallback)
        self.fallback: FallbackChain | None = fallback
        self.cache = cache
        self.cache_ttl_s = float(cache_ttl_s)
        self.stream_retry: StreamRetry = stream_retry
        self.stream_resume = bool(stream_resume)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = random.Random(seed)
        self.counters = Counters()
        self.log_events = log_events
        self._hooks: list[EventHook] = []
        if on_event is not None:
            for hook in [on_event] if callable(on_event) else list(on_event):
                self.subscribe(hook)
        if breakers is not None:
            breakers.add_listener(self._breaker_changed)

    @classmethod
    def default(
        cls,
        *,
        fallback: FallbackChain | Sequence[str] | None = None,
        cache: ResponseCache | None = None,
        on_event: EventHook | Sequence[EventHook] | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> Policy:
        """Settings for the real service:

        * retry: 4 attempts per model, full jitter (base 1 s, ×2, cap 20 s), Retry-After
          honoured up to 60 s (above that: give up on the model), 600 s overall deadline (the
          SDK's own default request timeout, so nothing that works today is cut short);
        * budget: retries ≤ 10 % of requests + 10;
        * breaker per model: opens at ≥ 50 % failures over ≥ 10 calls in 30 s, for 15 s, then
          one probe;
        * throttle, per model: at most 256 calls in flight to each model, adaptive (AIMD from
          64: halved on each burst of 529s or of attempts that timed out, +1 per round of
          successes; the breaker counts those two only once the limit is at its floor); a call
          that finds no free slot on a model whose limit was cut falls back at once when the
          chain has another model (it queues otherwise); and a pacer that, once a rate-limit
          bucket is below 10 %, sends at its refill rate (before the 429, not after);
        * fallback (when a chain is given as a list of models): a model that answers 529 gets
          2 attempts before the call moves to the next model (the last model gets all 4);
          other failures get the full 4 attempts first;
        * streams: the preamble is held back, so an overload before the first token is retried.
        """
        if fallback is not None and not isinstance(fallback, FallbackChain):
            fallback = FallbackChain(fallback, overload_attempts=2)
        return cls(
            retry=Retry(),
            budget=RetryBudget(ratio=0.1, floor=10),
            breakers=CircuitBreakers(),
            limit=ModelLimits(256, adaptive=AIMDLimit(initial=64, minimum=1, maximum=256)),
            pacer=RateLimitPacer(reserve=0.1, max_delay_s=10.0),
            fallback=fallback,
            cache=cache,
            on_event=on_event,
            clock=clock,
            seed=seed,
        )

    # --- events ----------------------------------------------------------------------------
    def subscribe(self, hook: EventHook) -> None:
        """Call ``hook(event)`` for every event (see :mod:`resilience.instrumentation.events`)."""
        if not callable(hook):
            raise TypeError(f"Policy.subscribe: hook must be callable, got {hook!r}")
        self._hooks.append(hook)

    def emit(self, event: Event) -> None:
        if self.log_events:
            log_event(event)
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:  # a broken hook must never break a call
                log.exception("busysignal.hook_failed hook=%r event=%s", hook, type(event).__name__)

    def _breaker_changed(self, model: str, old: BreakerState, new: BreakerState, now: float) -> None:
        if new is BreakerState.OPEN:
            self.counters.add("breaker_opens")
        self.emit(BreakerChanged(model, old, new))

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not testing.is_testing():
            self.clock.sleep(seconds)

    async def _async_sleep(self, seconds: float) -> None:
        if seconds > 0 and not testing.is_testing():
            await self.clock.async_sleep(seconds)

    # --- the core ------------------------------------------------------------------------
    def _steps(
        self,
        model: str,
        params: Mapping[str, Any] | None,
        use_fallback: bool,
        use_breaker: bool,
        resumption: bool = False,
    ) -> Generator[_Step, Any, tuple[Any, CallOutcome]]:
        monotonic = self.clock.monotonic
        start = monotonic()
        retry = self.retry
        deadline = start + retry.deadline_s if retry.deadline_s is not None else math.inf
        chain = self.fallback.plan(model) if use_fallback and self.fallback is not None else (model,)
        breakers = self.breakers if use_breaker else None
        limit = self.limit
        pacer = self.pacer
        budget = self.budget
        hooks = self._hooks
        attempts = 0
        tried: list[str] = []
        last_exc: BaseException | None = None
        last_failure: Failure | None = None
        skipped: CircuitOpenError | None = None
        deposited = resumption  # a resumption's request was counted when it was first made

        for index, current in enumerate(chain):
            mparams = params
            if index > 0 and params is not None and self.fallback is not None:
                mparams = self.fallback.params_for(current, params)
            breaker = breakers.for_model(current) if breakers is not None else None
            ticket = breaker.admit(monotonic()) if breaker is not None else None
            if breaker is not None and ticket is None:
                now = monotonic()
                skipped = skipped or CircuitOpenError(current, breaker.retry_in(now))
                self.counters.add("give_ups")
                self.emit(
                    GaveUp(current, 0, "circuit_open", Kind.CIRCUIT_OPEN.value, None, None, None, now - start)
                )
                if index + 1 < len(chain) and now < deadline:
                    self.counters.add("fallbacks")
                    self.emit(FallbackTaken(current, chain[index + 1], Kind.CIRCUIT_OPEN.value))
                    continue
                break
            mlimit = limit.for_model(current) if isinstance(limit, ModelLimits) else limit
            preacquired = False
            if (
                mlimit is not None
                and isinstance(limit, ModelLimits)
                and limit.shed_to_fallback
                and index + 1 < len(chain)
                and mlimit.overloaded
                and monotonic() < deadline
            ):
                preacquired = mlimit.try_acquire()
                if not preacquired:
                    # No slot on a model that is shedding load, and another model is left: move
                    # on now rather than queue for the overloaded one (no request was sent).
                    if breaker is not None:
                        breaker.record("ignored", monotonic(), ticket)
                    self.counters.add("fallbacks")
                    self.emit(FallbackTaken(current, chain[index + 1], "throttled"))
                    continue
            tried.append(current)
            outcome: Literal["success", "failure", "ignored"] = "ignored"
            acquired = False
            try:
                if mlimit is not None:
                    if not preacquired and not mlimit.try_acquire():
                        try:
                            yield (
                                _ACQUIRE,
                                (mlimit, None if deadline == math.inf else deadline - monotonic()),
                            )
                        except LimiterTimeout:
                            self.counters.add("give_ups")
                            self.counters.add("calls_failed")
                            self.emit(
                                GaveUp(
                                    current,
                                    0,
                                    "throttled",
                                    "throttled",
                                    None,
                                    None,
                                    None,
                                    monotonic() - start,
                                )
                            )
                            raise
                    acquired = True
                number = 0
                previous: float | None = None
                while True:
                    number += 1
                    attempts += 1
                    if not deposited and budget is not None:
                        budget.on_request()  # once per call: a fallback model's attempt is no new request
                        deposited = True
                    if pacer is not None:
                        wait = pacer.reserve(self.clock.wall())
                        if wait > 0:
                            wait = min(wait, max(0.0, deadline - monotonic()))
                            yield (_SLEEP, wait)
                    attempt = Attempt(
                        current, mparams, number, retry.max_attempts, deadline, monotonic, attempts
                    )
                    began = monotonic()
                    ok, value = yield (_INVOKE, attempt)
                    now = monotonic()
                    if ok:
                        outcome = "success"
                        if mlimit is not None and mlimit.adaptive is not None:
                            mlimit.adaptive.on_success(now - began)
                        if pacer is not None and attempt.response_headers is not None:
                            pacer.observe(attempt.response_headers, self.clock.wall())
                        result = CallOutcome(model, current, attempts, tuple(tried), now - start)
                        self.counters.add("calls_ok")
                        self.counters.add("attempts", attempts)
                        if hooks:
                            self.emit(AttemptFinished(current, number, True, None, None, now - began))
                            self.emit(CallFinished(model, current, True, attempts, now - start))
                        return value, result
                    failure = classify_exception(value, now_wall=self.clock.wall())
                    if failure is None:  # not ours to judge: let it through untouched
                        self.counters.add("calls_failed")
                        self.counters.add("attempts", attempts)
                        if hooks:
                            self.emit(AttemptFinished(current, number, False, None, None, now - began))
                            self.emit(CallFinished(model, None, False, attempts, now - start))
                        raise value
                    last_exc, last_failure = value, failure
                    if hooks:
                        self.emit(
                            AttemptFinished(
                                current, number, False, failure.kind.value, failure.status, now - began
                            )
                        )
                    if failure.kind in CONGESTION and mlimit is not None and mlimit.adaptive is not None:
                        mlimit.adaptive.on_overload(began, now)
                    if pacer is not None and failure.headers:
                        pacer.observe(failure.headers, self.clock.wall())
                    decision = retry_decision(
                        failure,
                        number,
                        retry=retry,
                        previous_delay=previous,
                        rng=self.rng,
                        now=now,
                        deadline=deadline,
                    )
                    if (
                        not isinstance(decision, str)
                        and use_fallback
                        and self.fallback is not None
                        and index + 1 < len(chain)
                        and number >= self.fallback.attempts_on(current, failure, retry.max_attempts)
                    ):
                        decision = "overload_fallback"  # out of capacity: the next model answers sooner
                    if (
                        not isinstance(decision, str)
                        and breaker is not None
                        and breaker.state is BreakerState.OPEN
                    ):
                        decision = (
                            "circuit_open"  # other calls opened it meanwhile: stop hammering this model
                        )
                    if not isinstance(decision, str) and budget is not None and not budget.try_retry():
                        self.counters.add("budget_refusals")
                        decision = "budget"
                    if isinstance(decision, str):
                        if failure.kind in BREAKER_FAILURES and not (
                            failure.kind in CONGESTION
                            and mlimit is not None
                            and mlimit.adaptive is not None
                            and not mlimit.adaptive.floored
                        ):
                            # Congestion is the adaptive limit's to handle while it can still cut:
                            # the breaker counts it once the limit is at its floor and the model
                            # still fails, so sending less did not help (an outage).
                            outcome = "failure"
                        self.counters.add("give_ups")
                        self.emit(
                            GaveUp(
                                current,
                                number,
                                decision,
                                failure.kind.value,
                                failure.status,
                                failure.error_type,
                                failure.request_id,
                                now - start,
                            )
                        )
                        break
                    self.counters.add("retries")
                    self.emit(
                        RetryScheduled(
                            current,
                            number,
                            retry.max_attempts,
                            decision,
                            failure.kind.value,
                            failure.status,
                            failure.error_type,
                            failure.request_id,
                            failure.retry_after_s,
                        )
                    )
                    yield (_SLEEP, decision)
                    previous = decision
            finally:
                if acquired and mlimit is not None:
                    mlimit.release()
                if breaker is not None:
                    breaker.record(outcome, monotonic(), ticket)
            assert last_failure is not None
            if (
                self.fallback is not None
                and index + 1 < len(chain)
                and self.fallback.should_fall_back(last_failure)
                and monotonic() < deadline
            ):
                self.counters.add("fallbacks")
                self.emit(FallbackTaken(current, chain[index + 1], last_failure.kind.value))
                continue
            break

        self.counters.add("calls_failed")
        self.counters.add("attempts", attempts)
        if hooks:
            self.emit(CallFinished(model, None, False, attempts, monotonic() - start))
        error = last_exc if last_exc is not None else skipped
        assert error is not None
        if hasattr(error, "add_note"):
            error.add_note(
                f"busysignal: gave up on {model!r} after {attempts} attempt(s) over {tried or [model]} "
                f"({last_failure.kind.value if last_failure else 'circuit_open'})"
            )
        raise error

    # --- shells --------------------------------------------------------------------------
    def call(
        self,
        fn: Callable[[Attempt], T],
        *,
        model: str,
        params: Mapping[str, Any] | None = None,
        use_fallback: bool = True,
        use_breaker: bool = True,
        resumption: bool = False,
    ) -> T:
        """Run ``fn(attempt)`` under the policy and return its result. ``fn`` must use
        ``attempt.model`` (and ``attempt.params`` when ``params`` were given): with fallback
        they change from one model to the next."""
        return self.call_with_outcome(
            fn,
            model=model,
            params=params,
            use_fallback=use_fallback,
            use_breaker=use_breaker,
            resumption=resumption,
        )[0]

    def call_with_outcome(
        self,
        fn: Callable[[Attempt], T],
        *,
        model: str,
        params: Mapping[str, Any] | None = None,
        use_fallback: bool = True,
        use_breaker: bool = True,
        resumption: bool = False,
    ) -> tuple[T, CallOutcome]:
        """:meth:`call`, also returning the :class:`CallOutcome` (which model answered).
        ``resumption=True``: the call re-sends a request already counted (a stream resumed
        after output, whose retry token the caller took), so it deposits nothing in the retry
        budget."""
        steps = self._start("call", model, params, use_fallback, use_breaker, resumption)
        try:
            step = steps.send(None)
            while True:
                kind, arg = step
                try:
                    if kind == _INVOKE:
                        value: Any = fn(arg)
                    else:
                        value = None
                        if kind == _SLEEP:
                            self._sleep(arg)
                        else:
                            arg[0].acquire(arg[1])
                except Exception as exc:
                    step = _resume(steps, kind, False, exc)
                else:
                    step = _resume(steps, kind, True, value)
        except StopIteration as stop:
            result: tuple[T, CallOutcome] = stop.value
            return result
        finally:
            steps.close()

    async def acall(
        self,
        fn: Callable[[Attempt], Awaitable[T]],
        *,
        model: str,
        params: Mapping[str, Any] | None = None,
        use_fallback: bool = True,
        use_breaker: bool = True,
        resumption: bool = False,
    ) -> T:
        """:meth:`call` for a coroutine function ``fn``."""
        result = await self.acall_with_outcome(
            fn,
            model=model,
            params=params,
            use_fallback=use_fallback,
            use_breaker=use_breaker,
            resumption=resumption,
        )
        return result[0]

    async def acall_with_outcome(
        self,
        fn: Callable[[Attempt], Awaitable[T]],
        *,
        model: str,
        params: Mapping[str, Any] | None = None,
        use_fallback: bool = True,
        use_breaker: bool = True,
        resumption: bool = False,
    ) -> tuple[T, CallOutcome]:
        """:meth:`call_with_outcome` for a coroutine function ``fn``: the same core, with the
        attempt, the sleep and the wait for a slot awaited."""
        steps = self._start("acall", model, params, use_fallback, use_breaker, resumption)
        try:
            step = steps.send(None)
            while True:
                kind, arg = step
                try:
                    if kind == _INVOKE:
                        value: Any = await fn(arg)
                    else:
                        value = None
                        if kind == _SLEEP:
                            await self._async_sleep(arg)
                        else:
                            await arg[0].acquire_async(arg[1])
                except Exception as exc:
                    step = _resume(steps, kind, False, exc)
                else:
                    step = _resume(steps, kind, True, value)
        except StopIteration as stop:
            result: tuple[T, CallOutcome] = stop.value
            return result
        finally:
            steps.close()

    def _start(
        self,
        where: str,
        model: str,
        params: Mapping[str, Any] | None,
        use_fallback: bool,
        use_breaker: bool,
        resumption: bool,
    ) -> Generator[_Step, Any, tuple[Any, CallOutcome]]:
        if not isinstance(model, str) or not model:
            raise ValueError(f"Policy.{where}: model must be a non-empty string, got {model!r}")
        self.counters.add("calls")
        return self._steps(model, params, use_fallback, use_breaker, resumption)

    def __repr__(self) -> str:
        parts = [f"retry={self.retry!r}"]
        for name in ("budget", "breakers", "limit", "pacer", "fallback", "cache"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={type(value).__name__}")
        return f"Policy({', '.join(parts)})"
