"""The pure core ``decide(facts, now, state) -> Decision`` and the engine that wraps it.

``decide`` reads no clock and no global random: time is ``now`` (the server's monotonic seconds),
randomness is drawn from (scenario seed, rule, request index) with :mod:`mockserver.faults.rng`,
and everything it remembers (sequence counters, token buckets, capacity reservations) lives in
the :class:`~mockserver.faults.state.EngineState` it is given. The same scenario, seed and request
order therefore give the same decisions. Each decision says why in ``reason`` (journalled by the server).

Precedence for one request (first that applies wins), one step function each, called in this
order by ``decide``:
  1. the override header (when enabled), alone (``_override_value``, ``_override``);
  2. rate limits: a 429 when a bucket is short; otherwise the request takes its tokens
     (``_rate_limits``);
  3. rules in file order (see :mod:`scenarios.schema`): scripted, random, timed, per model
     (``_rules``);
  4. the capacity model: admit now, queue (``delay_s``) or shed with 529 (``_capacity``).
A request the scenario's rate limits cover gets its buckets' ``anthropic-ratelimit-*`` headers in
the decision (:mod:`mockserver.faults.ratelimits`); the server sends the default tier's on the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.faults import rng
from mockserver.faults.capacity import PoolState, Reservation, admit_request
from mockserver.faults.compiled import CompiledFault, CompiledRule, CompiledScenario
from mockserver.faults.decision import Decision, HttpError, RequestFacts
from mockserver.faults.override import OverrideError, parse_override
from mockserver.faults.ratelimits import KeyBuckets, rate_limit, ratelimit_headers
from mockserver.faults.rng import TO_UNIT
from mockserver.faults.state import DrawBlock, EngineState, Pending

_COUNTER_LIMIT = 200_000  # scope keys remembered per rule (oldest forgotten first)
_PENDING_LIMIT = 200_000


BLOCK_BITS = 8
BLOCK = 1 << BLOCK_BITS  # draws computed together (rng.draw_block)
_DENSE = BLOCK // 2  # a stream asked this often within one block gets its draws as a block
_BLOCK_LIMIT = 1 << 62  # indices below this fit the packed lanes


def _draw(state: EngineState, key: int, index: int) -> float:
    """``rng.draw(key, index)``, from the stream's block when it has one.

    The common case on the hot path comes first: the stream's block holds this index already."""
    block = index >> BLOCK_BITS
    d = state.draws.get(key)
    if d is None or d.block != block:
        d = _next_block(state, d, key, block, index)
    d.uses += 1
    values = d.values
    if values is None:
        if d.uses < _DENSE or index >= _BLOCK_LIMIT:
            return rng.draw(key, index)
        d.values = values = rng.draw_block(key, block << BLOCK_BITS, BLOCK)
    return values[(index & (BLOCK - 1)) << 1] * TO_UNIT


def _next_block(state: EngineState, d: DrawBlock | None, key: int, block: int, index: int) -> DrawBlock:
    """The stream's DrawBlock moved on to ``block``: its draws computed at once when the previous
    block was asked often (a new stream starts counting)."""
    if d is None:
        if len(state.draws) >= 4096:
            state.draws.clear()
        d = state.draws[key] = DrawBlock()
    dense = d.block == block - 1 and d.uses >= _DENSE  # the previous block was asked often
    d.block, d.uses, d.values = block, 0, None
    if dense and index < _BLOCK_LIMIT:
        d.values = rng.draw_block(key, block << BLOCK_BITS, BLOCK)
    return d


def _decision_from(
    fault: CompiledFault | None,
    reason: dict[str, Any],
    delay_s: float = 0.0,
    ttft_s: float | None = None,
    tokens_per_s: float | None = None,
    headers: dict[str, str] | None = None,
) -> Decision:
    """The decision applying ``fault`` (None: a pass); its label goes into the reason."""
    if fault is None:
        return Decision(None, None, None, delay_s, ttft_s, tokens_per_s, headers or {}, reason)
    reason["fault"] = fault.label
    return Decision(
        fault.error,
        fault.connection,
        fault.stream,
        delay_s,
        ttft_s,
        tokens_per_s,
        headers or {},
        reason,
        fault.refusal,
    )


# ---------------------------------------------------------------- override header
def _override(facts: RequestFacts, state: EngineState, value: str, reason: dict[str, Any]) -> Decision:
    cache = state.override_cache
    parsed = cache.get(value, "")
    if parsed == "":
        try:
            parsed = parse_override(value)
        except OverrideError as exc:
            parsed = str(exc)
        if len(cache) < 1024:
            cache[value] = parsed
    reason["source"] = "override"
    reason["override"] = value
    if isinstance(parsed, str):
        header = state.scenario.override_header
        error = HttpError(400, "invalid_request_error", f"{header}: {parsed}")
        reason["fault"] = "400"
        return Decision(error=error, reason=reason)
    if parsed is not None and parsed.stream is not None and not facts.stream:
        reason["skipped"] = "stream fault on a non-streamed request"
        parsed = None
    return _decision_from(parsed, reason)


# ---------------------------------------------------------------- rules
def _scope_key(rule: CompiledRule, facts: RequestFacts) -> str:
    if rule.scope == "global":
        return ""
    if rule.scope == "api_key":
        return facts.api_key_id
    return facts.logical_key


def _dynamic_match(rule: CompiledRule, facts: RequestFacts, t: float) -> bool:
    """The conditions that vary per request of one shape: key, speed, headers, time. (A rule whose only
    such condition is one fixed window is tested by ``_rules`` itself, without this call.)"""
    if rule.api_key is not None and not rule.api_key(facts.api_key_id):
        return False
    if rule.speed is not None and (facts.speed or "standard") != rule.speed:
        return False
    for name, match in rule.headers:
        value = facts.headers.get(name)
        if value is None or not match(value):
            return False
    return rule.when is None or rule.when(t)


def _rules_for(state: EngineState, shape: tuple[str, str, str | None, bool]) -> tuple[CompiledRule, ...]:
    """The rules whose static conditions match requests of this (method, path, model, stream)
    (memoised)."""
    rules = state.rule_cache.get(shape)
    if rules is None:
        rules = tuple(r for r in state.scenario.rules if r.static_match(*shape))
        if len(state.rule_cache) >= 1024:
            state.rule_cache.clear()
        state.rule_cache[shape] = rules
    return rules


def _quiet(state: EngineState, shape: tuple[str, str, str | None, bool]) -> bool:
    """Whether no rule, rate limit or capacity pool applies to requests of this shape (memoised)."""
    path, model = shape[1], shape[2]
    sc = state.scenario
    rl = sc.rate_limits
    cap = sc.capacity
    quiet = (
        not _rules_for(state, shape)
        and (rl is None or path not in rl.paths or rl.limits_for(model) is None)
        and (cap is None or path not in cap.paths or cap.pool_for(model) is None)
    )
    if len(state.quiet_cache) >= 1024:
        state.quiet_cache.clear()
    state.quiet_cache[shape] = quiet
    return quiet


def _fire(
    rule: CompiledRule, facts: RequestFacts, state: EngineState, info: dict[str, Any]
) -> tuple[bool, CompiledFault | None]:
    """Whether the rule fires for this request, and the fault (sequence item or the rule's)."""
    n = 0
    if rule.uses_counter:
        counters = state.counters[rule.index]
        key = _scope_key(rule, facts)
        n = counters.get(key, 0)
        if n == 0 and len(counters) >= _COUNTER_LIMIT:
            counters.pop(next(iter(counters)))
        counters[key] = n + 1
        info["count"] = n
        if rule.scope != "global":
            info["scope"] = rule.scope
    seq = rule.sequence
    if seq is not None:
        if n >= len(seq) and not rule.repeat:
            info["sequence"] = "done"
            return False, None
        pos = n % len(seq)
        info["sequence_pos"] = pos
        item = seq[pos]
        return item is not None, item
    if rule.after is not None and n < rule.after:
        return False, None
    if rule.every is not None and (n + 1) % rule.every != 0:
        return False, None
    if rule.probability is not None:
        u = _draw(state, rule.random_key, facts.index)
        info["draw"] = u
        info["p"] = rule.probability
        if u >= rule.probability:
            return False, None
    return True, rule.fault


def _capacity(
    facts: RequestFacts, now: float, effects: Effects, state: EngineState, reason: dict[str, Any]
) -> tuple[Effects, Reservation | None, PoolState | None]:
    """Step 4, when the scenario has a capacity model: a request that will generate (no fault, or
    a stream that fails part-way) and that a pool covers is admitted now, queued (its wait adds to
    the delay) or shed (the pool's fault, at once); its effects then, and the slot it holds."""
    fault, delay, ttft, tps = effects
    cap = state.scenario.capacity
    if cap is None or (fault is not None and fault.stream is None) or facts.path not in cap.paths:
        return effects, None, None
    pool = cap.pool_for(facts.model)
    if pool is None:
        return effects, None, None
    ps, cap_fn = state.pools[pool.index], state.capacity_fns[pool.index]
    shed, wait, ttft, tps, reservation, held = admit_request(
        pool, ps, cap_fn, facts.max_tokens, now + delay, ttft, tps, reason
    )
    if shed is not None:
        return (shed, wait, ttft, tps), reservation, held  # shedding is fast: no delay
    return (fault, delay + wait, ttft, tps), reservation, held


Effects = tuple[CompiledFault | None, float, float | None, float | None]  # fault, delay, ttft, tokens/s
_NO_EFFECTS: Effects = (None, 0.0, None, None)


# ---------------------------------------------------------------- decide, step by step
def _rate_limits(
    facts: RequestFacts, now: float, state: EngineState, reason: dict[str, Any]
) -> tuple[HttpError | None, KeyBuckets | None, dict[str, str] | None]:
    """Step 2, when the scenario has rate limits: the refusal (a 429) when one of the request's
    buckets is short, else the buckets it took its tokens from; and their ``anthropic-ratelimit-*``
    headers."""
    rl = state.scenario.rate_limits
    if rl is None or facts.path not in rl.paths:
        return None, None, None
    limits = rl.limits_for(facts.model)
    if limits is None:
        return None, None, None
    refused, kb = rate_limit(facts, now, state.buckets, rl, limits, reason)
    headers = ratelimit_headers(kb, now, state.wall_offset)
    return (refused.error if refused is not None else None), kb, headers


def _rules(facts: RequestFacts, t: float, state: EngineState, reason: dict[str, Any]) -> Effects:
    """Step 3, when the scenario has rules: the rules in file order (scripted, random, timed, per
    model). The first terminal rule that fires sets the fault, the first modifier that fires sets
    the latency and the tokens."""
    fault: CompiledFault | None = None
    delay = 0.0
    ttft: float | None = None
    tps: float | None = None
    have_fault = have_latency = have_tokens = False
    for rule in _rules_for(state, (facts.method, facts.path, facts.model, facts.stream)):
        if rule.terminal:
            if have_fault:
                continue
        elif (rule.latency is None or have_latency) and (not rule.has_tokens or have_tokens):
            continue
        if rule.dynamic and not (
            rule.window_start <= t < rule.window_end if rule.only_window else _dynamic_match(rule, facts, t)
        ):
            continue
        if rule.only_probability:  # random: one draw
            u = _draw(state, rule.random_key, facts.index)
            if u >= rule.threshold:
                continue
            rule_fault, info = rule.fault, {"draw": u, "p": rule.threshold}
        else:  # scripted or counted
            info = {}
            fired, rule_fault = _fire(rule, facts, state, info)
            if not fired:
                if info and rule.terminal:
                    reason.setdefault("passed", []).append({"rule": rule.id, **info})
                continue
        if rule.terminal:
            have_fault = True
            fault = rule_fault
            _reason_of_rule(reason, rule, info)
        if rule.latency is not None and not have_latency:
            have_latency = True
            delay = rule.latency.sample(_draw(state, rule.latency_key, facts.index))
            reason["latency"] = {"rule": rule.id, "s": delay}
        if rule.has_tokens and not have_tokens:
            have_tokens = True
            ttft, tps = rule.ttft_s, rule.tokens_per_s
            reason["tokens"] = {"rule": rule.id, "ttft_s": ttft, "tokens_per_s": tps}
        if have_fault and have_latency and have_tokens:
            break
    if fault is not None and fault.stream is not None and not facts.stream:
        reason["skipped"] = "stream fault on a non-streamed request"
        fault = None
    return fault, delay, ttft, tps


def _reason_of_rule(reason: dict[str, Any], rule: CompiledRule, info: dict[str, Any]) -> None:
    reason["source"] = "rule"
    reason["rule"] = rule.id
    reason["rule_index"] = rule.index
    if rule.window is not None:
        reason["window"] = rule.window
    reason.update(info)


def _hold(
    state: EngineState,
    facts: RequestFacts,
    decision: Decision,
    kb: KeyBuckets | None,
    reservation: Reservation | None,
    pool_state: PoolState | None,
) -> None:
    """Remember what the request holds until ``complete``: reserved output tokens, a capacity slot."""
    out_bucket = kb.output_tokens if kb is not None else None
    if out_bucket is None and reservation is None:
        return
    if len(state.pending) >= _PENDING_LIMIT:
        state.pending.pop(next(iter(state.pending)))
    state.pending[facts.index] = Pending(decision, out_bucket, facts.max_tokens, reservation, pool_state)


def decide(facts: RequestFacts, now: float, state: EngineState) -> Decision:
    """What to do with one request, in the order of the module docstring: the override header,
    the rate limits, the rules, the capacity model (each step only when the scenario has it)."""
    sc = state.scenario
    t = now - state.start
    reason: dict[str, Any] = {"scenario": sc.name, "seed": sc.seed, "index": facts.index, "t": t}
    if sc.override_enabled != "never" and (sc.override_enabled == "always" or facts.loopback):
        value = facts.headers.get(sc.override_header)  # 1. the override header, alone
        if value is not None:
            return _override(facts, state, value, reason)
    kb: KeyBuckets | None = None
    headers: dict[str, str] | None = None
    if sc.rate_limits is not None:
        refused, kb, headers = _rate_limits(facts, now, state, reason)
        if refused is not None:
            return Decision(error=refused, headers=headers or {}, reason=reason)
    fault, delay, ttft, tps = _rules(facts, t, state, reason) if sc.rules else _NO_EFFECTS
    reservation: Reservation | None = None
    pool_state: PoolState | None = None
    if sc.capacity is not None:
        (fault, delay, ttft, tps), reservation, pool_state = _capacity(
            facts, now, (fault, delay, ttft, tps), state, reason
        )
    decision = _decision_from(fault, reason, delay, ttft, tps, headers)
    if kb is not None or reservation is not None:
        _hold(state, facts, decision, kb, reservation, pool_state)
    return decision


def complete(
    facts: RequestFacts,
    decision: Decision,
    now: float,
    state: EngineState,
    *,
    status: int,
    output_tokens: int,
    client_gone: bool,
) -> None:
    """The response to ``facts`` ended at ``now``: give back unused output tokens and release
    its capacity slot (unless its client went away and abandoned work keeps its slot)."""
    pending = state.pending.get(facts.index)
    if pending is None or pending.decision is not decision:
        return
    del state.pending[facts.index]
    if pending.output_bucket is not None:
        used = output_tokens if status == 200 else 0
        pending.output_bucket.give_back(pending.output_reserved - used, now)
    res = pending.reservation
    if res is not None and pending.pool is not None:
        cap = state.scenario.capacity
        holds = cap is not None and cap.client_gone_holds and client_gone
        if not holds:
            pending.pool.release(res, now)


class ScenarioEngine:
    """A :class:`~mockserver.faults.decision.FaultEngine` running one compiled scenario.

    ``wall_clock`` (epoch seconds, default ``time.time``) is read only when the scenario clock
    (re)starts, to anchor the RFC 3339 reset times of the rate-limit headers.
    """

    def __init__(
        self,
        scenario: CompiledScenario,
        *,
        wall_clock: Callable[[], float] = time.time,
        source: Any = None,
    ) -> None:
        self.compiled = scenario
        self.source = source  # the validated Scenario model, for display
        self._wall_clock = wall_clock
        self.state: EngineState | None = None

    @property
    def name(self) -> str:
        return self.compiled.name

    @property
    def seed(self) -> int:
        return self.compiled.seed

    def restart(self, now: float) -> None:
        self.state = EngineState.fresh(self.compiled, now, self._wall_clock() - now)

    def elapsed(self, now: float) -> float | None:
        """Scenario seconds at engine time ``now`` (None before the clock first starts)."""
        return None if self.state is None else now - self.state.start

    def quiet_reason(
        self,
        method: str,
        path: str,
        model: str | None,
        stream: bool,
        headers: Mapping[str, str],
        index: int,
        now: float,
    ) -> dict[str, Any] | None:
        """``decide`` for a request that nothing in the scenario can touch: no rule matches its
        shape, no rate limit or capacity pool covers it, and it sends no override header. Then
        the decision is a pass (``Decision(reason=...)``) whose reason, returned here, only says
        when (scenario, seed, index, t), and the request holds nothing, so there is nothing to
        ``complete``. None when the request needs the full ``decide`` (with its RequestFacts).
        The server's shortcut for such requests."""
        state = self.state
        if state is None:
            return None
        shape = (method, path, model, stream)
        quiet = state.quiet_cache.get(shape)
        if quiet is None:
            quiet = _quiet(state, shape)
        if not quiet:
            return None
        sc = state.scenario
        if sc.override_enabled != "never" and sc.override_header in headers:
            return None
        return {"scenario": sc.name, "seed": sc.seed, "index": index, "t": now - state.start}

    def decide(self, facts: RequestFacts, now: float) -> Decision:
        state = self.state
        if state is None:  # the clock starts with the first request when never restarted
            self.restart(now)
            state = self.state
            assert state is not None
        return decide(facts, now, state)

    def complete(
        self,
        facts: RequestFacts,
        decision: Decision,
        now: float,
        *,
        status: int,
        output_tokens: int,
        client_gone: bool,
    ) -> None:
        """:meth:`FaultEngine.complete <mockserver.faults.decision.FaultEngine.complete>`: the module's
        :func:`complete` for a request that holds something (most hold nothing: done at once)."""
        state = self.state
        if state is not None and facts.index in state.pending:
            complete(
                facts,
                decision,
                now,
                state,
                status=status,
                output_tokens=output_tokens,
                client_gone=client_gone,
            )
