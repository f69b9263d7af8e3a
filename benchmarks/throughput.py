"""Throughput of the mock vs a bare aiohttp handler, measured in one run.

    python -m benchmarks.throughput [--rounds 5] [--seconds 3] [--connections 32] [--clients 1]
                                    [--scenario NAME] [--distinct-bodies N] [--instructions N]
                                    [--breakdown]

Starts two server processes on 127.0.0.1: the mock (journal on, auth on, single process) and a
bare aiohttp app whose only handler returns the mock's own response body, precomputed. The load
generator (a raw keep-alive HTTP/1.1 client, one request in flight per connection, in this
process or in --clients processes) posts the same non-streaming /v1/messages body to each in
turn, alternating rounds, and prints for both servers the medians over the rounds of requests/s,
server CPU time per request (read from /proc), how busy the server was and the client's own CPU
per request, then the ratios. With --scenario every answer counts (a scenario's 529 is a correct
answer) and the split by status is printed; without one only 200s count.

``--breakdown`` adds a third server to the same run (and to ``--instructions``): a handler that
does only the bookkeeping every request costs the mock before any work of its own (journal entry
opened and closed, metrics recorded, the mock's response headers) and returns the same
precomputed body. Its ratio to the bare handler is how much of the gap that bookkeeping takes.

On a shared machine req/s and CPU time move with other load by several per cent. For comparing
two versions of the server, ``--instructions N`` runs each server under valgrind's callgrind and
prints the instructions it executes per request (N sequential requests after ``--warm``
requests), and their ratio: a deterministic count, user space only (system calls not included).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


def serve_journal(port: int, body: bytes) -> None:
    """The bare handler plus the bookkeeping every request costs the mock (``--breakdown``)."""
    from aiohttp import web

    from mockserver import ServerConfig
    from mockserver.faults import build_engine
    from mockserver.web.state import MockState
    from mockserver.wire.paths import MESSAGES

    config = ServerConfig()
    state = MockState(config, build_engine(None, seed=config.seed), None)

    async def handler(request: web.Request) -> web.Response:
        entry, _key = state.open(request, "POST", MESSAGES)
        try:
            headers = state.json_headers.copy()
            headers["request-id"] = entry.request_id
            entry.status = 200
            resp = web.Response(body=body, headers=headers)
            await resp.prepare(request)
            await resp.write_eof()
            entry.bytes_sent = len(body)
            return resp
        finally:
            state.close(entry, "messages")

    app = web.Application()
    app.router.add_post(MESSAGES, handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start_server(
    kind: str, port: int, extra: list[str], wrapper: list[str] | None = None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--serve", kind, "--port", str(port), *extra]
    proc = subprocess.Popen([*(wrapper or []), *cmd])
    deadline = time.monotonic() + (300 if wrapper else 20)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start on port {port}")


# ---- instructions per request (callgrind): a count that other load on the machine cannot change


def _parse_head(head: bytes) -> tuple[int, int]:
    """The status and Content-Length of a response head (the bytes before its blank line)."""
    low = head.lower()
    at = low.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without content-length: {head[:200]!r}")
    line_end = low.find(b"\r\n", at + 2)
    return int(low[9:12]), int(low[at + 17 : line_end if line_end > 0 else len(low)])


def _drive(port: int, request: bytes, n: int) -> dict[int, int]:
    """Send ``request`` ``n`` times, one after another on one keep-alive connection."""
    statuses: dict[int, int] = {}
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buf = b""
        for _ in range(n):
            sock.sendall(request)
            while (end := buf.find(b"\r\n\r\n")) < 0:
                buf += sock.recv(65536)
            status, length = _parse_head(buf[:end])
            need = end + 4 + length
            while len(buf) < need:
                buf += sock.recv(65536)
            statuses[status] = statuses.get(status, 0) + 1
            buf = buf[need:]
    return statuses


def count_instructions(pid: int, out_file: str, port: int, request: bytes, warm: int, n: int) -> float:
    """Instructions the server (running under callgrind) executes per request, after ``warm``."""
    _drive(port, request, warm)
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
    _drive(port, request, n)
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dumps = [
            f for f in os.listdir(os.path.dirname(out_file)) if f.startswith(os.path.basename(out_file) + ".")
        ]
        for name in dumps:
            with open(os.path.join(os.path.dirname(out_file), name)) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        return int(line.split()[1]) / n
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no dump for pid {pid}")


def instructions_main(args: argparse.Namespace, body: bytes) -> int:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("--instructions needs valgrind (callgrind_control) on PATH", file=sys.stderr)
        return 2
    extra = ["--scenario", args.scenario] if args.scenario else []
    tmp = tempfile.mkdtemp(prefix="busysignal-cg-")
    body_path = os.path.join(tmp, "body.json")
    procs: list[subprocess.Popen[bytes]] = []
    per_request: dict[str, float] = {}
    try:
        for kind in ("mock", "bare", *(["journal"] if args.breakdown else [])):
            port = free_port()
            out_file = os.path.join(tmp, f"{kind}.cg")
            wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
            more = extra if kind == "mock" else ["--body-file", body_path]
            proc = start_server(kind, port, more, wrapper)
            procs.append(proc)
            request = request_bytes(port, body)
            if kind == "mock":
                with open(body_path, "wb") as out:  # the bare server answers with the mock's body
                    out.write(_sample(port, request))
            per_request[kind] = count_instructions(
                proc.pid, out_file, port, request, args.warm, args.instructions
            )
            print(f"{kind}: {per_request[kind]:,.0f} instructions/request", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ratio bare/mock instructions/request: {per_request['bare'] / per_request['mock']:.3f} x")
    if "journal" in per_request:
        print(
            f"ratio bare/journal instructions/request: {per_request['bare'] / per_request['journal']:.3f} x"
        )
    return 0


def _sample(port: int, request: bytes) -> bytes:
    """One 200 body of the mock (a loaded scenario may refuse a few first)."""
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            data = b""
            while (chunk := sock.recv(65536)) and b"\r\n\r\n" not in data + chunk:
                data += chunk
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status, length = _parse_head(head)
            while len(rest) < length:
                rest += sock.recv(65536)
            if status == 200:
                return rest[:length]
    raise RuntimeError("the mock answered no 200 to the sample request")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


# ---- the load generator -----------------------------------------------------------------
#
# A raw HTTP/1.1 client on asyncio protocols: each connection keeps exactly one request in flight
# (keep-alive, no pipelining) and a response is parsed only as far as its status and length, so a
# request costs the client a fraction of what it costs either server. The aiohttp client this
# replaced spent more CPU per request than the bare server and was the bottleneck.


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0  # connections that closed or reset with a request in flight
    cpu_s: float = 0.0  # the load generator's own CPU time during the load

    def add(self, other: Tally) -> None:
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.dropped += other.dropped
        self.cpu_s += other.cpu_s


class _Connection(asyncio.Protocol):
    def __init__(self, requests: list[bytes], first: int, step: int, stop_at: float, tally: Tally) -> None:
        self.requests = requests
        self.i = first
        self.step = step
        self.stop_at = stop_at
        self.tally = tally
        self.buf = b""
        self.need = -1  # bytes of the current response (head + body) once its head is parsed
        self.status = 0
        self.in_flight = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.stop_at:
            self.transport.close()
            return
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += self.step
        self.in_flight = True

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                self.status, length = _parse_head(self.buf[:head_end])
                self.need = head_end + 4 + length
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = -1
            statuses = self.tally.statuses
            statuses[self.status] = statuses.get(self.status, 0) + 1
            self.in_flight = False
            self._send()
            if not self.in_flight:
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.tally.dropped += 1
        self.in_flight = False
        if not self.closed.done():
            self.closed.set_result(None)


async def _load(port: int, requests: list[bytes], connections: int, seconds: float) -> Tally:
    cpu0 = time.process_time()
    loop = asyncio.get_running_loop()
    stop_at = time.monotonic() + seconds
    tally = Tally()

    async def connection(first: int) -> None:
        while time.monotonic() < stop_at:  # reconnect after a connection fault of a loaded scenario
            try:
                _, proto = await loop.create_connection(
                    functools.partial(_Connection, requests, first, connections, stop_at, tally),
                    "127.0.0.1",
                    port,
                )
            except OSError:
                tally.dropped += 1
                await asyncio.sleep(0.01)
                continue
            try:
                await asyncio.wait_for(asyncio.shield(proto.closed), max(stop_at - time.monotonic(), 0) + 1.0)
            except asyncio.TimeoutError:  # a hanging request: abandon it when the round ends
                assert proto.transport is not None
                proto.transport.abort()
                await proto.closed
            first = proto.i

    await asyncio.gather(*(connection(c) for c in range(connections)))
    tally.cpu_s = time.process_time() - cpu0
    return tally


def _load_process(
    port: int, requests: list[bytes], connections: int, seconds: float, go: Any, out: Any
) -> None:
    go.wait()  # all processes are up (interpreter start-up is not part of the measurement)
    out.put(asyncio.run(_load(port, requests, connections, seconds)))


def run_load(
    port: int,
    requests: list[bytes],
    connections: int,
    seconds: float,
    clients: int,
    on_go: Callable[[], None] = lambda: None,
) -> Tally:
    """Load ``port`` for ``seconds`` from ``clients`` processes; ``on_go`` runs as the load starts."""
    if clients <= 1:
        on_go()
        return asyncio.run(_load(port, requests, connections, seconds))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    go = ctx.Barrier(clients + 1)
    args = (port, requests, max(1, connections // clients), seconds, go, queue)
    procs = [ctx.Process(target=_load_process, args=args) for _ in range(clients)]
    for p in procs:
        p.start()
    go.wait()
    on_go()
    total = Tally()
    for _ in procs:
        total.add(queue.get())
    for p in procs:
        p.join()
    return total


def request_bytes(port: int, body: bytes) -> bytes:
    head = f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


@dataclass
class Round:
    rps: float  # answers counted as throughput per second
    cpu_us_per_req: float  # server CPU per counted answer
    server_busy: float  # server CPU seconds per wall second (about 1.0: the server is the bottleneck)
    client_us_per_req: float  # load-generator CPU per counted answer (this process and its children)
    tally: Tally


def measure(
    port: int, pid: int, bodies: list[bytes], connections: int, seconds: float, clients: int, count_all: bool
) -> Round:
    requests = [request_bytes(port, b) for b in bodies]
    start: list[float] = []

    def on_go() -> None:
        start[:] = [cpu_seconds(pid), time.monotonic()]

    tally = run_load(port, requests, connections, seconds, clients, on_go)
    elapsed = time.monotonic() - start[1]
    cpu = cpu_seconds(pid) - start[0]
    counted = sum(tally.statuses.values()) if count_all else tally.statuses.get(200, 0)
    n = max(counted, 1)
    return Round(counted / elapsed, cpu / n * 1e6, cpu / elapsed, tally.cpu_s / n * 1e6, tally)


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
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="instead of req/s: run each server under valgrind's callgrind and count the instructions"
        " it executes per request over N sequential requests (a figure other load cannot move)",
    )
    parser.add_argument("--warm", type=int, default=4000, help="warm-up requests before --instructions")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure a handler doing only the bookkeeping every request costs the mock"
        " (journal, metrics, response headers) around the precomputed body",
    )
    parser.add_argument("--serve", choices=["mock", "bare", "journal"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--body-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve == "mock":
        serve_mock(args.port, args.scenario, args.distinct_bodies > 0)
        return 0
    if args.serve in ("bare", "journal"):
        with open(args.body_file, "rb") as f:
            (serve_bare if args.serve == "bare" else serve_journal)(args.port, f.read())
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
    if args.instructions:
        if args.distinct_bodies:
            parser.error("--instructions measures one repeated body; drop --distinct-bodies")
        return instructions_main(args, bodies[0])
    extra = ["--scenario", args.scenario] if args.scenario else []
    if args.distinct_bodies:
        extra += ["--distinct-bodies", str(args.distinct_bodies)]
    mock_port = free_port()
    procs = {"mock": start_server("mock", mock_port, extra)}
    names = ["mock", "bare", *(["journal"] if args.breakdown else [])]
    body_path = f"/tmp/busysignal-bench-body-{os.getpid()}.json"
    try:
        # the bare servers answer with the mock's own body (a loaded scenario may refuse a few)
        sample = _sample(mock_port, request_bytes(mock_port, bodies[0]))
        with open(body_path, "wb") as out:
            out.write(sample)
        targets = {"mock": (mock_port, procs["mock"].pid)}
        for name in names[1:]:
            port = free_port()
            procs[name] = start_server(name, port, ["--body-file", body_path])
            targets[name] = (port, procs[name].pid)
        count_all = args.scenario is not None
        run = (args.connections, args.seconds, args.clients, count_all)
        # warm-up, then rotate the order so drift in machine load hits all alike
        for port, pid in targets.values():
            measure(port, pid, bodies, args.connections, 0.5, args.clients, count_all)
        results: dict[str, list[Round]] = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]  # each one first in turn
            for name in order:
                port, pid = targets[name]
                results[name].append(measure(port, pid, bodies, *run))
            line = "   ".join(
                f"{name} {results[name][-1].rps:7.0f} req/s {results[name][-1].cpu_us_per_req:5.1f} us/req"
                for name in names
            )
            m, b = results["mock"][-1], results["bare"][-1]
            print(f"round {r + 1}/{args.rounds}: {line}   mock/bare {m.rps / b.rps:4.2f}", flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=10)
        if os.path.exists(body_path):
            os.remove(body_path)

    def med(name: str, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in results[name])

    print()
    print(
        f"response body: {len(sample)} bytes; {args.connections} connections;"
        f" {args.clients} client process(es)"
    )
    if args.distinct_bodies:
        print(f"{args.distinct_bodies} distinct bodies, response memo off")
    if args.scenario:
        print(f"scenario: {args.scenario}: every answer counts (a 529 is a correct answer here); dropped")
        print("  connections do not. Server CPU per request is per answer.")
    print(
        "medians of", args.rounds, "rounds:       req/s   server CPU us/req   server busy   client CPU us/req"
    )
    labels = {"mock": "mock (journal on)", "bare": "bare aiohttp", "journal": "bookkeeping only"}
    for name in names:
        label = labels[name]
        print(
            f"  {label:<18} {med(name, 'rps'):9.0f}   {med(name, 'cpu_us_per_req'):17.1f}"
            f"   {med(name, 'server_busy'):10.0%}   {med(name, 'client_us_per_req'):17.1f}"
        )
    rps_ratio = statistics.median(
        m.rps / b.rps for m, b in zip(results["mock"], results["bare"], strict=True)
    )
    cpu_ratio = statistics.median(
        b.cpu_us_per_req / m.cpu_us_per_req for m, b in zip(results["mock"], results["bare"], strict=True)
    )
    print(
        f"ratio mock/bare req/s          : {rps_ratio:5.2f} x"
        " (median of per-round ratios; compare versions by --instructions, measured in one session)"
    )
    print(f"ratio bare/mock server CPU/req : {cpu_ratio:5.2f} x (server capacity ratio, client-independent)")
    if args.breakdown:
        journal_ratio = statistics.median(
            j.rps / b.rps for j, b in zip(results["journal"], results["bare"], strict=True)
        )
        print(
            f"ratio bookkeeping-only/bare req/s: {journal_ratio:5.2f} x (journal, metrics and headers alone;"
            " the rest of the gap is the mock's own work)"
        )
    busy = min(med(name, "server_busy") for name in names)
    if busy < 0.85:
        print(
            f"note: a server was busy only {busy:.0%} of the time: the machine (shared cores) or the load"
            " generator limited it; trust the CPU ratio over the req/s ratio"
        )
    for name in names:
        total = Tally()
        for one in results[name]:
            total.add(one.tally)
        split = ", ".join(f"{status}: {n}" for status, n in sorted(total.statuses.items()))
        dropped = f", dropped connections: {total.dropped}" if total.dropped else ""
        print(f"answers by status, {name}: {split}{dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
