"""`busysignal demo`: the reference clients against an overloaded mock, side by side.

Starts mock servers on a built-in scenario, runs every reference client through the same
workload and through the conformance probes, prints the scorecard and an outcome table, and
writes a report folder (Markdown, a PNG of attempts over time per client, the journals).
The registrar needs only the catalogue's names; the kit is imported when the verb runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mockserver.cli.verify import load_factory
from mockserver.clients.names import BY_NAME, canonical
from mockserver.conformance.probes import probes
from mockserver.extras import require

if TYPE_CHECKING:
    from mockserver.conformance.outcomes import Outcome
    from mockserver.conformance.runner import ClientFactory, Verification
    from mockserver.conformance.workload import Workload, WorkloadRun

DEFAULT_SCENARIO = "one-model-overloaded"
# The default clients; any name of the catalogue (mockserver/clients/names.py) may be asked for.
DEMO_CLIENTS: tuple[str, ...] = (
    "sdk-defaults",
    "sdk-max-retries-5",
    "article-recipe",
    "fallback-loop",
    "bundled-adaptive",
)
# Quick mode leaves out the two slowest probes (a permanent outage, the twelve-client burst).
QUICK_SKIPS = ("outage", "burst")
NOTES = (
    "Every client runs at its real timing (the article recipe waits 4, 4, 4 and 8 s between its "
    "tries), so each verdict here is the one `busysignal verify` gives the same client.",
    "Every client runs on its own mock server (same scenario, same seed), so one client's retries "
    "cannot change what another sees.",
    "The conformance checks judge each client only from the mock's journal: no instrumentation in "
    "the clients.",
)


@dataclass
class DemoResult:
    out_dir: Path
    report: Path
    chart: Path
    verifications: list[Verification]
    workloads: list[WorkloadRun]
    outcomes: list[Outcome]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the reference clients against an overloaded mock: scorecard, outcomes, report",
        description=(
            "Start the mock on a built-in scenario, run the reference clients (SDK defaults, SDK "
            "max_retries=5, the tenacity article recipe, a two-model fallback loop, the bundled "
            "policy) through the same workload and the conformance probes, print the scorecard "
            "and an outcome table, and write a report folder."
        ),
    )
    parser.add_argument(
        "--scenario", default=DEFAULT_SCENARIO, help=f"built-in scenario (default {DEFAULT_SCENARIO})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the mock servers (default 0)")
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default ./busysignal-demo-<time>)"
    )
    parser.add_argument(
        "--calls", type=int, default=None, help="workload calls per client (default 24; quick 8)"
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="workload calls per second (default 4; quick 8)"
    )
    parser.add_argument(
        "--clients",
        default=",".join(DEMO_CLIENTS),
        help=f"comma-separated reference clients (default {','.join(DEMO_CLIENTS)}); "
        f"any of: {', '.join(BY_NAME)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a short run: fewer calls, no {' / '.join(QUICK_SKIPS)} probes"
    )
    parser.set_defaults(func=run_with_extras)


def run_with_extras(args: argparse.Namespace) -> int:
    """:func:`run`, once the ``demo`` extra is known to be there (the chart, the tenacity recipe):
    a missing one is named before any server starts, not after a minute of probes."""
    require("matplotlib", "tenacity")
    return run(args)


def _describe(scenario: str) -> str:
    try:
        from scenarios.loader import load_scenario

        return str(load_scenario(scenario).description)
    except Exception as exc:  # the description only decorates the report
        return f"({exc})"


def _run_clients(
    factories: Mapping[str, ClientFactory],
    scenario: str,
    workload: Workload,
    *,
    seed: int,
    only: Sequence[str] | None,
    progress: Callable[[str], None],
) -> tuple[list[Verification], list[WorkloadRun]]:
    """The probes and the workload of every client, side by side: each client meets its own
    servers in both, so neither changes what the other sees, and most of both is clients waiting
    out backoff (the slowest client's retries bound each phase; one after the other took twice as
    long). On Ctrl-C (or any exception here) every run is cancelled and the exception propagates
    at once: the runs stop their servers within a moment, their client threads are daemons."""
    from mockserver.conformance.runner import as_finished, verify
    from mockserver.conformance.workload import run_workload

    cancel = threading.Event()
    n_probes = len(only if only is not None else probes("-"))
    progress(f"conformance probes for {len(factories)} clients ({'quick' if only else 'all'} probes)")
    progress(f"workload: {workload.calls} calls at {workload.rate_per_s:g}/s per client on '{scenario}'")
    pool = ThreadPoolExecutor(max_workers=2 * len(factories), thread_name_prefix="busysignal-demo")
    try:
        total = len(factories) * n_probes
        finished = [0]
        lock = threading.Lock()

        def probe_done(line: str) -> None:
            with lock:
                finished[0] += 1
                n = finished[0]
            if n % 10 == 0 or n == total:
                progress(f"  probes finished: {n}/{total}")

        vfuts = [
            pool.submit(verify, f, seed=seed, only=only, progress=probe_done, cancel=cancel)
            for f in factories.values()
        ]
        wfuts = [
            pool.submit(run_workload, f, scenario, workload, seed=seed, progress=progress, cancel=cancel)
            for f in factories.values()
        ]
        progress(f"  probes started for {len(vfuts)} clients")
        for fut in as_finished([*vfuts, *wfuts]):  # in finishing order; an error ends the run
            if fut in vfuts and fut.exception() is None:
                v = fut.result()
                failed = [str(r.number) for r in v.results if not r.passed]
                progress(f"  {v.client}: {v.score}" + (f" (fails {', '.join(failed)})" if failed else ""))
            fut.result()
        verifications = [fut.result() for fut in vfuts]
        workloads = [fut.result() for fut in wfuts]
    except BaseException:
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return verifications, workloads


def _factories(clients: Sequence[str]) -> dict[str, ClientFactory]:
    unknown = [c for c in clients if canonical(c) not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown demo client(s) {unknown}; choose from {', '.join(BY_NAME)}")
    return {c: load_factory(canonical(c)) for c in clients}


def run_demo(
    *,
    scenario: str = DEFAULT_SCENARIO,
    seed: int = 0,
    out_dir: Path,
    clients: Sequence[str] = DEMO_CLIENTS,
    workload: Workload | None = None,
    quick: bool = False,
    command: str = "busysignal demo",
    progress: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    from mockserver.conformance.outcomes import outcome
    from mockserver.conformance.report import attempts_timeline, markdown_report, write_chart, write_journal
    from mockserver.conformance.workload import Workload

    factories = _factories(clients)
    workload = workload or (Workload(calls=8, rate_per_s=8.0) if quick else Workload())
    only = [p.name for p in probes("-") if p.name not in QUICK_SKIPS] if quick else None
    # fail early, with the loader's message, on an unknown scenario
    from mockserver.faults import build_engine

    build_engine(scenario, seed=seed)
    verifications, workloads = _run_clients(
        factories, scenario, workload, seed=seed, only=only, progress=progress
    )
    outcomes = [outcome(w.client, w.entries) for w in workloads]

    out_dir.mkdir(parents=True, exist_ok=True)
    end_s = (
        max((max((e.start for e in w.entries), default=w.t0) - w.t0 for w in workloads), default=1.0) + 0.5
    )
    bin_s = 0.5 if end_s <= 60 else 1.0
    timelines = {w.client: attempts_timeline(w.entries, t0=w.t0, bin_s=bin_s, end_s=end_s) for w in workloads}
    chart = write_chart(
        out_dir / "attempts.png",
        timelines,
        bin_s=bin_s,
        title=f"attempts over time per client — '{scenario}'",
    )
    journals: dict[str, str] = {}
    for w in workloads:
        name = f"journal-{w.client.split(' ')[0]}.jsonl"
        write_journal(out_dir / name, w.entries)
        journals[w.client] = name
    results = {v.client: v.results for v in verifications}
    report = out_dir / "report.md"
    report.write_text(
        markdown_report(
            scenario=scenario,
            scenario_description=_describe(scenario),
            command=command,
            results=results,
            outcomes=outcomes,
            chart_name=chart.name,
            journal_names=journals,
            notes=[*NOTES, *(["Quick mode: the outage and burst probes were skipped."] if quick else [])],
        ),
        encoding="utf-8",
    )
    return DemoResult(out_dir, report, chart, verifications, workloads, outcomes)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from mockserver.conformance.scorecard import render_outcomes, render_scorecard
    from mockserver.conformance.workload import Workload

    out = out or sys.stdout
    err = err or sys.stderr
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {line}", file=err, flush=True)

    out_dir = args.out or Path(f"busysignal-demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    base = Workload(calls=8, rate_per_s=8.0) if args.quick else Workload()
    try:
        workload = Workload(
            calls=args.calls if args.calls is not None else base.calls,
            rate_per_s=args.rate if args.rate is not None else base.rate_per_s,
        )
        result = run_demo(
            scenario=args.scenario,
            seed=args.seed,
            out_dir=out_dir,
            clients=clients,
            workload=workload,
            quick=args.quick,
            command="busysignal demo " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
            progress=progress,
        )
    except ValueError as exc:  # unknown client, scenario or bad workload numbers
        print(f"busysignal demo: {exc}", file=err)
        return 2
    print("", file=out)
    print(
        f"Conformance scorecard (judged from the mock's journal; '{args.scenario}' workload below)", file=out
    )
    print(render_scorecard({v.client: v.results for v in result.verifications}, only_failures=True), file=out)
    print("(every figure, passed checks included, is in the report)", file=out)
    print("", file=out)
    print(
        f"Outcomes: {workload.calls} calls per client at {workload.rate_per_s:g}/s on '{args.scenario}'",
        file=out,
    )
    print(render_outcomes(result.outcomes), file=out)
    print("", file=out)
    print(f"Report written to {result.out_dir}/ (report.md, {result.chart.name}, journals)", file=out)
    print(f"done in {time.monotonic() - started:.1f} s", file=err)
    return 0
