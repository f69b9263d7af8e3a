"""The report's arithmetic: pure functions over journal entries and Locust CSV rows.

Time is *seconds since the run's origin* (the moment the open-loop schedule and the scenario clock
start; the runner records it as an epoch time). A journal entry's time is ``wall_start - origin``;
its end is that plus ``end - start`` (server monotonic seconds), so the two clocks never mix.

Definitions (all computed from the server-side journal, the source of truth, unless said otherwise):

attempt          one journal entry on the Messages route (``/v1/messages``).
logical call     the attempts of one caller's call: the journal analysis's *call*
                 (``mockserver.journal.call_key``: ``api_key_id`` + ``prompt_digest``, which survives
                 a model fallback; the logical request when ``prompt_digest`` is empty).
                 The load tests put a unique nonce in every prompt, so distinct calls never merge.
success          the journal analysis's one definition (``mockserver.journal.attempt_succeeded``,
                 stated in mockserver/JOURNAL.md, "Definitions"). A call succeeds when one attempt
                 does, at the end of its first successful attempt.
offered load     logical calls whose first attempt arrived in the window, per second (the table
                 uses the caller's count instead when Locust's is there: see ``summarize``).
goodput          logical calls whose first successful attempt *finished* in the window, per second.
success rate     of the calls that arrived in the window, the share that succeeded (by the end of
                 the journal); in the table, the caller's share of successful calls.
amplification    attempts that arrived in the window ÷ logical calls whose first attempt arrived
                 in it (``mockserver.journal.amplification``; 1.0 = nobody retried; the SDK
                 defaults give up to 3 under a total outage).
                 Inside the window of 100 % 529 the table divides by the calls the caller
                 *started* in the window instead (the open-loop schedule): ``demand_amplification``.
529 rate         attempts answered 529 ÷ attempts, for those that arrived in the window.
in-flight        mean number of attempts open at the server over a bin (Σ overlap ÷ bin width).
time to recover  with a trigger ``[a, b)`` (e.g. the capacity loss), the baseline goodput is the
                 mean goodput over ``[warmup, a)``. The run has recovered at the first bin start
                 ``t ≥ b`` such that the mean goodput over ``[t, t + hold)`` is at least
                 ``threshold × baseline`` (defaults: threshold 0.8, hold 3 s, bins of 1 s). The
                 time to recover is ``t - b``; ``None`` when that never happens before the run ends
                 (shown as "not within the run").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mockserver.journal import JournalEntry, JournalFormatError, analysis, parse_entries

__all__ = [
    "MESSAGES_PATH",
    "Attempt",
    "JournalError",
    "LocustRow",
    "LogicalCall",
    "Series",
    "StrategySummary",
    "Window",
    "amplification",
    "attempts_from_journal",
    "demand_amplification",
    "goodput",
    "group_calls",
    "histogram_percentile",
    "offered_load",
    "rate_529",
    "read_locust_json",
    "recovery_time",
    "series",
    "success_rate",
    "summarize",
]

MESSAGES_PATH = analysis.MESSAGES_PATH


# the journal's own format error, by the name this module has always raised it under
JournalError = JournalFormatError


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open interval ``[start, end)`` in seconds since the origin."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"window end must be after its start: [{self.start}, {self.end})")

    @property
    def length(self) -> float:
        return self.end - self.start

    def __contains__(self, t: object) -> bool:
        return isinstance(t, (int, float)) and self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt: a journal entry on the Messages route, timed from the run's origin."""

    entry: JournalEntry
    t: float  # arrival, seconds since the origin

    @property
    def seq(self) -> int:
        return self.entry.seq

    @property
    def duration(self) -> float | None:
        """Seconds the server spent on it (server monotonic clock); None while still in flight."""
        latency = self.entry.latency
        return None if latency is None else max(0.0, latency)

    @property
    def status(self) -> int | None:
        return self.entry.status

    @property
    def ok(self) -> bool:
        """The attempt succeeded: ``JournalEntry.succeeded``, the journal's one definition."""
        return self.entry.succeeded

    @property
    def end(self) -> float | None:
        duration = self.duration
        return None if duration is None else self.t + duration


def attempts_from_journal(
    entries: Iterable[Mapping[str, Any]], *, origin: float, path: str = MESSAGES_PATH
) -> list[Attempt]:
    """The attempts on ``path`` (control-plane requests are dropped), in ``seq`` order.

    Every entry is parsed (``mockserver.journal.parse_entries``); a malformed one raises
    JournalError naming the entry and the field."""
    return [Attempt(e, e.wall_start - origin) for e in parse_entries(entries) if e.path == path]


@dataclass(frozen=True, slots=True)
class LogicalCall:
    """One call of the journal analysis (``mockserver.journal.Call``, as ``call``), its attempts
    timed from the origin."""

    call: analysis.Call
    attempts: tuple[Attempt, ...]

    @property
    def key(self) -> str:
        return self.call.key

    @property
    def first_t(self) -> float:
        return self.attempts[0].t

    @property
    def success_t(self) -> float | None:
        """When the call was answered (``mockserver.journal.Call.answer``), or None."""
        answer = self.call.answer
        return next((a.end for a in self.attempts if a.entry is answer), None)

    @property
    def succeeded(self) -> bool:
        return self.call.succeeded


def group_calls(attempts: Iterable[Attempt]) -> list[LogicalCall]:
    """The journal analysis's calls (``mockserver.journal.calls``), in the order of their first attempt."""
    by_entry = {id(a.entry): a for a in attempts}
    out = [
        LogicalCall(c, tuple(by_entry[id(e)] for e in c.attempts))
        for c in analysis.calls(a.entry for a in by_entry.values())
    ]
    out.sort(key=lambda c: (c.first_t, c.attempts[0].seq))
    return out


def _in(t: float, window: Window | None) -> bool:
    return window is None or t in window


def amplification(attempts: Sequence[Attempt], window: Window | None = None) -> float | None:
    """Attempts arriving in ``window`` per logical call first seen in it (None: no calls)."""
    calls = [c for c in group_calls(attempts) if _in(c.first_t, window)]
    return analysis.amplification(sum(1 for a in attempts if _in(a.t, window)), len(calls))


def demand_amplification(
    attempts: Sequence[Attempt], arrivals: Sequence[float], window: Window
) -> float | None:
    """Attempts arriving at the server in ``window`` per call the caller *started* in it
    (``arrivals``: the open-loop schedule). Unlike :func:`amplification` it does not depend on
    when a client lets a call reach the server, so a client that holds calls back (a breaker,
    a client-side queue) is measured against the same demand as one that does not."""
    started = sum(1 for t in arrivals if t in window)
    return analysis.amplification(sum(1 for a in attempts if a.t in window), started)


def rate_529(attempts: Sequence[Attempt], window: Window | None = None) -> float | None:
    chosen = [a for a in attempts if _in(a.t, window)]
    if not chosen:
        return None
    return sum(1 for a in chosen if a.status == 529) / len(chosen)


def offered_load(calls: Sequence[LogicalCall], window: Window) -> float:
    return sum(1 for c in calls if c.first_t in window) / window.length


def goodput(calls: Sequence[LogicalCall], window: Window) -> float:
    return sum(1 for c in calls if (s := c.success_t) is not None and s in window) / window.length


def success_rate(calls: Sequence[LogicalCall], window: Window | None = None) -> float | None:
    chosen = [c for c in calls if _in(c.first_t, window)]
    if not chosen:
        return None
    return sum(1 for c in chosen if c.succeeded) / len(chosen)


@dataclass(frozen=True)
class Series:
    """Per-bin time series; ``t[i]`` is the start of bin ``i`` (seconds since the origin)."""

    bin_s: float
    t: list[float]
    attempts: list[float]  # attempts arriving per second
    goodput: list[float]  # calls succeeding per second
    offered: list[float]  # logical calls first seen per second
    rate_529: list[float | None]  # share of the bin's attempts answered 529
    in_flight: list[float]  # mean attempts open at the server


def series(
    attempts: Sequence[Attempt], *, duration: float, bin_s: float = 1.0, horizon: float | None = None
) -> Series:
    """Bins of ``bin_s`` over ``[0, duration)``. An attempt still open counts as open until
    ``horizon`` (default: the end of the run) for the in-flight curve."""
    if bin_s <= 0 or duration <= 0:
        raise ValueError("bin_s and duration must be positive")
    n = math.ceil(duration / bin_s - 1e-9)
    att = [0.0] * n
    n529 = [0] * n
    good = [0.0] * n
    offered = [0.0] * n
    busy = [0.0] * n

    def index(t: float) -> int | None:
        if t < 0 or t >= n * bin_s:
            return None
        return min(int(t // bin_s), n - 1)

    for a in attempts:
        i = index(a.t)
        if i is not None:
            att[i] += 1
            n529[i] += a.status == 529
        end = a.end if a.end is not None else (horizon if horizon is not None else duration)
        lo, hi = max(a.t, 0.0), min(end, n * bin_s)
        if hi > lo:
            first, last = int(lo // bin_s), min(int(hi // bin_s), n - 1)
            for b in range(first, last + 1):
                overlap = min(hi, (b + 1) * bin_s) - max(lo, b * bin_s)
                if overlap > 0:
                    busy[b] += overlap
    for c in group_calls(attempts):
        i = index(c.first_t)
        if i is not None:
            offered[i] += 1
        s = c.success_t
        j = None if s is None else index(s)
        if j is not None:
            good[j] += 1
    return Series(
        bin_s=bin_s,
        t=[i * bin_s for i in range(n)],
        attempts=[x / bin_s for x in att],
        goodput=[x / bin_s for x in good],
        offered=[x / bin_s for x in offered],
        rate_529=[(n529[i] / att[i]) if att[i] else None for i in range(n)],
        in_flight=[x / bin_s for x in busy],
    )


def recovery_time(
    s: Series,
    *,
    trigger: Window,
    warmup: float = 0.0,
    threshold: float = 0.8,
    hold: float = 3.0,
) -> float | None:
    """Seconds from the end of ``trigger`` until goodput is back (see the module docstring).

    ``None`` when it never comes back within the series. Raises ``ValueError`` when there is no
    baseline (no bins between ``warmup`` and the trigger's start, or zero goodput there).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if hold < s.bin_s:
        raise ValueError(f"hold ({hold}) must be at least one bin ({s.bin_s})")
    base = [
        g for t, g in zip(s.t, s.goodput, strict=True) if t >= warmup and t + s.bin_s <= trigger.start + 1e-9
    ]
    if not base:
        raise ValueError(
            f"no baseline: no whole bin between warmup {warmup} s and the trigger at {trigger.start} s"
        )
    baseline = sum(base) / len(base)
    if baseline <= 0:
        raise ValueError("no baseline: zero goodput before the trigger")
    width = max(1, round(hold / s.bin_s))
    for i, t in enumerate(s.t):
        if t < trigger.end - 1e-9:
            continue
        chunk = s.goodput[i : i + width]
        if len(chunk) < width:
            return None
        if sum(chunk) / width >= threshold * baseline:
            return t - trigger.end
    return None


@dataclass(frozen=True)
class LocustRow:
    """One entry of Locust's final statistics (``read_locust_json``; response times in milliseconds)."""

    type: str
    name: str
    count: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None


def histogram_percentile(counts: Mapping[float, int], q: float) -> float | None:
    """Nearest-rank percentile of values given as ``{value: count}`` (Locust's response-time buckets)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)  # pragma: no cover - unreachable: seen reaches total


def read_locust_json(text: str) -> list[LocustRow]:
    """Parse Locust's ``--json-file`` output: the *final* statistics, written after every user
    stopped (the CSV is only rewritten once a second, so its last copy can miss the end)."""
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not Locust JSON statistics: {exc}") from None
    if not isinstance(data, list):
        raise ValueError("not Locust JSON statistics: expected a list of entries")
    rows = []
    for i, entry in enumerate(data):
        try:
            histogram = {float(k): int(v) for k, v in entry["response_times"].items()}
            count = int(entry["num_requests"])
            rows.append(
                LocustRow(
                    type=str(entry["method"]),
                    name=str(entry["name"]),
                    count=count,
                    failures=int(entry["num_failures"]),
                    p50=histogram_percentile(histogram, 50),
                    p95=histogram_percentile(histogram, 95),
                    p99=histogram_percentile(histogram, 99),
                    mean=(float(entry["total_response_time"]) / count) if count else None,
                )
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"Locust JSON statistics entry {i}: missing or bad field ({exc!r})") from None
    return rows


@dataclass(frozen=True)
class StrategySummary:
    """One row of the report's table."""

    strategy: str
    offered: float  # calls/s
    goodput: float  # calls/s
    success_rate: float | None
    amplification: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rate_529: float | None
    recovery_s: float | None
    recovered: bool | None  # None: no trigger in this run
    attempts: int
    calls: int
    locust_attempts: int | None
    locust_calls: int | None
    harness_dropped: int
    window_amplification: float | None  # amplification inside the overload window, when one is given
    goodput_from_trigger: float | None = None  # goodput from the trigger's start to the end of the load
    arrival_lag_p99_ms: float | None = None  # how far behind its schedule the open loop ran (harness health)


def summarize(
    strategy: str,
    attempts: Sequence[Attempt],
    locust_rows: Sequence[LocustRow],
    *,
    window: Window,
    duration: float,
    load_duration: float | None = None,
    trigger: Window | None = None,
    overload_window: Window | None = None,
    attempt_type: str = "HTTP",
    call_type: str = "CALL",
    drop_type: str = "DROP",
    lag_type: str = "LAG",
    threshold: float = 0.8,
    hold: float = 3.0,
    arrivals: Sequence[float] | None = None,
) -> StrategySummary:
    """The table row of one strategy: journal arithmetic plus Locust's view of the calls.

    ``duration`` is the span of the series (load plus drain); ``load_duration`` the span of the
    offered load. With Locust's call row, *offered* and *success* are the caller's (every call
    of the run, including those that never reached the server); without it, the server's
    over ``window``. Goodput, amplification and the 529 rate are always the server's.
    """
    calls = group_calls(attempts)
    call_row = next((r for r in locust_rows if r.type == call_type), None)
    attempt_rows = [r for r in locust_rows if r.type == attempt_type]
    drops = sum(r.count for r in locust_rows if r.type == drop_type)
    lag_row = next((r for r in locust_rows if r.type == lag_type), None)
    recovery: float | None = None
    recovered: bool | None = None
    if trigger is not None:
        recovery = recovery_time(
            series(attempts, duration=duration),
            trigger=trigger,
            warmup=window.start,
            threshold=threshold,
            hold=hold,
        )
        recovered = recovery is not None
    if call_row is not None and call_row.count and load_duration:
        # the caller's view: every call the schedule made, also those that never reached the
        # server (a circuit breaker, a client-side throttle, the end of the run)
        offered = call_row.count / load_duration
        success: float | None = 1 - call_row.failures / call_row.count
    else:
        offered, success = offered_load(calls, window), success_rate(calls, window)
    return StrategySummary(
        strategy=strategy,
        offered=offered,
        goodput=goodput(calls, window),
        success_rate=success,
        amplification=amplification(attempts, window),
        p50_ms=call_row.p50 if call_row else None,
        p95_ms=call_row.p95 if call_row else None,
        p99_ms=call_row.p99 if call_row else None,
        rate_529=rate_529(attempts, window),
        recovery_s=recovery,
        recovered=recovered,
        attempts=len(attempts),
        calls=len(calls),
        locust_attempts=sum(r.count for r in attempt_rows) if attempt_rows else None,
        locust_calls=call_row.count if call_row else None,
        harness_dropped=drops,
        window_amplification=(
            None
            if overload_window is None
            else demand_amplification(attempts, arrivals, overload_window)
            if arrivals is not None
            else amplification(attempts, overload_window)
        ),
        arrival_lag_p99_ms=lag_row.p99 if lag_row else None,
        goodput_from_trigger=(
            goodput(calls, Window(trigger.start, load_duration or duration))
            if trigger is not None and (load_duration or duration) > trigger.start
            else None
        ),
    )
