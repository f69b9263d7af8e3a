"""What the runner tells the Locust processes, passed through environment variables.

The Locust processes (a single one, or a master and its workers) are started by the runner with
``BUSYSIGNAL_LT_*`` variables; :meth:`LoadConfig.from_env` reads them back in the locustfile.
Pure and Locust-free, so both sides (and the tests) share one definition.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Literal

from loadtests.shapes import LoadShape, arrival_times, parse_shape
from loadtests.strategies import STRATEGIES

__all__ = ["CLOSE_GRACE_S", "ENV_PREFIX", "USER_CLASSES", "ConfigError", "LoadConfig", "Mode"]

# strategy -> the user class in loadtests/locust_clients.py that drives it
USER_CLASSES: Mapping[str, str] = {
    "no-retry": "NoRetryUser",
    "immediate-retry": "ImmediateRetryUser",
    "sdk-defaults": "SdkDefaultsUser",
    "article-recipe": "ArticleRecipeUser",
    "bundled": "BundledPolicyUser",
    "bundled-adaptive": "BundledAdaptiveUser",
    "raw": "RawFastHttpUser",
}

ENV_PREFIX = "BUSYSIGNAL_LT_"
# after the drain, attempts in flight get this long to finish before their calls are interrupted
CLOSE_GRACE_S = 3.0
Mode = Literal["open", "closed"]


class ConfigError(ValueError):
    """A load-test setting that is missing or out of range; names the setting."""


@dataclass(frozen=True)
class LoadConfig:
    strategy: str
    mode: Mode  # open: Poisson arrivals on a schedule; closed: --users users in a loop
    shape: str  # load-shape spec (open loop only)
    rate: float  # nominal calls/s over all arrival users (open loop)
    duration: float  # seconds of offered load, from t0
    t0: float  # epoch seconds when the schedule starts (the scenario clock is reset then too)
    seed: int
    arrival_users: int = 1  # open-loop arrival users over all processes (one per Locust worker)
    max_in_flight: int = 2000  # calls in flight per arrival user before arrivals are dropped (and counted)
    drain_s: float = 5.0  # after the schedule ends, how long calls may still finish
    model: str = "claude-sonnet-5-5"
    max_tokens: int = 16
    api_key: str = "sk-busysignal-loadtest"
    timeout_s: float = 0.0  # per-attempt client timeout; 0: the SDK's default (600 s)

    def __post_init__(self) -> None:
        if self.strategy not in (*STRATEGIES, "raw"):
            raise ConfigError(f"unknown strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}")
        if self.mode not in ("open", "closed"):
            raise ConfigError(f"mode must be 'open' or 'closed', got {self.mode!r}")
        for name in ("rate", "duration", "drain_s", "timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        if self.duration <= 0:
            raise ConfigError(f"duration must be > 0, got {self.duration}")
        if self.mode == "open" and self.rate <= 0:
            raise ConfigError(f"an open loop needs rate > 0, got {self.rate}")
        if self.arrival_users < 1 or self.max_in_flight < 1 or self.max_tokens < 1:
            raise ConfigError("arrival_users, max_in_flight and max_tokens must be >= 1")
        if self.mode == "open":
            self.load_shape()  # validates the spec

    def load_shape(self) -> LoadShape:
        return parse_shape(self.shape, rate=self.rate, duration=self.duration)

    def arrival_rng(self, worker_index: int, local_index: int = 0) -> random.Random:
        """The generator of one arrival user's schedule (Locust worker ``worker_index``)."""
        return random.Random(self.seed * 1_000_003 + worker_index * 1000 + local_index)

    def arrivals(self, worker_index: int, local_index: int = 0) -> list[float]:
        """One arrival user's share of the open loop: its arrival times, seconds after ``t0``."""
        share = self.load_shape().scaled(1 / self.arrival_users)
        return list(arrival_times(share, self.arrival_rng(worker_index, local_index)))

    def schedule(self) -> list[float]:
        """Every arrival of the open loop, over all arrival users, in time order (the same
        draws the Locust users make, so the runner knows what was offered when)."""
        if self.mode != "open":
            return []
        return sorted(t for worker in range(self.arrival_users) for t in self.arrivals(worker))

    def lag_ms(self, t: float, started: float) -> float:
        """How far behind its schedule the arrival due ``t`` s after ``t0`` started, at epoch
        ``started`` (ms; 0 when on time): the harness's own health, reported as ``LAG``."""
        return max(0.0, (started - self.t0 - t) * 1000)

    @property
    def closes_at(self) -> float:
        """When the schedule and its drain are over (epoch seconds): no new attempt starts after."""
        return self.t0 + self.duration + self.drain_s

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + k.upper(): str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoadConfig:
        values: dict[str, object] = {}
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key not in env:
                if f.default is not MISSING:
                    continue
                raise ConfigError(f"{key} is not set (the runner sets it)")
            raw = env[key]
            try:
                if f.type in ("int",):
                    values[f.name] = int(raw)
                elif f.type in ("float",):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ConfigError(f"{key} should be a {f.type}, got {raw!r}") from None
        return cls(**values)  # type: ignore[arg-type]
