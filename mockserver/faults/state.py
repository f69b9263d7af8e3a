"""Everything ``decide`` remembers between requests, in one :class:`EngineState`: rule counters,
token buckets, capacity pools, what each request holds until ``complete``, memoised lookups and
the random streams' blocks of draws. ``decide`` (:mod:`mockserver.faults.engine`) is a pure
function of (facts, now, state); this module holds the state and nothing that decides.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from mockserver.faults.buckets import TokenBucket
from mockserver.faults.capacity import CapacityFn, PoolState, Reservation
from mockserver.faults.compiled import CompiledFault, CompiledRule, CompiledScenario
from mockserver.faults.decision import Decision
from mockserver.faults.ratelimits import KeyBuckets


@dataclass(slots=True)
class Pending:
    """What a request holds until ``complete``: reserved output tokens, a capacity slot."""

    decision: Decision
    output_bucket: TokenBucket | None = None
    output_reserved: int = 0
    reservation: Reservation | None = None
    pool: PoolState | None = None


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
