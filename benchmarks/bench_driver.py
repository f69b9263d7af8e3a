"""The driving capacity of the load-test harness on this machine (prints figures, asserts nothing).

Closed-loop users against the mock with no latency (``--ttft 0 --tps 0``, no faults), for a few
seconds each:

* raw ``FastHttpUser`` (one POST per call, no SDK): the ceiling of one Locust process;
* SDK users (``no-retry``: the official SDK, one attempt per call, every attempt reported);
* the same with ``--workers N`` (Locust master + N workers).

Attempts/s are counted from the mock's journal (and checked against Locust's count). The CPU
seconds of each process say who the bottleneck was: on a small machine it is often the mock
itself, or the other processes sharing the cores, not Locust.

    python -m benchmarks.bench_driver [--duration 8] [--users 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loadtests.runner import RunResult, RunSpec, run_strategy

FAST_SERVER = ("--quiet", "--journal-size", "2000000", "--ttft", "0", "--tps", "0")


@dataclass(frozen=True)
class Figure:
    label: str
    attempts_per_s: float
    locust_agrees: bool
    cpu: dict[str, float]
    failures: int


def measure(label: str, strategy: str, users: int, workers: int, duration: float, out: Path) -> Figure:
    spec = RunSpec(
        scenario="steady",
        strategy=strategy,
        duration=duration,
        out=out / label.replace(" ", "_"),
        users=users,
        workers=workers,
        drain_s=1.0,
        server_args=FAST_SERVER,
    )
    result: RunResult = run_strategy(spec, progress=lambda line: None)
    inside = [a for a in result.attempts if 0 <= a.t < duration]
    locust = sum(r.count for r in result.locust_rows if r.type in ("HTTP", "POST"))
    failures = sum(r.failures for r in result.locust_rows if r.type in ("HTTP", "POST"))
    return Figure(label, len(inside) / duration, locust == len(result.attempts), result.cpu_s, failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min) before the runs")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-driver-") as tmp:
        out = Path(tmp)
        plan = [
            ("raw FastHttpUser", "raw", 0),
            ("SDK users", "no-retry", 0),
            (f"raw FastHttpUser, {args.workers} workers", "raw", args.workers),
            (f"SDK users, {args.workers} workers", "no-retry", args.workers),
        ]
        for label, strategy, workers in plan:
            fig = measure(label, strategy, args.users, workers, args.duration, out)
            figures.append(fig)
            cpu = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(fig.cpu.items()))
            print(
                f"{label:<32} {fig.attempts_per_s:8.0f} attempts/s   Locust count = journal: "
                f"{'yes' if fig.locust_agrees else 'NO'}   failures {fig.failures}   CPU: {cpu}",
                flush=True,
            )
    by = {f.label: f.attempts_per_s for f in figures}
    raw, sdk = by["raw FastHttpUser"], by["SDK users"]
    print(f"SDK users / raw FastHttpUser (one process): {sdk / raw:.2f}")
    print(f"raw with {args.workers} workers / raw single: {by[plan[2][0]] / raw:.2f}")
    print(f"SDK with {args.workers} workers / SDK single: {by[plan[3][0]] / sdk:.2f}")
    print(f"load average after the runs: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
