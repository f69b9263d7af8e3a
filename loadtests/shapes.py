"""Open-loop load shapes and Poisson arrivals (pure; no Locust, no clock, no global random).

A shape is offered load in *logical calls per second* as a function of the time since the run
started. Arrivals are a non-homogeneous Poisson process over that rate, drawn by thinning from a
seeded generator: the schedule is fixed before the run and never waits for the server, so a slow
server does not slow the offered load down (an open loop; closed loops hide retry storms because
a stuck user stops offering new work).

Shapes are named and scaled by the nominal rate ``R`` (``--rate``) and the duration ``D``:

``steady``    R for the whole run.
``ramp``      linear from ``start``·R (0.25) to ``peak``·R (2.0) over ``ramp``·D (2/3), then holds the peak.
``spike``     R, then ``factor``·R (5.0) from ``at``·D (0.3) for ``len``·D (0.15): a launch-day spike.
``peak-hours`` R·(1 + ``depth``·sin(2πt/(``period``·D))), depth 0.75, period 0.5: two busy/quiet cycles.
``outage``    R, nothing from ``at``·D (0.3) for ``len``·D (0.2) (the callers were cut off), then
              the missed calls replayed on top of R over ``replay``·D (0.2): outage and recovery.

A spec is ``name`` or ``name:key=value,key=value`` (e.g. ``spike:factor=3,at=0.5``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "SHAPE_DEFAULTS",
    "LoadShape",
    "ShapeError",
    "arrival_times",
    "parse_shape",
]

RateFn = Callable[[float], float]


class ShapeError(ValueError):
    """A load-shape spec that cannot be used; the message names the spec and the bad part."""


SHAPE_DEFAULTS: Mapping[str, Mapping[str, float]] = {
    "steady": {},
    "ramp": {"start": 0.25, "peak": 2.0, "ramp": 2 / 3},
    "spike": {"factor": 5.0, "at": 0.3, "len": 0.15},
    "peak-hours": {"depth": 0.75, "period": 0.5},
    "outage": {"at": 0.3, "len": 0.2, "replay": 0.2},
}


@dataclass(frozen=True)
class LoadShape:
    """Offered load (calls/s) over ``[0, duration)``; ``rate(t)`` is 0 outside it."""

    name: str
    nominal_rate: float
    duration: float
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in SHAPE_DEFAULTS:
            raise ShapeError(f"unknown load shape {self.name!r}; known: {', '.join(SHAPE_DEFAULTS)}")
        if not (self.nominal_rate > 0 and math.isfinite(self.nominal_rate)):
            raise ShapeError(f"load shape {self.name!r}: rate must be positive, got {self.nominal_rate}")
        if not (self.duration > 0 and math.isfinite(self.duration)):
            raise ShapeError(f"load shape {self.name!r}: duration must be positive, got {self.duration}")
        allowed = SHAPE_DEFAULTS[self.name]
        for key, value in self.params.items():
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                raise ShapeError(f"load shape {self.name!r} has no parameter {key!r} (parameters: {known})")
            if not (value >= 0 and math.isfinite(value)):
                raise ShapeError(f"load shape {self.name!r}: {key} must be >= 0, got {value}")
        if self.name == "peak-hours" and self.param("period") <= 0:
            raise ShapeError("load shape 'peak-hours': period must be > 0")
        if self.name == "ramp" and self.param("ramp") <= 0:
            raise ShapeError("load shape 'ramp': ramp must be > 0")
        if self.name == "outage" and self.param("len") > 0 and self.param("replay") <= 0:
            raise ShapeError("load shape 'outage': replay must be > 0 when len > 0")

    def param(self, key: str) -> float:
        return float(self.params.get(key, SHAPE_DEFAULTS[self.name][key]))

    def rate(self, t: float) -> float:
        if t < 0 or t >= self.duration:
            return 0.0
        r, d = self.nominal_rate, self.duration
        if self.name == "steady":
            return r
        if self.name == "ramp":
            start, peak, ramp_s = self.param("start"), self.param("peak"), self.param("ramp") * d
            frac = min(t / ramp_s, 1.0)
            return r * (start + (peak - start) * frac)
        if self.name == "spike":
            at, length = self.param("at") * d, self.param("len") * d
            return r * self.param("factor") if at <= t < at + length else r
        if self.name == "peak-hours":
            depth, period = self.param("depth"), self.param("period") * d
            return max(0.0, r * (1.0 + depth * math.sin(2 * math.pi * t / period)))
        # outage: nothing while cut off, then the missed calls replayed over `replay` on top of R
        at, length, replay = self.param("at") * d, self.param("len") * d, self.param("replay") * d
        if at <= t < at + length:
            return 0.0
        if length > 0 and at + length <= t < at + length + replay:
            return r * (1.0 + length / replay)
        return r

    def max_rate(self) -> float:
        """An upper bound of ``rate`` over the run (what thinning draws candidates at)."""
        r = self.nominal_rate
        if self.name == "ramp":
            return r * max(self.param("start"), self.param("peak"))
        if self.name == "spike":
            return r * max(1.0, self.param("factor"))
        if self.name == "peak-hours":
            return r * (1.0 + self.param("depth"))
        if self.name == "outage" and self.param("len") > 0:
            return r * (1.0 + self.param("len") / self.param("replay"))
        return r

    def expected_calls(self, steps: int = 10_000) -> float:
        """The integral of ``rate`` over the run (midpoint rule): the mean number of arrivals."""
        h = self.duration / steps
        return sum(self.rate((i + 0.5) * h) for i in range(steps)) * h

    def scaled(self, factor: float) -> LoadShape:
        """The same shape at ``factor`` times the rate (one of N arrival users gets 1/N)."""
        return LoadShape(self.name, self.nominal_rate * factor, self.duration, dict(self.params))

    def spec(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v:g}" for k, v in sorted(self.params.items()))


def parse_shape(spec: str, *, rate: float, duration: float) -> LoadShape:
    """``"spike:factor=3,at=0.5"`` -> a :class:`LoadShape` at nominal ``rate`` over ``duration`` s."""
    name, _, rest = spec.strip().partition(":")
    params: dict[str, float] = {}
    if rest.strip():
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise ShapeError(f"load shape {spec!r}: expected key=value, got {part!r}")
            try:
                params[key.strip()] = float(value)
            except ValueError:
                raise ShapeError(f"load shape {spec!r}: {key.strip()} is not a number: {value!r}") from None
    return LoadShape(name.strip(), rate, duration, params)


def arrival_times(shape: LoadShape, rng: random.Random, *, start: float = 0.0) -> Iterator[float]:
    """Arrival times (seconds since the run started) of a Poisson process with rate ``shape.rate``.

    Lewis-Shedler thinning: candidates at the constant ``max_rate``, each kept with probability
    ``rate(t)/max_rate``. Times are increasing and lie in ``[start, shape.duration)``.
    """
    bound = shape.max_rate()
    t = start
    while True:
        t += rng.expovariate(bound)
        if t >= shape.duration:
            return
        if rng.random() * bound < shape.rate(t):
            yield t
