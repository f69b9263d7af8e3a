"""Latency distributions, sampled from an explicit uniform draw (no generator state)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z99 = NormalDist().inv_cdf(0.99)
_STD = NormalDist()


@dataclass(frozen=True, slots=True)
class Latency:
    """``kind`` is fixed | uniform | lognormal; ``a``/``b`` are (value, -), (low, high) or (mu, sigma)."""

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        return cls("fixed", seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> Latency:
        return cls("uniform", low, high)

    @classmethod
    def lognormal(cls, median_s: float, p99_s: float) -> Latency:
        """The log-normal whose median and 99th percentile are the given values."""
        mu = math.log(median_s)
        sigma = (math.log(p99_s) - mu) / Z99
        return cls("lognormal", mu, sigma)

    def sample(self, u: float) -> float:
        """The quantile of the distribution at ``u`` in [0, 1)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u
        # clamp away from 0 so inv_cdf is defined
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        return math.exp(self.a + self.b * _STD.inv_cdf(u))
