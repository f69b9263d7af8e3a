"""A scenario's timeline: the windows of its timed rules and capacity changes, in seconds since
the scenario clock (re)started, and where a given instant stands among them.

Pure: the caller says what time it is (scenario seconds, from the server's injected clock).
``spans_of(scenario)`` is worked out once, at load; ``span_status(span, t)`` and
``next_change(spans, t)`` answer "starts in 7 s", "ended 3 s ago", "nothing scheduled".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scenarios.schema import Scenario
from scenarios.when import When

SpanState = Literal["upcoming", "active", "ended"]


@dataclass(frozen=True, slots=True)
class Span:
    """[start_s, end_s) of scenario time (end None: no end), repeating every ``period_s`` when
    given; ``what`` names the rules (or the capacity change) it times."""

    what: tuple[str, ...]
    start_s: float
    end_s: float | None
    period_s: float | None = None

    @property
    def label(self) -> str:
        """``10–40 s``, ``from 40 s``, ``50–55 s of every 60 s``."""
        start, end = _num(self.start_s), self.end_s
        span = f"{start}–{_num(end)} s" if end is not None else f"from {start} s"
        return span if self.period_s is None else f"{span} of every {_num(self.period_s)} s"


def _num(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def _when_spans(what: str, when: When) -> list[tuple[str, float, float | None, float | None]]:
    spans: list[tuple[str, float, float | None, float | None]] = []
    if when.window is not None:
        spans.append((what, when.window.start_s, when.window.end_s, None))
    if when.schedule is not None:
        period = when.schedule.period_s
        spans.extend((what, w.start_s, w.end_s, period) for w in when.schedule.windows)
    if when.day is not None:
        hour = when.day.length_s / 24.0
        spans.extend((what, a * hour, b * hour, when.day.length_s) for a, b in when.day.hours)
    return spans


def spans_of(scenario: Scenario) -> tuple[Span, ...]:
    """Every timed window of the scenario, those with the same times merged, in order of start.
    (A rule with several time conditions holds only where they overlap; each is listed.)"""
    found: list[tuple[str, float, float | None, float | None]] = []
    for i, rule in enumerate(scenario.rules):
        found.extend(_when_spans(rule.id or f"rule-{i}", rule.when))
    if scenario.capacity is not None:
        for change in scenario.capacity.schedule:
            what = f"capacity x{_num(change.factor)}"
            found.append((what, change.start_s, change.end_s, change.period_s))
    merged: dict[tuple[float, float | None, float | None], list[str]] = {}
    for what, start, end, period in found:
        names = merged.setdefault((start, end, period), [])
        if what not in names:
            names.append(what)
    return tuple(
        Span(tuple(names), start, end, period)
        for (start, end, period), names in sorted(
            merged.items(), key=lambda kv: (kv[0][0], math.inf if kv[0][1] is None else kv[0][1])
        )
    )


@dataclass(frozen=True, slots=True)
class Where:
    """Where instant t stands in a span: ``state``, and seconds until it starts (``starts_in``),
    until it ends (``ends_in``, None: never) or since it ended (``ended_ago``)."""

    state: SpanState
    starts_in: float | None = None
    ends_in: float | None = None
    ended_ago: float | None = None

    def text(self) -> str:
        if self.state == "upcoming":
            return f"starts in {_secs(self.starts_in)}"
        if self.state == "active":
            return "active, no end" if self.ends_in is None else f"active, ends in {_secs(self.ends_in)}"
        return f"ended {_secs(self.ended_ago)} ago"


def _secs(value: float | None) -> str:
    v = 0.0 if value is None else value
    return f"{v:.0f} s" if v >= 9.95 else f"{v:.1f} s"  # 9.97 reads "10 s", not "10.0 s"


def span_status(span: Span, t: float) -> Where:
    """Where scenario time ``t`` stands in ``span``."""
    start, end = span.start_s, span.end_s
    if span.period_s is not None:
        period = span.period_s
        x = t % period
        end_x = period if end is None else end
        if start <= x < end_x:
            return Where("active", ends_in=end_x - x)
        return Where("upcoming", starts_in=(start - x) % period)
    if t < start:
        return Where("upcoming", starts_in=start - t)
    if end is None or t < end:
        return Where("active", ends_in=None if end is None else end - t)
    return Where("ended", ended_ago=t - end)


def next_start(spans: tuple[Span, ...], t: float) -> tuple[Span, float] | None:
    """The window that starts next after scenario time ``t``, and in how many seconds (None:
    nothing starts again)."""
    upcoming = [(span, w.starts_in) for span in spans if (w := span_status(span, t)).starts_in is not None]
    return min(upcoming, key=lambda pair: pair[1]) if upcoming else None


def last_ended(spans: tuple[Span, ...], t: float) -> tuple[Span, float] | None:
    """The one-off window that ended most recently before ``t``, and how long ago."""
    ended = [(span, w.ended_ago) for span in spans if (w := span_status(span, t)).ended_ago is not None]
    return min(ended, key=lambda pair: pair[1]) if ended else None


def _name(span: Span) -> str:
    return f"{span.label} {', '.join(span.what)}"


def summary(spans: tuple[Span, ...], t: float) -> str:
    """Where scenario time ``t`` stands, in a line: the windows active now, the one that ended
    last, and the next to start (``now: no window active; last ended: 10–40 s spike 3.0 s ago;
    nothing scheduled``)."""
    if not spans:
        return "no timed windows: the scenario is the same at every instant"
    active = [f"{_name(s)} ({w.text()})" for s in spans if (w := span_status(s, t)).state == "active"]
    parts = ["now: " + ", ".join(active) if active else "now: no window active"]
    done = last_ended(spans, t)
    if done is not None:
        parts.append(f"last ended: {_name(done[0])} {_secs(done[1])} ago")
    upcoming = next_start(spans, t)
    parts.append(
        f"next: {_name(upcoming[0])} starts in {_secs(upcoming[1])}" if upcoming else "nothing scheduled"
    )
    return "; ".join(parts)
