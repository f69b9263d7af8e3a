"""Server RSS and fds after 10,000 requests vs after 1,000,000 (journal, memos, per-key state bounded).

    python -m benchmarks.memory [--total 1000000] [--connections 8] [--pipeline 64]
    python -m benchmarks.memory --scenario rate-limited --fresh-keys   # the per-key soak

Starts `python -m mockserver` (journal size 10,000, no latency) in its own process and drives it
over real HTTP/1.1 keep-alive connections from this process, pipelining requests on each
connection so that the client costs far less than the server. Bodies cycle through 5,000
distinct prompts and 50 API keys (so the response memo, the key-id cache and the journal all
fill and turn over); with ``--fresh-keys`` every request has an API key never seen before, so
that under ``--scenario rate-limited`` each one makes a new set of token buckets. Prints the
server's RSS (VmRSS from /proc) and open fds at checkpoints and the growth from 10,000 to the
total. Target: within 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def request_bytes(i: int, port: int, key: str | None = None) -> bytes:
    body = json.dumps(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": f"memory probe number {i % 5000}"}],
        }
    ).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key or f'key-{i % 50}'}\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        f"x-stainless-retry-count: 0\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Counter:
    def __init__(self) -> None:
        self.sent = 0
        self.done = 0
        self.bad = 0


Payload = Callable[[int], bytes]


async def connection(port: int, pipeline: int, total: int, counter: Counter, payload: Payload) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while counter.sent < total:
            n = min(pipeline, total - counter.sent)
            start = counter.sent
            counter.sent += n
            writer.write(b"".join(payload(start + k) for k in range(n)))
            for _ in range(n):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                counter.done += 1
                if status != 200:
                    counter.bad += 1
    finally:
        writer.close()


async def drive(port: int, connections: int, pipeline: int, total: int, payload: Payload) -> Counter:
    counter = Counter()
    await asyncio.gather(*(connection(port, pipeline, total, counter, payload) for _ in range(connections)))
    return counter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pipeline", type=int, default=64)
    parser.add_argument("--checkpoints", type=int, default=10, help="RSS readings between baseline and total")
    parser.add_argument("--scenario", default=None, help="scenario for the server (e.g. rate-limited)")
    parser.add_argument("--fresh-keys", action="store_true", help="a new API key on every request")
    args = parser.parse_args(argv)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", str(port), "--ttft", "0", "--tps", "0", "--quiet"]
        + (["--scenario", args.scenario] if args.scenario else []),
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        payloads = [request_bytes(i, port) for i in range(5000)]
        sent = [0]  # requests made so far, for the fresh keys

        def payload(i: int) -> bytes:
            if args.fresh_keys:
                sent[0] += 1
                return request_bytes(i, port, key=f"soak-{sent[0]}")
            return payloads[i % len(payloads)]

        print(f"server pid {server.pid}, RSS at start {rss_mb(server.pid):.1f} MB", flush=True)
        t0 = time.monotonic()
        first = asyncio.run(drive(port, args.connections, args.pipeline, args.baseline, payload))
        base, base_fds = rss_mb(server.pid), fd_count(server.pid)
        print(f"after {first.done:>9,} requests: RSS {base:7.1f} MB, {base_fds} fds", flush=True)
        done = first.done
        bad = first.bad
        step = max((args.total - args.baseline) // args.checkpoints, 1)
        while done < args.total:
            n = min(step, args.total - done)
            counter = asyncio.run(drive(port, args.connections, args.pipeline, n, payload))
            done += counter.done
            bad += counter.bad
            elapsed = time.monotonic() - t0
            rate = done / elapsed
            print(
                f"after {done:>9,} requests: RSS {rss_mb(server.pid):7.1f} MB, {fd_count(server.pid)} fds"
                f"   ({rate:,.0f} req/s)",
                flush=True,
            )
        final, final_fds = rss_mb(server.pid), fd_count(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print()
    print(f"RSS after {args.baseline:,}: {base:.1f} MB; after {done:,}: {final:.1f} MB")
    print(f"fds after {args.baseline:,}: {base_fds}; after {done:,}: {final_fds}")
    print(f"growth: {final - base:+.1f} MB (target: within 50 MB); non-200 answers: {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
