"""What one ``Policy.default().call`` costs on the success path, as figures to compare versions.

Run: ``python -m benchmarks.policy_overhead [--instructions N] [--warm N] [--rounds N]``

Two figures, from the same run:

* wall clock (always): the median time of a bare SDK ``messages.create`` on an in-process
  transport (no sockets) and of the same create inside ``Policy.default().call``, measured in
  interleaved rounds, and their ratio; also the policy around a no-op call, with and without an
  event hook;
* ``--instructions N``: the instructions executed per call under valgrind's callgrind, a count
  that other load on the machine cannot change, for each case after ``--warm`` calls. One
  process under callgrind runs every case; it is zeroed before and dumped after each case's
  ``N`` calls (``callgrind_control``), so interpreter start-up and imports are not counted.

The bench imports only ``resilience``'s public names, so the same file measures an older
checkout of the library, run by its path from there:
``cd OLD && PYTHONPATH=$PWD python /path/to/benchmarks/policy_overhead.py --instructions 2000``.
Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

CASES = ("noop", "policy", "policy_hooked", "sdk_bare", "sdk_policy")
MODEL = "claude-sonnet-5-5"
BODY: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
MESSAGES = [{"role": "user", "content": "hello"}]


def noop() -> int:
    return 1


def build_cases() -> dict[str, Callable[[], object]]:
    """One zero-argument callable per case: each makes one call the way the case names."""
    import anthropic
    import httpx2

    from resilience import Attempt, Policy

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=BODY, headers={"request-id": "req_1"})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    sdk = anthropic.Anthropic(api_key="k", base_url="http://bench.invalid", max_retries=0, http_client=http)
    plain = Policy.default(seed=0)
    seen: list[object] = []
    hooked = Policy.default(seed=0, on_event=seen.append)
    around_sdk = Policy.default(seed=0)

    def bare_attempt(a: Attempt) -> int:
        return noop()

    def hooked_attempt(a: Attempt) -> int:
        seen.clear()
        return noop()

    def sdk_attempt(a: Attempt) -> object:
        return sdk.messages.create(model=a.model, max_tokens=16, messages=MESSAGES)  # type: ignore[arg-type]

    return {
        "noop": noop,
        "policy": lambda: plain.call(bare_attempt, model=MODEL),
        "policy_hooked": lambda: hooked.call(hooked_attempt, model=MODEL),
        "sdk_bare": lambda: sdk.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES),  # type: ignore[arg-type]
        "sdk_policy": lambda: around_sdk.call(sdk_attempt, model=MODEL),
    }


def run(fn: Callable[[], object], n: int) -> None:
    for _ in range(n):
        fn()


# ---- wall clock ----------------------------------------------------------------------------
def wall_clock(rounds: int, per_round: int) -> dict[str, float]:
    """Median seconds per call of every case, the cases interleaved round after round."""
    cases = build_cases()
    for fn in cases.values():
        run(fn, per_round)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            began = time.perf_counter()
            run(fn, per_round)
            times[name].append((time.perf_counter() - began) / per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def print_wall_clock(medians: dict[str, float]) -> None:
    noop_s = medians["noop"]
    print("wall clock, medians of the same run (µs per call):")
    print(f"  Policy.default().call overhead       {(medians['policy'] - noop_s) * 1e6:8.2f}")
    print(f"  ... with one event hook              {(medians['policy_hooked'] - noop_s) * 1e6:8.2f}")
    print(f"  bare SDK messages.create             {medians['sdk_bare'] * 1e6:8.2f}")
    print(f"  the same create in Policy.default()  {medians['sdk_policy'] * 1e6:8.2f}")
    print(f"  ratio policy/bare SDK create         {medians['sdk_policy'] / medians['sdk_bare']:8.3f} x")


# ---- instructions (callgrind) --------------------------------------------------------------
def child(warm: int, names: list[str]) -> int:
    """Under callgrind: build the cases, warm those named, then run ``CASE N`` lines from stdin."""
    cases = build_cases()
    for name in names:
        run(cases[name], warm)
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.split()
        run(cases[name], int(n))
        print("done", flush=True)
    return 0


def _dumped(out_file: str, seen: set[str]) -> int:
    """The instruction total of the first callgrind dump of ``out_file`` not in ``seen``."""
    folder, base = os.path.split(out_file)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name in sorted(os.listdir(folder)):
            if name.startswith(base + ".") and name not in seen:
                with open(os.path.join(folder, name)) as f:
                    totals = [line for line in f if line.startswith(("summary:", "totals:"))]
                if totals:
                    seen.add(name)
                    return int(totals[0].split()[1])
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no new dump beside {out_file}")


def instructions(n: int, warm: int, names: list[str]) -> dict[str, float]:
    """Instructions per call of every case, counted by callgrind in one child process."""
    tmp = tempfile.mkdtemp(prefix="busysignal-policy-cg-")
    out_file = os.path.join(tmp, "policy.cg")
    command = [
        "valgrind",
        "--tool=callgrind",
        "-q",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--warm",
        str(warm),
        "--cases",
        ",".join(names),
    ]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    per_call: dict[str, float] = {}
    seen: set[str] = set()
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the callgrind child did not start")
        for name in names:
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True)
            proc.stdin.write(f"{name} {n}\n")
            proc.stdin.flush()
            if proc.stdout.readline().strip() != "done":
                raise RuntimeError(f"the callgrind child failed on {name}")
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True)
            per_call[name] = _dumped(out_file, seen) / n
            print(f"  {name:14s} {per_call[name]:10,.0f} instructions/call", flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    return per_call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instructions", type=int, default=0, metavar="N", help="calls counted per case")
    parser.add_argument("--warm", type=int, default=500, help="calls before counting (--instructions)")
    parser.add_argument("--rounds", type=int, default=30, help="wall-clock rounds (0: none)")
    parser.add_argument("--per-round", type=int, default=200, help="calls of each case per round")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"cases to count (--instructions), of {', '.join(CASES)}"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name for name in args.cases.split(",") if name]
    if unknown := set(names) - set(CASES):
        parser.error(f"--cases: no case {', '.join(sorted(unknown))}")
    if args.child:
        return child(args.warm, names)
    import resilience

    print(f"resilience from {os.path.dirname(resilience.__file__)}")
    if args.rounds:
        print_wall_clock(wall_clock(args.rounds, args.per_round))
    if args.instructions:
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            print("--instructions needs valgrind (callgrind_control) on PATH", file=sys.stderr)
            return 2
        print(f"instructions per call (callgrind, {args.instructions} calls after {args.warm}):")
        counts = instructions(args.instructions, args.warm, names)
        if {"policy", "noop"} <= counts.keys():
            print(f"  policy overhead (policy - noop)  {counts['policy'] - counts['noop']:10,.0f}")
        if {"sdk_policy", "sdk_bare"} <= counts.keys():
            print(f"  ratio policy/bare SDK create     {counts['sdk_policy'] / counts['sdk_bare']:10.3f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
