"""Token buckets, refilled continuously, with an explicit clock (pure: no time is read here)."""

from __future__ import annotations

import math


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled at ``per_s`` tokens per second.

    ``now`` is passed to every call; a ``now`` earlier than the last one seen (two requests
    decided out of order) refills nothing. The level never exceeds ``capacity`` and never goes
    below zero.
    """

    __slots__ = ("capacity", "level", "per_s", "updated")

    def __init__(self, capacity: float, per_s: float, now: float) -> None:
        if capacity <= 0 or per_s <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")
        self.capacity = float(capacity)
        self.per_s = float(per_s)
        self.level = float(capacity)
        self.updated = now

    @classmethod
    def per_minute(cls, limit: float, now: float) -> TokenBucket:
        """The bucket behind an "N per minute" limit: holds N, refills N every 60 s."""
        return cls(limit, limit / 60.0, now)

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.per_s)
            self.updated = now

    def available(self, now: float) -> float:
        self.refill(now)
        return self.level

    def try_take(self, amount: float, now: float) -> bool:
        """Take ``amount`` tokens if they are all there; otherwise take nothing."""
        self.refill(now)
        if amount <= self.level:
            self.level -= amount
            return True
        return False

    def give_back(self, amount: float, now: float) -> None:
        """Return unused tokens (e.g. output tokens reserved but not generated)."""
        self.refill(now)
        self.level = min(self.capacity, self.level + max(0.0, amount))

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` tokens are available (inf if more than the capacity)."""
        self.refill(now)
        if amount > self.capacity:
            return math.inf
        return max(0.0, (amount - self.level) / self.per_s)

    def time_to_full(self, now: float) -> float:
        self.refill(now)
        return (self.capacity - self.level) / self.per_s
