"""The time conditions of a rule (``when:``): a window, a repeating schedule, a compressed day.

All in seconds since the scenario (re)started; :mod:`mockserver.faults.timeline` evaluates them.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from scenarios.base import StrictModel as _Model


class Window(_Model):
    """[start_s, end_s) in seconds of scenario time; no end_s = until the end of time."""

    start_s: float = Field(default=0.0, ge=0)
    end_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class Schedule(_Model):
    """A repeating schedule: active during the windows, modulo period_s."""

    period_s: float = Field(gt=0)
    windows: list[Window] = Field(min_length=1)

    @model_validator(mode="after")
    def _inside_period(self) -> Schedule:
        for w in self.windows:
            if w.end_s is None or w.end_s > self.period_s:
                raise ValueError(f"every window needs an end_s within period_s ({self.period_s})")
        return self


class Day(_Model):
    """A day compressed into ``length_s`` seconds; active during the given hours [from, to)."""

    length_s: float = Field(gt=0, description="seconds of real time that make one simulated day")
    hours: list[tuple[float, float]] = Field(min_length=1, description="[from_hour, to_hour) pairs, 0-24")

    @model_validator(mode="after")
    def _valid_hours(self) -> Day:
        for a, b in self.hours:
            if not 0 <= a < b <= 24:
                raise ValueError(f"hours [{a}, {b}) must satisfy 0 <= from < to <= 24")
        return self


class When(_Model):
    """Time conditions (all given must hold), in seconds since the scenario (re)started."""

    window: Window | None = None
    schedule: Schedule | None = None
    day: Day | None = None
