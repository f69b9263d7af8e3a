"""Hostile peers on loopback: /_busysignal/health keeps answering within 1 s throughout.

The server runs as ``python -m mockserver`` in a subprocess whose RLIMIT_NOFILE is 256 (soft and
hard, so ``serve`` cannot raise it). A prober thread asks /health again and again while an attack
runs; each probe may take three tries of 1 s each (a saturated CI machine can miss one), and the
judgement is that no probe needed more, that probes ran all through the attack, and that the
server neither printed a traceback nor logged out-of-fds more than once plus its per-minute count.
"""

from __future__ import annotations

import http.client
import os
import resource
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

FD_LIMIT = 256
PROBE_S = 1.0  # the bound for one answer
TRIES = 3
KEY = "sk-ant-abuse-test"


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)


@contextmanager
def server() -> Iterator[Server]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "mockserver", "--port", "0", "--quiet", "--ttft", "0", "--tps", "0"]
    cmd += ["--header-timeout", "1", "--body-timeout", "1"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=_low_fd_limit
    )
    assert proc.stdout is not None
    lines: list[str] = []
    port = 0
    for line in proc.stdout:  # the banner names the port; bounded by the process exiting
        lines.append(line)
        if "listening on http://127.0.0.1:" in line:
            port = int(line.rsplit(":", 1)[1])
            break
    assert port, "".join(lines)
    srv = Server(proc, port, lines)
    reader = threading.Thread(target=lambda: srv.lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        yield srv
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Prober:
    """Asks /health in a loop until stopped; records how many tries each probe needed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tries: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _probe(self) -> int:
        for attempt in range(1, TRIES + 1):
            try:
                status, body = request(self.port, "GET", "/_busysignal/health", timeout=PROBE_S)
                if status == 200 and b'"ok"' in body:
                    return attempt
            except OSError:
                pass
        return TRIES + 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tries.append(self._probe())

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def judge(self) -> None:
        assert len(self.tries) >= 2, "the prober did not run through the attack"
        failed = sum(t > TRIES for t in self.tries)
        assert not failed, f"{failed} of {len(self.tries)} /health probes failed {TRIES} tries of {PROBE_S} s"


def under_attack(srv: Server, attack: Callable[[], None]) -> None:
    with Prober(srv.port) as prober:
        prober.tries.append(prober._probe())  # one answered before the attack starts
        attack()
        prober.tries.append(prober._probe())  # and one after
    prober.judge()


def slowloris(srv: Server) -> None:
    """More half-sent requests than the server has fds, held until the server drops them."""
    socks: list[socket.socket] = []
    try:
        for _ in range(FD_LIMIT + 150):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ")
            socks.append(s)
        closed = 0
        for s in socks:  # each is closed by the server (header timeout), none waits forever
            try:
                closed += s.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
        assert closed == len(socks)
    finally:
        for s in socks:
            s.close()


def gzip_bomb(srv: Server) -> None:
    """A ~200 KB gzip body that inflates to 256 MB of zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    body = b"".join(comp.compress(zeros) for _ in range(256)) + comp.flush()
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    status, _ = request(srv.port, "POST", "/v1/messages", body, {**headers, "content-encoding": "gzip"})
    assert status in (400, 413)


def billion_laughs(srv: Server) -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    text = "\n".join(["name: laughs", "description: d", *rows, "rules: []"]).encode()
    status, body = request(
        srv.port, "PUT", "/_busysignal/scenario", text, {"content-type": "application/yaml"}
    )
    assert status == 400 and (b"alias" in body.lower() or b"anchor" in body.lower())


def path_put(srv: Server) -> None:
    for body in (b"/etc/passwd", b'{"name": "/etc/passwd"}'):
        status, answer = request(
            srv.port, "PUT", "/_busysignal/scenario", body, {"content-type": "text/plain"}
        )
        assert status == 400 and b"root:" not in answer


ATTACKS: dict[str, Callable[[Server], None]] = {
    "slowloris": slowloris,
    "gzip-bomb": gzip_bomb,
    "billion-laughs": billion_laughs,
    "path-put": path_put,
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_health_keeps_answering_under_attack(name: str) -> None:
    with server() as srv:
        under_attack(srv, lambda: ATTACKS[name](srv))
        assert srv.proc.poll() is None, "the server died"
    output = "".join(srv.lines)
    assert "Traceback" not in output
    assert output.count("out of file descriptors") <= 2  # the first, and at most one count line
