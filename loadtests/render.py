"""The report: a Markdown table per experiment beside PNG charts over time (matplotlib, Agg).

Pure formatting (``markdown_table``, ``targets_table``) is separate from the drawing
(``draw_charts``), which only writes files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loadtests.report import Series, StrategySummary, Window

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CHARTS", "Target", "chart_figure", "draw_charts", "fmt", "markdown_table", "targets_table"]

CHARTS: tuple[tuple[str, str, str], ...] = (
    ("goodput", "goodput (calls succeeding / s)", "goodput.png"),
    ("rate_529", "server-side 529 share of attempts", "rate_529.png"),
    ("in_flight", "attempts in flight at the server (mean)", "in_flight.png"),
    ("attempts", "attempts arriving / s", "attempts.png"),
)


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _recovery(s: StrategySummary, run_end_after_trigger: float | None) -> str:
    if s.recovered is None:
        return "n/a (no trigger)"
    if s.recovery_s is None:
        tail = f" (> {run_end_after_trigger:.0f} s)" if run_end_after_trigger is not None else ""
        return f"not within the run{tail}"
    return f"{s.recovery_s:.1f} s"


def markdown_table(rows: Sequence[StrategySummary], *, run_end_after_trigger: float | None = None) -> str:
    head = (
        "| strategy | offered (calls/s) | goodput (calls/s) | success | amplification | "
        "amplification in 100 % 529 window | p50 ms | p95 ms | p99 ms | 529 rate | time to recover | "
        "attempts: journal / Locust | calls: journal / Locust | harness drops | arrival lag p99 ms |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|\n"
    )
    lines = []
    for s in rows:
        lines.append(
            f"| {s.strategy} | {fmt(s.offered)} | {fmt(s.goodput)} | {_pct(s.success_rate)} | "
            f"{fmt(s.amplification)} | {fmt(s.window_amplification)} | {fmt(s.p50_ms, 0)} | "
            f"{fmt(s.p95_ms, 0)} | {fmt(s.p99_ms, 0)} | {_pct(s.rate_529)} | "
            f"{_recovery(s, run_end_after_trigger)} | {s.attempts} / {_opt(s.locust_attempts)} | "
            f"{s.calls} / {_opt(s.locust_calls)} | {s.harness_dropped} | {fmt(s.arrival_lag_p99_ms, 0)} |"
        )
    return head + "\n".join(lines) + "\n"


def _opt(value: int | None) -> str:
    return "–" if value is None else str(value)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, measured, and whether this run met it (printed, not asserted)."""

    claim: str
    measured: str
    met: bool | None  # None: could not be measured in this run

    @property
    def verdict(self) -> str:
        return {True: "met", False: "not met", None: "not measured"}[self.met]


def targets_table(targets: Sequence[Target]) -> str:
    out = "| target | measured | verdict |\n|---|---|---|\n"
    for t in targets:
        out += f"| {t.claim} | {t.measured} | {t.verdict} |\n"
    return out


# one line style per strategy as well as one colour, so the lines read in grayscale too
LINE_STYLES: tuple[tuple[str, str], ...] = (
    ("-", "o"),
    ("--", "s"),
    ("-.", "^"),
    (":", "D"),
    ("-", "v"),
    ("--", "x"),
)


def chart_figure(
    attr: str,
    label: str,
    series_by_strategy: Mapping[str, Series],
    *,
    title: str,
    trigger: Window | None = None,
    overload_window: Window | None = None,
    load_end: float | None = None,
) -> Figure:
    """One metric's chart: a line per strategy, the windows shaded, the legend to the right of
    the plotted area (never over the data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100, layout="constrained")
    for i, (strategy, s) in enumerate(series_by_strategy.items()):
        ys = [float("nan") if v is None else v for v in getattr(s, attr)]
        xs = [t + s.bin_s / 2 for t in s.t]
        style, marker = LINE_STYLES[i % len(LINE_STYLES)]
        every = max(1, len(xs) // 12)
        ax.plot(xs, ys, label=strategy, linewidth=1.4, linestyle=style, marker=marker, markevery=every, ms=4)
    if trigger is not None:
        ax.axvspan(trigger.start, trigger.end, color="tab:red", alpha=0.12, label="trigger")
    if overload_window is not None and overload_window != trigger:
        ax.axvspan(
            overload_window.start, overload_window.end, color="tab:gray", alpha=0.15, label="100 % 529"
        )
    if load_end is not None:
        ax.axvline(load_end, color="black", linestyle="--", linewidth=0.8, label="load ends")
    ax.set_title(f"{title}: {label}", fontsize=10)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel(label.split(" (")[0])
    if attr == "rate_529":
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7)
    return fig


def draw_charts(
    series_by_strategy: Mapping[str, Series],
    out_dir: Path,
    *,
    title: str,
    trigger: Window | None = None,
    overload_window: Window | None = None,
    load_end: float | None = None,
    prefix: str = "",
) -> list[Path]:
    """One PNG per metric (:func:`chart_figure`). Returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for attr, label, filename in CHARTS:
        fig = chart_figure(
            attr,
            label,
            series_by_strategy,
            title=title,
            trigger=trigger,
            overload_window=overload_window,
            load_end=load_end,
        )
        import matplotlib.pyplot as plt  # after chart_figure chose the Agg backend

        path = out_dir / f"{prefix}{filename}"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
