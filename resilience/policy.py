"""``Policy``: the pieces composed in one fixed order, outermost first::

    cache → fallback chain (per model) → circuit breaker (per model) → concurrency limit /
    adaptive throttle → retry (backoff with jitter, Retry-After, retry budget) → one attempt

* The **cache** answers a repeated non-streaming ``create`` before anything else runs
  (:func:`through_cache`, called by the SDK wrappers);
* the **fallback chain** walks the models for the requested one; for each model
* the **breaker** may refuse at once (then the chain moves on with no request sent);
* a **concurrency slot** is held for the whole retry loop on that model (a retrying call keeps
  its place; new calls queue behind it instead of piling onto an overloaded service, or, when
  that model's adaptive limit was cut and the chain has a next model, move on to it at once);
* the **retry loop** makes attempts until success, a failure that is not retryable, the
  attempt limit, the overall deadline, a Retry-After above the ceiling or an empty budget, or
  until a model that has a next one has answered 529 ``overload_attempts`` times;
* **one attempt** is paced (before the 429, not after) and sent with the SDK's own retries off;
* when it gives up on a model with a failure the chain falls back on, the next model is tried
  with the same parameters (``max_tokens`` clamped); otherwise the last error is raised.

Each layer below the cache is one function, in that order, in :mod:`resilience._layers`:
generators that yield what to do next (attempt, sleep, wait for a slot), driven by a sync
shell (:meth:`Policy.call`) and an async one (:meth:`Policy.acall`). The retry decision is a
type, :class:`~resilience.backoff.Delay` or :class:`~resilience.backoff.GiveUp` (see
:func:`~resilience.backoff.retry_decision`). Every decision is a pure function or a state
machine with time passed in; the clock, the sleep and the random generator are injected.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, Literal, TypeVar

from anthropic.types import Message

from resilience import testing
from resilience._layers import (
    _ACQUIRE,
    _INVOKE,
    _SLEEP,
    Attempt,
    CallOutcome,
    _Call,
    _Step,
    attach_outcome,
    fallback_layer,
)
from resilience.backoff import Delay, GiveUp, GiveUpReason, Retry, retry_decision
from resilience.breaker import BreakerState, CircuitBreakers
from resilience.budget import RetryBudget
from resilience.cache import (
    DEFAULT_TTL_S,
    ResponseCache,
    get_async,
    request_key,
    store_if_cacheable,
    store_if_cacheable_async,
)
from resilience.fallback import FallbackChain
from resilience.instrumentation.events import (
    BreakerChanged,
    CallFinished,
    Counters,
    Event,
    EventHook,
    log,
    log_event,
)
from resilience.testing import Clock, SystemClock
from resilience.throttle import AIMDLimit, ConcurrencyLimit, LimiterTimeout, ModelLimits, RateLimitPacer

__all__ = [
    "Attempt",
    "CallOutcome",
    "Delay",
    "GiveUp",
    "GiveUpReason",
    "Policy",
    "Retry",
    "StreamRetry",
    "retry_decision",
    "through_cache",
    "through_cache_async",
]

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


# --- the cache, outermost layer (non-streaming create, called by the SDK wrappers) ----------
_Answer = tuple[Message, CallOutcome]


def through_cache(
    policy: Policy, params: Mapping[str, Any], *, use_cache: bool, call: Callable[[], _Answer]
) -> Message:
    """The cache's answer to a create with ``params``, or ``call()``'s (stored when it may be)."""
    cache, key = _keyed(policy, params, use_cache)
    hit = cache.get(key) if cache is not None and key is not None else None
    if (cached := _cache_hit(policy, hit, params)) is not None:
        return cached
    message, outcome = call()
    attach_outcome(message, outcome)
    if cache is not None and key is not None and not outcome.fell_back:
        store_if_cacheable(cache, key, message.to_dict(), policy.cache_ttl_s)
    return message


async def through_cache_async(
    policy: Policy, params: Mapping[str, Any], *, use_cache: bool, call: Callable[[], Awaitable[_Answer]]
) -> Message:
    """:func:`through_cache` for the async client: the backend is awaited when it can be
    (Redis, over ``redis.asyncio``), so a hung cache never holds the event loop."""
    cache, key = _keyed(policy, params, use_cache)
    hit = await get_async(cache, key) if cache is not None and key is not None else None
    if (cached := _cache_hit(policy, hit, params)) is not None:
        return cached
    message, outcome = await call()
    attach_outcome(message, outcome)
    if cache is not None and key is not None and not outcome.fell_back:
        await store_if_cacheable_async(cache, key, message.to_dict(), policy.cache_ttl_s)
    return message


def _keyed(
    policy: Policy, params: Mapping[str, Any], use_cache: bool
) -> tuple[ResponseCache | None, str | None]:
    """The cache and the key of a non-streaming create; no key when the cache is off or the
    request cannot be keyed (a parameter that is not JSON data: then it is not cached). Only
    complete messages from the model asked are stored: never a fallback's answer, which would
    keep serving the degraded model after the primary recovered."""
    cache = policy.cache if use_cache else None
    if cache is None:
        return None, None
    try:
        return cache, request_key(params)
    except (TypeError, ValueError) as exc:
        log.debug("busysignal.cache_skipped reason=%s", exc)
        return cache, None


def _cache_hit(policy: Policy, hit: dict[str, Any] | None, params: Mapping[str, Any]) -> Message | None:
    """What the cache held as the call's answer (counted and reported); None on a miss."""
    if hit is None:
        return None
    model = str(params["model"])
    message = Message.model_validate(hit)
    outcome = CallOutcome(model, message.model or model, 0, (), 0.0, cached=True)
    attach_outcome(message, outcome)
    policy.counters.add("cache_hits")
    policy.emit(
        CallFinished(
            requested_model=model, model=outcome.model, ok=True, attempts=0, elapsed_s=0.0, cached=True
        )
    )
    return message


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
        self.emit(BreakerChanged(model=model, old=old, new=new))

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not testing.is_testing():
            self.clock.sleep(seconds)

    async def _async_sleep(self, seconds: float) -> None:
        if seconds > 0 and not testing.is_testing():
            await self.clock.async_sleep(seconds)

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
        start = self.clock.monotonic()
        deadline_s = self.retry.deadline_s
        # Positional: a class called with keywords costs a dict per call (this is the hot path).
        call = _Call(
            self,
            model,
            params,
            self.fallback.plan(model) if use_fallback and self.fallback is not None else (model,),
            self.breakers if use_breaker else None,
            start,
            start + deadline_s if deadline_s is not None else math.inf,
            resumption,  # deposited: a resumption's request was counted when it was first made
            [],
        )
        return fallback_layer(call)

    def __repr__(self) -> str:
        parts = [f"retry={self.retry!r}"]
        for name in ("budget", "breakers", "limit", "pacer", "fallback", "cache"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={type(value).__name__}")
        return f"Policy({', '.join(parts)})"
