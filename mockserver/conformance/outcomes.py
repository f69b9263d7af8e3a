"""What a workload achieved, per client, from the journal alone (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from mockserver.journal import JournalEntry, calls, generation_entries


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (``q`` in [0, 100]); ``nan`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Outcome:
    client: str
    calls: int
    succeeded: int
    attempts: int
    p50_latency_s: float
    p95_latency_s: float
    answered_by: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.calls if self.calls else math.nan

    @property
    def attempts_per_success(self) -> float:
        return self.attempts / self.succeeded if self.succeeded else math.inf


def outcome(client: str, entries: Sequence[JournalEntry]) -> Outcome:
    """Success rate, attempts, latency (first attempt to the answer, or to the last attempt for
    a failed call) and which model answered, over every call in ``entries``."""
    cs = calls(generation_entries(entries))
    latencies: list[float] = []
    answered: dict[str, int] = {}
    for c in cs:
        lat = c.latency_to_success
        latencies.append(c.duration if lat is None else lat)
        if c.answered_by is not None:
            answered[c.answered_by] = answered.get(c.answered_by, 0) + 1
    return Outcome(
        client=client,
        calls=len(cs),
        succeeded=sum(1 for c in cs if c.succeeded),
        attempts=sum(len(c.attempts) for c in cs),
        p50_latency_s=percentile(latencies, 50),
        p95_latency_s=percentile(latencies, 95),
        answered_by=dict(sorted(answered.items(), key=lambda kv: -kv[1])),
    )
