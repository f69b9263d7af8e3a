"""``busysignal loadtest``: client strategies side by side against the mock, under Locust.

Examples::

    busysignal loadtest --scenario capacity-overload --strategy sdk-defaults --rate 40 --duration 30
    busysignal loadtest --scenario S --compare no-retry,sdk-defaults,bundled --rate 60 --duration 30 \\
        --trigger 10:20 --out out/cmp
    busysignal loadtest --headline            # the headline experiment (about 15 minutes)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtests.durations import FORMS, duration_arg, parse_duration
from loadtests.shapes import SHAPE_DEFAULTS, ShapeError, parse_shape
from mockserver.cli import naming_missing_extras
from mockserver.clients.names import STRATEGY_NAMES as STRATEGIES
from mockserver.extras import require

if TYPE_CHECKING:
    from loadtests.report import Window

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "loadtest",
        help="compare client strategies under overload (the mock + Locust, headless)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def _window(text: str) -> Window:
    from loadtests.report import Window  # the report's module, imported when a window is given

    try:
        a, b = (parse_duration(x) for x in text.split(":"))
        return Window(a, b)
    except ValueError:  # DurationError too
        raise argparse.ArgumentTypeError(
            f"expected START:END with END > START, each a duration ({FORMS}), got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headline", action="store_true", help="run the headline experiment (README)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="with --headline: scale every duration and window by this factor, (0, 3]",
    )
    parser.add_argument("--scenario", default="steady", help="built-in scenario name or YAML file")
    parser.add_argument("--strategy", default=None, help=f"one of: {', '.join(STRATEGIES)} (or 'raw')")
    parser.add_argument("--compare", default=None, metavar="X,Y,Z", help="several strategies, one run each")
    load = parser.add_mutually_exclusive_group()
    load.add_argument(
        "--rate", type=float, default=None, help="open loop: nominal calls/s (Poisson arrivals)"
    )
    load.add_argument("--users", type=int, default=None, help="closed loop: concurrent users")
    parser.add_argument(
        "--shape",
        default="steady",
        help=f"open-loop load shape: {', '.join(SHAPE_DEFAULTS)} (name:key=value,...)",
    )
    parser.add_argument(
        "--duration",
        type=duration_arg(positive=True),
        default=30.0,
        help="how long the load is offered: 30, 20s, 2m, 1h30m (default 30 s)",
    )
    parser.add_argument("--workers", type=int, default=0, help="Locust master + N worker processes")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report folder, new or empty (default out/loadtest-<time>)",
    )
    parser.add_argument(
        "--trigger", type=_window, default=None, metavar="A:B", help="report recovery after B"
    )
    parser.add_argument(
        "--outage-window", type=_window, default=None, metavar="A:B", help="read amplification in [A, B)"
    )
    parser.add_argument(
        "--warmup", type=duration_arg(), default=0.0, help="duration left out of the table's window"
    )
    parser.add_argument(
        "--timeout", type=duration_arg(), default=0.0, help="per-attempt client timeout (0: SDK's)"
    )
    parser.add_argument(
        "--drain", type=duration_arg(), default=5.0, help="how long open calls may finish after the load"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--startup",
        type=float,
        default=0.0,
        help="seconds Locust gets to start before the load begins (default 4 + 1 per worker; "
        "raise it on a busy machine, where late arrivals are dropped and counted)",
    )


def _strategies(args: argparse.Namespace) -> tuple[str, ...]:
    names: list[str] = []
    if args.strategy:
        names.append(args.strategy)
    if args.compare:
        names += [n.strip() for n in args.compare.split(",") if n.strip()]
    if not names:
        raise ValueError("give --strategy X or --compare X,Y,Z (or --headline)")
    known = (*STRATEGIES, "raw")
    for n in names:
        if n not in known:
            raise ValueError(f"unknown strategy {n!r}; known: {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def out_problem(out: Path) -> str | None:
    """Why the report cannot go to folder ``out`` without overwriting something, or None: it
    must be a new folder or an empty one, under folders (not files)."""
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            return f"--out {out}: {parent} is a file, not a folder"
    if out.exists() and not out.is_dir():
        return f"--out {out} is an existing file; the report needs a folder (give a new path)"
    if out.is_dir() and any(out.iterdir()):
        return (
            f"--out {out} is a folder that already holds files; give a new or empty folder, "
            "so that nothing in it is overwritten"
        )
    return None


def run(args: argparse.Namespace) -> int:
    # Locust runs in subprocesses, the report draws charts: both come with the 'load' extra,
    # and are named before anything starts (the runner, the SDK: imported here, not for --help)
    require("locust", "matplotlib")
    from loadtests.experiment import Experiment, run_experiment, write_report
    from loadtests.runner import RunError

    out: Path = args.out or Path("out") / f"loadtest-{time.strftime('%Y%m%d-%H%M%S')}"
    problem = out_problem(out)
    if problem is not None:
        print(f"busysignal loadtest: {problem}", file=sys.stderr)
        return 2
    try:
        if args.headline:
            from loadtests.headline import HeadlineOptions, run_headline

            strategies = _strategies(args) if (args.strategy or args.compare) else STRATEGIES
            options = HeadlineOptions(
                strategies, time_scale=args.time_scale, workers=args.workers, seed=args.seed
            )
            run_headline(out, options)
            return 0
        strategies = _strategies(args)
        if args.rate is None and args.users is None:
            raise ValueError("give --rate R (open loop) or --users U (closed loop)")
        if args.rate is not None:
            parse_shape(
                args.shape, rate=args.rate, duration=args.duration
            )  # a bad shape fails before any run
        exp = Experiment(
            name="run",
            title=f"scenario {args.scenario}",
            scenario=args.scenario,
            strategies=strategies,
            duration=args.duration,
            rate=args.rate or 0.0,
            users=args.users or 0,
            shape=args.shape,
            warmup=args.warmup,
            trigger=args.trigger,
            overload_window=args.outage_window,
            timeout_s=args.timeout,
            workers=args.workers,
            seed=args.seed,
            drain_s=args.drain,
            startup_s=args.startup,
        )
        result = run_experiment(exp, out)
        path = write_report([result], out)
        for row in result.rows:
            print(
                f"{row.strategy}: goodput {row.goodput:.1f}/s of {row.offered:.1f}/s offered, "
                f"amplification {row.amplification or 0:.2f}, 529 rate {100 * (row.rate_529 or 0):.0f} %, "
                f"attempts journal {row.attempts} / Locust {row.locust_attempts}"
            )
        print(f"report: {path}")
        return 0
    except (RunError, ShapeError, ValueError) as exc:
        print(f"busysignal loadtest: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="busysignal loadtest", description=__doc__)
    add_arguments(parser)
    return naming_missing_extras(run, "loadtest")(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
