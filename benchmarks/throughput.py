"""Throughput of the mock vs a bare aiohttp handler, measured in one run.

    python -m benchmarks.throughput [--rounds 5] [--seconds 3] [--connections 32] [--scenario NAME]

Starts two server processes on 127.0.0.1: the mock (journal on, auth on, single process) and a
bare aiohttp app whose only handler returns the mock's own response body, precomputed. The load
generator (this process: an aiohttp client with N concurrent connections, optionally several
processes with --clients) posts the same non-streaming /v1/messages body to each in turn,
alternating rounds, and prints requests/s for both, the ratio, and the server CPU time per
request (read from /proc, so it does not depend on whether the client saturates first).
Figures are medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Give me a short status update on the busy signal."}],
}
HEADERS = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the two servers (each runs in its own process) -------------------------------------


def serve_mock(port: int, scenario: str | None, distinct: bool) -> None:
    from aiohttp import web

    from mockserver import ServerConfig, create_app

    config = ServerConfig(response_cache_size=0 if distinct else 512)
    web.run_app(
        create_app(config, scenario=scenario), host="127.0.0.1", port=port, access_log=None, print=None
    )


def serve_bare(port: int, body: bytes) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start_server(kind: str, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--serve", kind, "--port", str(port), *extra]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start on port {port}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


# ---- the load generator -----------------------------------------------------------------


async def _load(url: str, bodies: list[bytes], connections: int, seconds: float) -> tuple[int, int]:
    import aiohttp

    done = 0
    bad = 0
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(w: int) -> None:
            nonlocal done, bad
            i = w
            while time.monotonic() < stop_at:
                body = bodies[i % len(bodies)]
                i += connections
                try:
                    async with session.post(url, data=body, headers=HEADERS) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False  # connection faults of a loaded scenario
                if ok:
                    done += 1
                else:
                    bad += 1

        await asyncio.gather(*(worker(w) for w in range(connections)))
    return done, bad


def _load_process(url: str, bodies: list[bytes], connections: int, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_load(url, bodies, connections, seconds)))


def run_load(
    url: str, bodies: list[bytes], connections: int, seconds: float, clients: int
) -> tuple[int, int]:
    if clients <= 1:
        return asyncio.run(_load(url, bodies, connections, seconds))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_load_process, args=(url, bodies, max(1, connections // clients), seconds, queue))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


@dataclass
class Round:
    rps: float
    cpu_us_per_req: float
    errors: int


def measure(url: str, pid: int, bodies: list[bytes], connections: int, seconds: float, clients: int) -> Round:
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    done, bad = run_load(url, bodies, connections, seconds, clients)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    return Round(done / elapsed, cpu / max(done, 1) * 1e6, bad)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--scenario", default=None, help="scenario loaded into the mock")
    parser.add_argument(
        "--distinct-bodies",
        type=int,
        default=0,
        help="send N different bodies and turn the mock's response memo off (measures the uncached path)",
    )
    parser.add_argument("--serve", choices=["mock", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--body-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve == "mock":
        serve_mock(args.port, args.scenario, args.distinct_bodies > 0)
        return 0
    if args.serve == "bare":
        with open(args.body_file, "rb") as f:
            serve_bare(args.port, f.read())
        return 0

    n = max(args.distinct_bodies, 1)
    bodies = [
        json.dumps(
            {**BODY, "messages": [{"role": "user", "content": f"{BODY['messages'][0]['content']} #{i}"}]}
        ).encode()
        if args.distinct_bodies
        else json.dumps(BODY).encode()
        for i in range(n)
    ]
    extra = ["--scenario", args.scenario] if args.scenario else []
    if args.distinct_bodies:
        extra += ["--distinct-bodies", str(args.distinct_bodies)]
    mock_port, bare_port = free_port(), free_port()
    mock = start_server("mock", mock_port, extra)
    bare: subprocess.Popen[bytes] | None = None
    body_path = f"/tmp/busysignal-bench-body-{os.getpid()}.json"
    try:
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{mock_port}/v1/messages", data=bodies[0], headers=HEADERS, method="POST"
        )
        with urllib.request.urlopen(req) as resp:
            sample = resp.read()
        with open(body_path, "wb") as f:
            f.write(sample)
        bare = start_server("bare", bare_port, ["--body-file", body_path])
        targets = {
            "mock": (f"http://127.0.0.1:{mock_port}/v1/messages", mock.pid),
            "bare": (f"http://127.0.0.1:{bare_port}/v1/messages", bare.pid),
        }
        # warm-up, then alternate so drift in machine load hits both alike
        for url, pid in targets.values():
            measure(url, pid, bodies, args.connections, 0.5, args.clients)
        results: dict[str, list[Round]] = {"mock": [], "bare": []}
        for r in range(args.rounds):
            order = ["mock", "bare"] if r % 2 == 0 else ["bare", "mock"]
            for name in order:
                url, pid = targets[name]
                results[name].append(measure(url, pid, bodies, args.connections, args.seconds, args.clients))
            print(
                f"round {r + 1}/{args.rounds}: mock {results['mock'][-1].rps:8.0f} req/s   "
                f"bare {results['bare'][-1].rps:8.0f} req/s",
                flush=True,
            )
    finally:
        for proc in (mock, bare):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
        if os.path.exists(body_path):
            os.remove(body_path)

    mock_rps = statistics.median(r.rps for r in results["mock"])
    bare_rps = statistics.median(r.rps for r in results["bare"])
    mock_cpu = statistics.median(r.cpu_us_per_req for r in results["mock"])
    bare_cpu = statistics.median(r.cpu_us_per_req for r in results["bare"])
    errors = sum(r.errors for rs in results.values() for r in rs)
    print()
    setup = f"{args.connections} connections; {args.clients} client process(es)"
    print(f"response body: {len(sample)} bytes; {setup}")
    if args.scenario:
        print(
            f"scenario: {args.scenario} (non-200 answers and dropped connections are errors, not throughput;"
        )
        print("  server CPU per request is per 200 answer)")
    if args.distinct_bodies:
        print(f"{args.distinct_bodies} distinct bodies, response memo off")
    print(f"mock (journal on)  : {mock_rps:9.0f} req/s   server CPU {mock_cpu:7.1f} us/req")
    print(f"bare aiohttp       : {bare_rps:9.0f} req/s   server CPU {bare_cpu:7.1f} us/req")
    print(f"ratio mock/bare    : {mock_rps / bare_rps:9.2f} x (target >= 0.85)")
    print(f"CPU ratio bare/mock: {bare_cpu / mock_cpu:9.2f} x (server capacity ratio, client-independent)")
    if errors:
        print(f"non-200 answers: {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
