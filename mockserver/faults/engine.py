"""The pure core ``decide(facts, now, state) -> Decision`` and the engine that wraps it.

``decide`` reads no clock and no global random: time is ``now`` (the server's monotonic seconds),
randomness is drawn from (scenario seed, rule, request index) with :mod:`mockserver.faults.rng`,
and everything it remembers (sequence counters, token buckets, capacity reservations) lives in
the :class:`EngineState` it is given. The same scenario, seed and request order therefore give
the same decisions. Each decision says why in ``reason`` (journalled by the server).

Precedence for one request (first that applies wins):
  1. the override header (when enabled), alone;
  2. rate limits: a 429 when a bucket is short; otherwise the request takes its tokens;
  3. rules in file order (see :mod:`scenarios.schema`);
  4. the capacity model: admit now, queue (``delay_s``) or shed with 529.
A request the scenario's rate limits cover gets its buckets' ``anthropic-ratelimit-*`` headers in
the decision (:mod:`mockserver.faults.ratelimits`); the server sends the default tier's on the rest.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver.faults import rng
from mockserver.faults.buckets import TokenBucket
from mockserver.faults.capacity import CapacityFn, PoolState, Reservation
from mockserver.faults.compiled import CompiledFault, CompiledRule, CompiledScenario
from mockserver.faults.decision import Decision, HttpError, RequestFacts
from mockserver.faults.override import OverrideError, parse_override
from mockserver.faults.ratelimits import KeyBuckets, rate_limit, ratelimit_headers
from mockserver.faults.rng import TO_UNIT

_COUNTER_LIMIT = 200_000  # scope keys remembered per rule (oldest forgotten first)
_PENDING_LIMIT = 200_000


@dataclass(slots=True)
class Pending:
    """What a request holds until ``complete``: reserved output tokens, a capacity slot."""

    decision: Decision
    output_bucket: TokenBucket | None = None
    output_reserved: int = 0
    reservation: Reservation | None = None
    pool: PoolState | None = None


BLOCK_BITS = 8
BLOCK = 1 << BLOCK_BITS  # draws computed together (rng.draw_block)
_DENSE = BLOCK // 2  # a stream asked this often within one block gets its draws as a block
_BLOCK_LIMIT = 1 << 62  # indices below this fit the packed lanes


class DrawBlock:
    """One random stream's draws for the block of request indices it is being asked about.

    A stream asked for at least half the indices of a block (a rule every request of a route
    meets) gets the draws of the whole block in one go (rng.draw_block: about a fifth of the cost
    of each draw on its own); a stream asked more rarely draws one at a time. The values are the
    same either way: a draw is a pure function of (stream, index)."""

    __slots__ = ("block", "uses", "values")

    def __init__(self) -> None:
        self.block = -1  # the block number whose draws are counted (and held, when values is set)
        self.uses = 0  # draws asked for in that block
        self.values: array[int] | None = None  # rng.draw_block of that block, once dense


def _draw(state: EngineState, key: int, index: int) -> float:
    """``rng.draw(key, index)``, from the stream's block when it has one."""
    block = index >> BLOCK_BITS
    d = state.draws.get(key)
    if d is None:
        if len(state.draws) >= 4096:
            state.draws.clear()
        d = state.draws[key] = DrawBlock()
    if d.block != block:
        dense = d.block == block - 1 and d.uses >= _DENSE  # the previous block was asked often
        d.block, d.uses, d.values = block, 0, None
        if dense and index < _BLOCK_LIMIT:
            d.values = rng.draw_block(key, block << BLOCK_BITS, BLOCK)
    d.uses += 1
    values = d.values
    if values is None:
        if d.uses < _DENSE or index >= _BLOCK_LIMIT:
            return rng.draw(key, index)
        d.values = values = rng.draw_block(key, block << BLOCK_BITS, BLOCK)
    return values[(index & (BLOCK - 1)) << 1] * TO_UNIT


@dataclass(slots=True)
class EngineState:
    """Everything ``decide`` remembers. ``start`` is the engine time of scenario time 0;
    ``wall_offset`` turns engine time into epoch seconds (for RFC 3339 reset headers)."""

    scenario: CompiledScenario
    start: float
    wall_offset: float = 0.0
    counters: list[dict[str, int]] = field(default_factory=list)
    buckets: dict[tuple[str, str], KeyBuckets] = field(default_factory=dict)
    pools: list[PoolState] = field(default_factory=list)
    capacity_fns: list[CapacityFn] = field(default_factory=list)
    pending: dict[int, Pending] = field(default_factory=dict)
    override_cache: dict[str, CompiledFault | str | None] = field(default_factory=dict)
    # rules whose static conditions hold, per (method, path, model, stream)
    rule_cache: dict[tuple[str, str, str | None, bool], tuple[CompiledRule, ...]] = field(
        default_factory=dict
    )
    # whether nothing (no rule, rate limit or capacity pool) applies, per (method, path, model, stream)
    quiet_cache: dict[tuple[str, str, str | None, bool], bool] = field(default_factory=dict)
    draws: dict[int, DrawBlock] = field(default_factory=dict)  # per random stream key (see _draw)

    @classmethod
    def fresh(cls, scenario: CompiledScenario, start: float, wall_offset: float = 0.0) -> EngineState:
        state = cls(scenario, start, wall_offset)
        state.counters = [{} for _ in scenario.rules]
        if scenario.capacity is not None:
            cap = scenario.capacity
            state.pools = [PoolState() for _ in cap.pools]
            state.capacity_fns = [CapacityFn(p.concurrency, cap.changes, start) for p in cap.pools]
        return state


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
        fault.error, fault.connection, fault.stream, delay_s, ttft_s, tokens_per_s, headers or {}, reason
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
    """The conditions that vary per request of one shape: key, headers, time."""
    if rule.api_key is not None and not rule.api_key(facts.api_key_id):
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


# ---------------------------------------------------------------- capacity
def _capacity(
    facts: RequestFacts,
    arrival: float,
    state: EngineState,
    ttft_override: float | None,
    tps_override: float | None,
    reason: dict[str, Any],
) -> tuple[CompiledFault | None, float, float | None, float | None, Reservation | None, PoolState | None]:
    """(shed fault, wait, ttft, tokens/s, reservation, its pool) for a request reaching the capacity model."""
    cap = state.scenario.capacity
    assert cap is not None
    pool = cap.pool_for(facts.model)
    if pool is None:
        return None, 0.0, ttft_override, tps_override, None, None
    ps = state.pools[pool.index]
    cap_fn = state.capacity_fns[pool.index]
    ps.purge(arrival)
    capacity_now = cap_fn(arrival)
    busy = ps.in_flight(arrival)
    util = 1.0 if capacity_now <= 0 else min(1.0, (busy + 1) / capacity_now)
    factor = 1.0 + pool.slowdown * util
    ttft = ttft_override if ttft_override is not None else pool.ttft_s * factor
    tps = tps_override if tps_override is not None else pool.stream_tokens_per_s / factor
    if pool.tokens_per_s is not None:
        tps = min(tps, pool.tokens_per_s / (busy + 1))
    out = max(1, facts.max_tokens)
    if pool.expected_output_tokens is not None:
        out = min(out, pool.expected_output_tokens)
    service = ttft + out / tps
    adm = ps.admit(
        arrival,
        service,
        capacity_now,
        cap_fn,
        queue_size=pool.queue_size,
        max_wait_s=pool.max_wait_s,
        shed_cost_s=pool.shed_cost_s,
        shed_backlog_s=pool.shed_backlog_s,
    )
    reason["capacity"] = {
        "pool": pool.index,
        "capacity": adm.capacity,
        "in_flight": busy,
        "queued": adm.queued,
        "wait_s": adm.wait_s,
        "utilisation": util,
    }
    if not adm.admitted:
        reason["source"] = "capacity"
        if adm.shed_work is not None:
            reason["capacity"]["shed_cost_s"] = pool.shed_cost_s
        return pool.shed, 0.0, None, None, None, None
    return None, adm.wait_s, ttft, tps, adm.reservation, ps


# ---------------------------------------------------------------- decide
def decide(facts: RequestFacts, now: float, state: EngineState) -> Decision:
    """What to do with one request (see the module docstring for the precedence).

    Runs for every request the server answers: the common steps are written out (rule-cache
    hit, a rule whose only dynamic condition is a window, a bare-probability draw)."""
    sc = state.scenario
    t = now - state.start
    index = facts.index
    reason: dict[str, Any] = {"scenario": sc.name, "seed": sc.seed, "index": index, "t": t}

    if sc.override_enabled != "never" and (sc.override_enabled == "always" or facts.loopback):
        value = facts.headers.get(sc.override_header)
        if value is not None:
            return _override(facts, state, value, reason)

    headers: dict[str, str] | None = None
    kb: KeyBuckets | None = None
    rl = sc.rate_limits
    if rl is not None and facts.path in rl.paths:
        limits = rl.limits_for(facts.model)
        if limits is not None:
            refused, kb = rate_limit(facts, now, state.buckets, rl, limits, reason)
            headers = ratelimit_headers(kb, now, state.wall_offset)
            if refused is not None:
                return Decision(error=refused.error, headers=headers, reason=reason)

    fault: CompiledFault | None = None
    delay = 0.0
    ttft: float | None = None
    tps: float | None = None
    if sc.rules:
        shape = (facts.method, facts.path, facts.model, facts.stream)
        rules = state.rule_cache.get(shape)  # _rules_for(state, shape), its cache hit written out
        if rules is None:
            rules = _rules_for(state, shape)
        have_fault = have_latency = have_tokens = False
        draws = state.draws
        block = index >> BLOCK_BITS  # where this request's draws sit in a stream's block
        offset = (index & (BLOCK - 1)) << 1
        for rule in rules:
            if rule.terminal:
                if have_fault:
                    continue
            elif (rule.latency is None or have_latency) and (not rule.has_tokens or have_tokens):
                continue
            if rule.dynamic:
                if rule.only_window:
                    if not rule.window_start <= t < rule.window_end:
                        continue
                elif not _dynamic_match(rule, facts, t):
                    continue
            info: dict[str, Any]
            if rule.only_probability:
                # u = _draw(state, rule.random_key, index), its block hit written out
                d = draws.get(rule.random_key)
                if d is not None and d.block == block and d.values is not None:
                    d.uses += 1
                    u = d.values[offset] * TO_UNIT
                else:
                    u = _draw(state, rule.random_key, index)
                if u >= rule.threshold:
                    continue
                info = {"draw": u, "p": rule.threshold}
                rule_fault = rule.fault
            else:
                info = {}
                fired, rule_fault = _fire(rule, facts, state, info)
                if not fired:
                    if info and rule.terminal:
                        reason.setdefault("passed", []).append({"rule": rule.id, **info})
                    continue
            if rule.terminal:
                have_fault = True
                fault = rule_fault
                reason["source"] = "rule"
                reason["rule"] = rule.id
                reason["rule_index"] = rule.index
                if rule.window is not None:
                    reason["window"] = rule.window
                reason.update(info)
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

    reservation: Reservation | None = None
    pool_state: PoolState | None = None
    # a request that will generate (no fault, or a stream that fails part-way) needs capacity
    cap = sc.capacity
    if cap is not None and (fault is None or fault.stream is not None) and facts.path in cap.paths:
        shed, wait, ttft, tps, reservation, pool_state = _capacity(
            facts, now + delay, state, ttft, tps, reason
        )
        if shed is not None:
            fault = shed
            delay = 0.0  # shedding is fast
        delay += wait

    decision = _decision_from(fault, reason, delay, ttft, tps, headers)
    if kb is not None or reservation is not None:
        out_bucket = kb.output_tokens if kb is not None else None
        if out_bucket is not None or reservation is not None:
            if len(state.pending) >= _PENDING_LIMIT:
                state.pending.pop(next(iter(state.pending)))
            state.pending[facts.index] = Pending(
                decision, out_bucket, facts.max_tokens, reservation, pool_state
            )
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
        state = self.state
        # most requests hold nothing (no output-token bucket, no capacity slot): done at once
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
