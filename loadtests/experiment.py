"""Experiments: several strategies under one scenario and load, run one after another, then the
report (Markdown table beside PNG charts)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from loadtests.render import Target, draw_charts, markdown_table, targets_table
from loadtests.report import Series, StrategySummary, Window, series, summarize
from loadtests.runner import Progress, RunResult, RunSpec, run_strategy

__all__ = ["Experiment", "ExperimentResult", "harness_problems", "run_experiment", "write_report"]

LAG_WARN_MS = 100.0  # an open loop further behind its schedule than this no longer offers the load it claims


@dataclass(frozen=True)
class Experiment:
    name: str  # file-name friendly
    title: str
    scenario: str
    strategies: tuple[str, ...]
    duration: float
    rate: float = 0.0
    users: int = 0
    shape: str = "steady"
    warmup: float = 0.0  # seconds left out of the table's window (and of the recovery baseline)
    measure: Window | None = None  # the table's window; default [warmup, duration)
    trigger: Window | None = None  # when set, the time to recover after its end is reported
    overload_window: Window | None = None  # a window of 100 % 529: amplification inside it
    timeout_s: float = 0.0
    workers: int = 0
    seed: int = 1
    drain_s: float = 5.0
    startup_s: float = 0.0  # how long Locust gets to start before the load; 0: the runner's default
    server_args: tuple[str, ...] = ("--quiet", "--journal-size", "1000000")
    notes: str = ""

    @property
    def window(self) -> Window:
        return self.measure or Window(self.warmup, self.duration)

    def spec(self, strategy: str, out: Path) -> RunSpec:
        """One strategy's run: every setting the experiment shares with :class:`RunSpec` (the
        fields of the same name), plus the strategy and its output folder."""
        shared = {f.name: getattr(self, f.name) for f in fields(RunSpec) if f.name in _FIELDS}
        return RunSpec(strategy=strategy, out=out, **shared)


_FIELDS = frozenset(f.name for f in fields(Experiment))


@dataclass
class ExperimentResult:
    experiment: Experiment
    out: Path
    rows: list[StrategySummary] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)

    def row(self, strategy: str) -> StrategySummary | None:
        return next((r for r in self.rows if r.strategy == strategy), None)


def run_experiment(exp: Experiment, out: Path, *, progress: Progress | None = None) -> ExperimentResult:
    say: Progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    result = ExperimentResult(exp, out)
    horizon = exp.duration + exp.drain_s
    specs = [
        exp.spec(strategy, out / exp.name / strategy) for strategy in exp.strategies
    ]  # validate all first
    for i, (strategy, spec) in enumerate(zip(exp.strategies, specs, strict=True), 1):
        say(f"== {exp.name}: {strategy} ({i}/{len(exp.strategies)}) ==")
        run = run_strategy(spec, progress=say)
        result.runs.append(run)
        result.rows.append(
            summarize(
                strategy,
                run.attempts,
                run.locust_rows,
                window=exp.window,
                duration=horizon,
                load_duration=exp.duration,
                trigger=exp.trigger,
                overload_window=exp.overload_window,
                arrivals=run.spec.load_config(run.t0).schedule() if exp.rate > 0 else None,
            )
        )
        result.series[strategy] = series(run.attempts, duration=horizon)
    result.charts = draw_charts(
        result.series,
        out,
        title=exp.title,
        trigger=exp.trigger,
        overload_window=exp.overload_window,
        load_end=exp.duration,
        prefix=f"{exp.name}-",
    )
    return result


def harness_problems(row: StrategySummary, journal_gaps: int) -> list[str]:
    """What made a strategy's run measure less than it claims: Locust and the journal disagree,
    the journal lost entries, the open loop fell more than ``LAG_WARN_MS`` behind its schedule
    (p99), or arrivals were dropped. Empty when the run is sound."""
    problems = []
    if row.locust_attempts is not None and row.locust_attempts != row.attempts:
        problems.append(
            f"{row.strategy}: Locust counted {row.locust_attempts} attempts, the journal {row.attempts}"
        )
    if journal_gaps:
        problems.append(f"{row.strategy}: {journal_gaps} journal entries lost (ring buffer)")
    if row.arrival_lag_p99_ms is not None and row.arrival_lag_p99_ms > LAG_WARN_MS:
        problems.append(
            f"{row.strategy}: arrivals ran up to {row.arrival_lag_p99_ms:.0f} ms behind schedule (p99)"
        )
    if row.harness_dropped:
        problems.append(
            f"{row.strategy}: the harness dropped {row.harness_dropped} arrivals (cap or late start)"
        )
    return problems


def _load_text(exp: Experiment) -> str:
    if exp.rate > 0:
        return f"open loop, Poisson arrivals, shape `{exp.shape}` at {exp.rate:g} calls/s"
    return f"closed loop, {exp.users} users"


def experiment_markdown(res: ExperimentResult, *, relative_to: Path) -> str:
    exp = res.experiment
    lines = [f"## {exp.title}", ""]
    if exp.notes:
        lines += [exp.notes, ""]
    timeout = f"{exp.timeout_s:g} s per attempt" if exp.timeout_s else "the SDK's default (600 s)"
    lines += [
        f"- scenario: `{exp.scenario}`",
        f"- load: {_load_text(exp)}, {exp.duration:g} s (+ {exp.drain_s:g} s to drain); "
        f"Locust {'master + ' + str(exp.workers) + ' workers' if exp.workers else 'single process'}",
        f"- client timeout (every strategy): {timeout}",
        f"- table window: [{exp.window.start:g}, {exp.window.end:g}) s",
    ]
    if exp.trigger:
        lines.append(f"- trigger: [{exp.trigger.start:g}, {exp.trigger.end:g}) s (shaded red in the charts)")
    if exp.overload_window:
        w = exp.overload_window
        lines.append(f"- window of 100 % 529: [{w.start:g}, {w.end:g}) s (shaded grey)")
    lines.append("")
    after = (exp.duration + exp.drain_s - exp.trigger.end) if exp.trigger else None
    lines.append(markdown_table(res.rows, run_end_after_trigger=after))
    problems = [
        p
        for run, row in zip(res.runs, res.rows, strict=True)
        for p in harness_problems(row, run.journal_gaps)
    ]
    if problems:
        lines += ["", "**Check the harness:** " + "; ".join(problems), ""]
    for chart in res.charts:
        rel = chart.relative_to(relative_to) if chart.is_relative_to(relative_to) else chart
        lines.append(f"![{chart.stem}]({rel})")
    lines.append("")
    cpu = "; ".join(
        f"{run.spec.strategy}: wall {run.wall_s:.0f} s, CPU "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(run.cpu_s.items()))
        for run in res.runs
    )
    lines += [f"<sub>Process CPU: {cpu}</sub>", ""]
    return "\n".join(lines)


def write_report(
    results: Sequence[ExperimentResult],
    out: Path,
    *,
    title: str = "busysignal load test",
    intro: str = "",
    targets: Sequence[Target] = (),
) -> Path:
    """``out/report.md``: targets (when given), then each experiment's table and charts."""
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", ""]
    if intro:
        parts += [intro, ""]
    if targets:
        parts += ["## Targets (measured side by side in this run; printed, not asserted)", ""]
        parts += [targets_table(targets), ""]
    parts += [_DEFINITIONS, ""]
    for res in results:
        parts.append(experiment_markdown(res, relative_to=out))
    path = out / "report.md"
    path.write_text("\n".join(parts))
    return path


_DEFINITIONS = """<details><summary>How the columns are computed</summary>

Server side (the mock's journal) unless said otherwise. *offered*: logical calls the schedule
made per second over the whole run (Locust); *goodput*: calls whose first successful attempt
finished in the window, per second; *success*: share of all the run's calls that succeeded, as the
caller saw them (Locust; calls still open at the end count as failed); *p50/p95/p99*: Locust's
end-to-end time of a logical call; *amplification*: attempts ÷ logical calls (in the window of
100 % 529: attempts ÷ calls the caller started in it, so calls a client held back count too);
*529 rate*: share
of attempts answered 529; *time to recover*: from the end of the trigger to the first second
from which the mean goodput over 3 s is back to 80 % of its mean before the trigger (see
`loadtests/report.py`). Attempts are counted twice, by the journal and by Locust (every HTTP
attempt seen under the SDK), and the two must agree.
</details>"""
