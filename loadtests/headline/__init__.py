"""The headline experiment: retry strategies under 2× overload and a capacity-loss trigger.

``busysignal loadtest --headline`` runs, for every strategy, three experiments against the mock
(its scenarios are the YAML files beside this module in ``loadtests/headline/``, shipped as
package data; the server answers in 0.1 s + 16 tokens at 100 tokens/s, so its 4 slots serve
``CAPACITY`` ≈ 15.4 calls/s, little enough that the SDK users of one Locust process keep up with
the retry storms on a small shared machine):

1. **overload**: open-loop Poisson arrivals at 2× capacity for 30 s; the table's window is
   [2, 22) s. What does not fit is shed within 0.5 s of wait, and each shed attempt costs the
   server 10 ms of a slot (rejecting is not free). From 22 s to 25 s every call is answered 529
   (a total outage), where the retry amplification is read.
2. **overload, queueing server**: the same load, windows and outage against a server that
   queues what does not fit (up to 60 requests, about 4 s of work, longer than the clients' 2 s
   timeout) and still does the work of a client that gave up. The goodput target is judged
   against both servers: they bound what a client policy can win differently (see the notes).
3. **capacity loss**: arrivals at 0.7× capacity for 40 s, the capacity halved from 10 s to 20 s,
   a deep server queue, and work whose client gave up keeps its slot. Every strategy times an
   attempt out after 2 s. Clients that retry without a budget keep the queue full of work nobody
   waits for, so their overload outlives the trigger (a metastable failure); the time to recover
   after 20 s is reported.

``time_scale`` shortens (or, up to 3, stretches) every duration and every window of the scenarios:
below 1 for a quick look, above 1 to watch a slow recovery to its end; the targets are defined
at scale 1. The targets are printed beside what was measured,
never asserted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadtests.experiment import Experiment, run_experiment, write_report
from loadtests.render import Target, fmt
from loadtests.report import StrategySummary, Window
from loadtests.runner import Progress
from loadtests.strategies import STRATEGIES

__all__ = [
    "CAPACITY",
    "HeadlineOptions",
    "headline_experiments",
    "headline_targets",
    "run_headline",
    "scale_scenario",
]

SCENARIO_DIR = Path(__file__).resolve().parent  # headline-*.yaml
SLOTS, TTFT_S, TOKENS, TOKENS_PER_S = 4, 0.1, 16, 100.0
CAPACITY = SLOTS / (TTFT_S + TOKENS / TOKENS_PER_S)  # calls/s the mock serves at full capacity
SERVER_ARGS = ("--quiet", "--journal-size", "1000000", "--ttft", str(TTFT_S), "--tps", str(TOKENS_PER_S))
BUNDLED = ("bundled", "bundled-adaptive")


def scale_scenario(data: Any, factor: float) -> Any:
    """A copy of a parsed scenario with every window and capacity change ``factor`` times as long."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in ("start_s", "end_s", "period_s") and isinstance(value, (int, float)):
                out[key] = value * factor
            else:
                out[key] = scale_scenario(value, factor)
        return out
    if isinstance(data, list):
        return [scale_scenario(v, factor) for v in data]
    return data


def _scenario(name: str, time_scale: float, out: Path) -> str:
    path = SCENARIO_DIR / f"{name}.yaml"
    if time_scale == 1.0:
        return str(path)
    data = scale_scenario(yaml.safe_load(path.read_text()), time_scale)
    scaled = out / "scenarios" / f"{name}-x{time_scale:g}.yaml"
    scaled.parent.mkdir(parents=True, exist_ok=True)
    scaled.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(scaled)


@dataclass(frozen=True)
class HeadlineOptions:
    """What one headline run may vary: the strategies it compares, its time scale (see the module
    docstring), the Locust workers and the seed."""

    strategies: Sequence[str] = STRATEGIES
    time_scale: float = 1.0
    workers: int = 0
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.time_scale <= 3:
            raise ValueError(f"time_scale must be in (0, 3], got {self.time_scale}")


def headline_experiments(out: Path, options: HeadlineOptions = HeadlineOptions()) -> list[Experiment]:
    """The three experiments (scenarios scaled to ``options.time_scale`` are written under ``out``)."""
    s = options.time_scale
    common: dict[str, Any] = {
        "strategies": tuple(options.strategies),
        "workers": options.workers,
        "seed": options.seed,
        "timeout_s": 2.0,
        "server_args": SERVER_ARGS,
        "drain_s": max(2.0, 5.0 * s),
    }
    overload: dict[str, Any] = {  # the two overload experiments differ only in their server
        "duration": 30 * s,
        "rate": 2 * CAPACITY,
        "warmup": 2 * s,
        "measure": Window(2 * s, 22 * s),
        "overload_window": Window(22 * s, 25 * s),
        **common,
    }
    return [
        Experiment(
            name="overload",
            title=f"2× overload ({2 * CAPACITY:.0f} calls/s against {CAPACITY:.0f}/s of capacity)",
            scenario=_scenario("headline-overload", s, out),
            notes="Goodput at 2× overload is read over the table's window; amplification where every "
            "call is answered 529. The server sheds within 0.5 s of wait, before any client's 2 s timeout, "
            "so a failed attempt costs it only its rejection (10 ms of a slot, about 4 % of a served call): "
            "the more attempts a client sends for the same calls, the less capacity is left to serve them. "
            "Where a failed attempt costs a whole call (it timed out in a deep queue and its work is still "
            "done), see the next experiment. The sheds cap every client at the capacity, so no policy can "
            f"have more than {CAPACITY:.1f} calls/s here: against a client that keeps most of it, "
            "1.5× is out of reach by arithmetic.",
            **overload,
        ),
        Experiment(
            name="overload-queue",
            title=f"2× overload against a server that queues ({2 * CAPACITY:.0f} calls/s, queue of ~4 s)",
            scenario=_scenario("headline-overload-deep-queue", s, out),
            notes="The same load, windows and outage as the overload experiment; the server queues up to "
            "60 requests (about 4 s of work) instead of shedding within 0.5 s, and still does the work of "
            "an attempt whose client timed out after 2 s. An attempt that times out costs the server a "
            "whole call, served for nobody, and its retry joins the back of the same queue. A client that "
            "counts a timeout as congestion (cuts its concurrency) keeps the queue short enough to be "
            "answered in time; the first seconds, before any timeout has been seen, fill the queue for "
            "every client.",
            **overload,
        ),
        Experiment(
            name="capacity-loss",
            title=f"capacity halved for {10 * s:g} s under 0.7× load",
            scenario=_scenario("headline-capacity-loss", s, out),
            duration=40 * s,
            rate=0.7 * CAPACITY,
            warmup=2 * s,
            trigger=Window(10 * s, 20 * s),
            notes="During the trigger the load is 1.4× the remaining capacity; the deep queue turns "
            "timed-out attempts into work nobody waits for.",
            **common,
        ),
    ]


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def headline_targets(
    overload: Mapping[str, StrategySummary],
    capacity_loss: Mapping[str, StrategySummary],
    overload_queue: Mapping[str, StrategySummary],
) -> list[Target]:
    """The issue's targets against one run's rows (missing strategies: "not measured"). The
    goodput target is judged against each server of the 2× overload: the one that sheds
    (``overload``) and the one that queues (``overload_queue``)."""
    return [
        *_overload_goodput_targets("server sheds", overload),
        *_overload_goodput_targets("server queues", overload_queue),
        *_capacity_loss_goodput_targets(capacity_loss),
        *_outage_amplification_targets(overload),
        *_capacity_loss_recovery_targets(capacity_loss),
        Target(
            "driving capacity of the harness (raw FastHttpUser, SDK users, --workers scaling)",
            "see `python -m benchmarks.bench_driver`",
            None,
        ),
    ]


def _overload_goodput_targets(server: str, rows: Mapping[str, StrategySummary]) -> list[Target]:
    """2× overload, against one of its two servers: the bundled clients' goodput beside each reference."""
    targets: list[Target] = []
    for b in BUNDLED:
        row = rows.get(b)
        for other, need in (("sdk-defaults", 1.5), ("article-recipe", 1.5), ("no-retry", 0.95)):
            o = rows.get(other)
            r = _ratio(row.goodput if row else None, o.goodput if o else None)
            targets.append(
                Target(
                    f"goodput at 2× overload ({server}): {b} ≥ {need:g}× {other}",
                    "–"
                    if r is None or row is None or o is None
                    else f"{row.goodput:.1f} vs {o.goodput:.1f} calls/s = {r:.2f}×",
                    None if r is None else r >= need,
                ),
            )
    return targets


def _capacity_loss_goodput_targets(capacity_loss: Mapping[str, StrategySummary]) -> list[Target]:
    """Capacity loss: the bundled clients' goodput from the trigger on, beside the retrying references."""
    targets: list[Target] = []
    for b in BUNDLED:
        row = capacity_loss.get(b)
        for other in ("sdk-defaults", "article-recipe"):
            o = capacity_loss.get(other)
            mine = row.goodput_from_trigger if row else None
            theirs = o.goodput_from_trigger if o else None
            r = _ratio(mine, theirs)
            targets.append(
                Target(
                    f"goodput from the trigger on (capacity loss): {b} ≥ 1.5× {other}",
                    "–"
                    if mine is None or theirs is None
                    else f"{mine:.1f} vs {theirs:.1f} calls/s" + (f" = {r:.2f}×" if r is not None else ""),
                    None
                    if mine is None or theirs is None
                    else (theirs == 0 and mine > 0) or (r is not None and r >= 1.5),
                )
            )
    return targets


def _outage_amplification_targets(overload: Mapping[str, StrategySummary]) -> list[Target]:
    """The outage at the end of the 2× overload: the bundled clients' attempts per call in it."""
    sdk = overload.get("sdk-defaults")
    ref = f" (sdk-defaults: {fmt(sdk.window_amplification)})" if sdk else ""
    targets: list[Target] = []
    for b in BUNDLED:
        row = overload.get(b)
        amp = row.window_amplification if row else None
        targets.append(
            Target(
                f"amplification during 100 % 529: {b} ≤ 1.10 attempts per call",
                f"{fmt(amp)}{ref}",
                None if amp is None else amp <= 1.10,
            )
        )
    return targets


def _capacity_loss_recovery_targets(capacity_loss: Mapping[str, StrategySummary]) -> list[Target]:
    """Capacity loss: the bundled clients recover as fast as no-retry; the retrying references do not."""
    base = capacity_loss.get("no-retry")
    targets: list[Target] = []
    for b in BUNDLED:
        row = capacity_loss.get(b)
        if row is None or base is None or base.recovery_s is None:
            met: bool | None = None
            measured = "–" if row is None or base is None else f"{_rec(row)} vs no-retry {_rec(base)}"
        elif base.recovery_s <= 1e-9:
            # no-retry was back at once: the trigger cost nothing to recover from (a short
            # --time-scale), so "as fast as no-retry" has nothing to judge
            met = None
            measured = f"{_rec(row)} vs no-retry {_rec(base)}: the trigger left no-retry nothing to recover"
        else:
            met = row.recovery_s is not None and row.recovery_s <= 1.2 * base.recovery_s + 1e-9
            measured = f"{_rec(row)} vs no-retry {_rec(base)} (limit {1.2 * base.recovery_s:.1f} s)"
        targets.append(Target(f"recovery after the trigger: {b} ≤ 1.2× no-retry", measured, met))
    for other in ("sdk-defaults", "article-recipe"):
        row = capacity_loss.get(other)
        targets.append(
            Target(
                f"{other} shown not recovering within the run",
                "–" if row is None else _rec(row),
                None if row is None else row.recovered is False,
            )
        )
    return targets


def _rec(row: StrategySummary) -> str:
    if row.recovered is None:
        return "n/a"
    return "not within the run" if row.recovery_s is None else f"{row.recovery_s:.1f} s"


def run_headline(
    out: Path,
    options: HeadlineOptions = HeadlineOptions(),
    *,
    progress: Progress | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run the three experiments, write ``out/report.md`` and print the targets side by side."""
    results = [run_experiment(exp, out, progress=progress) for exp in headline_experiments(out, options)]
    rows = {r.experiment.name: {row.strategy: row for row in r.rows} for r in results}
    targets = headline_targets(rows["overload"], rows["capacity-loss"], rows["overload-queue"])
    intro = __doc__.split("\n\n", 1)[1] if __doc__ else ""
    if options.time_scale != 1.0:
        intro += (
            f"\n\n**Time scale {options.time_scale:g}**: a shortened run; the targets hold for scale 1 only."
        )
    path = write_report(
        results, out, title="busysignal headline: retry storms under overload", intro=intro, targets=targets
    )
    width = max(len(t.claim) for t in targets)
    echo("")
    echo(f"{'target':<{width}}  {'verdict':<12}  measured")
    for t in targets:
        echo(f"{t.claim:<{width}}  {t.verdict:<12}  {t.measured}")
    echo(f"\nreport: {path}")
    return path
