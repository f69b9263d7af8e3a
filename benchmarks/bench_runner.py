"""Document runner under the capacity-overload scenario: goodput against capacity, and attempts
per document. Prints figures; run with ``python -m benchmarks.bench_runner``.

The scenario's pool generates for 20 requests at once, queues 20 more for at most 1 s and sheds
the rest with fast 529s. The capacity is measured in the same run, on the same mock, by an
*oracle* client that knows the pool size and keeps exactly that many requests in flight
(no 529s, every slot always busy). Then the scenario clock is restarted and the runner, which
knows nothing about the pool, processes enough documents to keep the service busy for about
``--busy-s`` seconds with ``--concurrency`` far above what the service takes; the AIMD limit
and the requeueing have to find the capacity themselves. Both phases stay inside the first
30 s of the scenario (before its scheduled capacity loss).

A third phase runs the same runner with its concurrency held fixed (``--no-adaptive``) to show
what the adaptive limit saves (skip it with ``--skip-fixed``).

Targets (issue 7): goodput >= 90 % of capacity, <= 1.1 attempts per document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import anthropic
import yaml

from mockserver import MockServer
from resilience.runner import RequeuePolicy, resilient_client, run_file

SCENARIO = "capacity-overload"
MODEL = "claude-haiku-5-5"
MAX_TOKENS = 256  # above the mock's typical answer, so service times are the scenario's


def theoretical_capacity() -> tuple[int, float, float]:
    """(slots, idle req/s, saturated req/s) from the scenario file's pool."""
    text = resources.files("scenarios").joinpath(f"{SCENARIO}.yaml").read_text()
    pool = yaml.safe_load(text)["capacity"]["pools"][0]
    slots = int(pool["concurrency"])
    service = float(pool["ttft_s"]) + float(pool["expected_output_tokens"]) / float(
        pool["stream_tokens_per_s"]
    )
    slowdown = 1.0 + float(pool.get("slowdown", 0.0))
    return slots, slots / service, slots / (service * slowdown)


def doc_text(i: int) -> str:
    return f"Write two sentences about document {i} of the overload benchmark."


async def oracle(url: str, slots: int, seconds: float) -> dict[str, float]:
    """Exactly ``slots`` requests in flight for ``seconds``: the service's capacity."""
    client = anthropic.AsyncAnthropic(api_key="bench", base_url=url, max_retries=0)
    ok = failed = 0
    counter = 0
    deadline = time.monotonic() + seconds
    first_start: float | None = None
    last_end = 0.0

    async def worker() -> None:
        nonlocal ok, failed, counter, first_start, last_end
        while time.monotonic() < deadline:
            counter += 1
            n = counter
            start = time.monotonic()
            first_start = start if first_start is None else min(first_start, start)
            try:
                await client.messages.create(
                    model=MODEL, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": f"oracle {n}"}]
                )
                ok += 1
            except anthropic.APIStatusError:
                failed += 1
            last_end = max(last_end, time.monotonic())

    await asyncio.gather(*(worker() for _ in range(slots)))
    await client.close()
    span = last_end - (first_start or last_end)
    return {"ok": ok, "failed": failed, "span_s": span, "rps": ok / span if span > 0 else 0.0}


async def runner(
    url: str, docs: int, concurrency: int, workdir: Path, *, adaptive: bool = True
) -> dict[str, Any]:
    inp, out = workdir / "docs.jsonl", workdir / "results.jsonl"
    inp.write_text("".join(json.dumps({"id": f"d{i}", "text": doc_text(i)}) + "\n" for i in range(docs)))
    sdk = anthropic.AsyncAnthropic(api_key="bench", base_url=url, max_retries=0)
    start = time.monotonic()
    summary = await run_file(
        inp,
        out,
        client=resilient_client(sdk),
        concurrency=concurrency,
        adaptive=adaptive,
        policy=RequeuePolicy(base_delay_s=0.25, max_delay_s=4.0, max_attempts=50),
        model=MODEL,
        max_tokens=MAX_TOKENS,
        show_progress=True,
    )
    elapsed = time.monotonic() - start
    await sdk.close()
    lines = out.read_text().splitlines()
    return {
        "docs": docs,
        "lines": len(lines),
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "attempts": summary.attempts_total,
        "statuses": summary.status_counts,
        "elapsed_s": elapsed,
        "goodput_rps": summary.succeeded / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--oracle-s", type=float, default=8.0, help="seconds of capacity measurement")
    parser.add_argument("--busy-s", type=float, default=18.0, help="seconds of work given to the runner")
    parser.add_argument(
        "--skip-fixed",
        action="store_true",
        help="skip the comparison run with the same concurrency held fixed (--no-adaptive)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="the runner's --concurrency (its ceiling)"
    )
    args = parser.parse_args(argv)
    if args.oracle_s + args.busy_s > 28:  # each phase restarts the scenario clock
        parser.error("--oracle-s + --busy-s must stay below 28 s (the scenario loses capacity at 30 s)")

    slots, idle_rps, saturated_rps = theoretical_capacity()
    print(f"scenario {SCENARIO}: {slots} slots; capacity {saturated_rps:.1f} req/s saturated "
          f"({idle_rps:.1f} idle), from the scenario file")  # fmt: skip
    with MockServer(scenario=SCENARIO, seed=0, journal_size=100_000) as server:
        cap = asyncio.run(oracle(server.url, slots, args.oracle_s))
        print(
            f"oracle ({slots} in flight, {cap['span_s']:.1f} s): {cap['rps']:.2f} req/s, "
            f"{int(cap['failed'])} errors  <- measured capacity"
        )
        server.reset()  # the scenario clock starts again; the runner's phase is also before 30 s
        docs = max(50, round(cap["rps"] * args.busy_s))
        with tempfile.TemporaryDirectory() as tmp:
            run = asyncio.run(runner(server.url, docs, args.concurrency, Path(tmp)))
        entries = [e.to_dict() for e in server.journal.entries()]
        fixed = None
        if not args.skip_fixed:
            server.reset()
            with tempfile.TemporaryDirectory() as tmp:
                fixed = asyncio.run(runner(server.url, docs, args.concurrency, Path(tmp), adaptive=False))
    sent = [e for e in entries if e["path"] == "/v1/messages"]
    span = max(e["end"] or e["start"] for e in sent) - min(e["start"] for e in sent)
    ok_journal = sum(1 for e in sent if e["status"] == 200)
    goodput_ratio = run["goodput_rps"] / cap["rps"]
    per_doc = run["attempts"] / docs
    print(
        f"runner (--concurrency {args.concurrency}, {docs} documents): {run['succeeded']} succeeded, "
        f"{run['failed']} failed, {run['lines']} result lines, statuses {json.dumps(run['statuses'])}"
    )
    print(
        f"  wall time {run['elapsed_s']:.2f} s; journal: {len(sent)} requests, {ok_journal} ok, {span:.2f} s"
    )
    print(f"  goodput {run['goodput_rps']:.2f} doc/s = {100 * goodput_ratio:.1f}% of measured capacity "
          f"(target >= 90%) {'OK' if goodput_ratio >= 0.9 else 'MISSED'}")  # fmt: skip
    print(f"  {100 * run['goodput_rps'] / saturated_rps:.1f}% of the scenario file's saturated capacity")
    print(f"  attempts per document {per_doc:.3f} (target <= 1.1) {'OK' if per_doc <= 1.1 else 'MISSED'}")
    if fixed is not None:
        fixed_ratio = fixed["goodput_rps"] / cap["rps"]
        print(
            f"same runner, concurrency held at {args.concurrency} (--no-adaptive), for comparison: "
            f"goodput {fixed['goodput_rps']:.2f} doc/s = {100 * fixed_ratio:.1f}% of capacity, "
            f"{fixed['attempts'] / docs:.3f} attempts per document, statuses {json.dumps(fixed['statuses'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
