"""The control plane under hostile input: no file read through PUT /_busysignal/scenario, a capped
body, a Host check against DNS rebinding, scenario loading off the event loop, and 4xx (never 500)
for non-finite retry hints in a scenario or in the override header."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.web import control_guard
from mockserver.web.control_guard import host_allowed, split_host
from scenarios.yamlsource import MAX_SCENARIO_BYTES

API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
LAUGHS = (
    "name: x\ndescription: d\n"
    + 'a0: &a0 "lol"\n'
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
)


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def put(server: MockServer, body: str | bytes, **headers: str) -> httpx2.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx2.put(f"{server.url}/_busysignal/scenario", content=content, headers=headers, timeout=30)


def error_of(r: httpx2.Response) -> dict[str, Any]:
    data = r.json()
    assert data["type"] == "error" and set(data["error"]) == {"type", "message"}, data
    error: dict[str, Any] = data["error"]
    return error


def test_a_path_in_the_body_is_never_read_nor_echoed(server: MockServer, tmp_path: Path) -> None:
    secret = tmp_path / "creds.yaml"
    secret.write_text("secret-token: hunter2\nroot: x\n", encoding="utf-8")
    for body in (
        str(secret),
        f'{{"name": "{secret}"}}',
        f"name: {secret}\n",
        "/dev/zero",
        "../scenarios/steady",
    ):
        r = put(server, body)
        assert r.status_code == 400, (body, r.text)
        error = error_of(r)
        assert error["type"] == "invalid_request_error"
        assert "hunter2" not in error["message"] and "secret-token" not in error["message"], error
    assert "file paths are not accepted" in error_of(put(server, str(secret)))["message"]
    assert httpx2.get(f"{server.url}/_busysignal/scenario").json()["name"] == "steady"  # left alone


def test_a_fifo_named_in_the_body_does_not_block_the_server(server: MockServer, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert put(server, str(fifo)).status_code == 400
    assert httpx2.get(f"{server.url}/_busysignal/health", timeout=10).status_code == 200


def test_a_body_over_the_cap_is_a_413_naming_the_limit(server: MockServer) -> None:
    r = put(server, "name: x\ndescription: d\n# " + "x" * MAX_SCENARIO_BYTES)
    assert r.status_code == 413, r.text
    error = error_of(r)
    assert error["type"] == "request_too_large" and "1024 KiB" in error["message"]
    assert "scenarios/README.md" in error["message"]
    many = "name: many\ndescription: d\nrules:\n" + "".join(
        f"  - {{id: r{i}, fault: 529}}\n" for i in range(1001)
    )
    assert "more than the 1000 allowed" in error_of(put(server, many))["message"]


def test_a_chunked_body_is_cut_off_at_the_cap(server: MockServer) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield b"name: x\ndescription: d\n# "
        for _ in range(64):
            yield b"x" * (64 * 1024)

    r = httpx2.put(f"{server.url}/_busysignal/scenario", content=chunks(), timeout=30)
    assert r.status_code == 413 and error_of(r)["type"] == "request_too_large"


def test_a_billion_laughs_put_is_refused_promptly_and_health_answers(server: MockServer) -> None:
    r = put(server, LAUGHS)
    assert r.status_code == 400
    assert "<request body>:3:5: a0: YAML anchors and aliases" in error_of(r)["message"]
    assert httpx2.get(f"{server.url}/_busysignal/health", timeout=10).status_code == 200


def test_the_scenario_is_built_off_the_loop(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    real = control_guard.scenario_from_body

    def slow(text: str, seed: int) -> Any:  # holds the load until health has answered
        entered.set()
        assert release.wait(30)
        return real(text, seed)

    monkeypatch.setattr(control_guard, "scenario_from_body", slow)
    answers: list[int] = []
    putter = threading.Thread(target=lambda: answers.append(put(server, '{"name": "flaky-5xx"}').status_code))
    putter.start()
    try:
        assert entered.wait(30)
        assert httpx2.get(f"{server.url}/_busysignal/health", timeout=10).status_code == 200
    finally:
        release.set()
        putter.join(30)
    assert answers == [200]
    assert httpx2.get(f"{server.url}/_busysignal/scenario").json()["name"] == "flaky-5xx"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[1, 2, 3]", "<request body>:1:1: a scenario must be a mapping"),
        ('{"a": ' + "[" * 3000 + "]" * 3000 + "}", "<request body>:1:"),
        ("name: x\ndescription: a\x00b\n", "<request body>:2:15: description: control character U+0000"),
        (
            "name: x\ndescription: d\nrules:\n  - fault: {error: {status: 529, retry_after_s: .inf}}\n",
            "<request body>:4:34: rules[0].fault.error.retry_after_s: Input should be a finite number",
        ),
        ('{"name": 5}', "name: must be a string"),
    ],
)
def test_bad_scenario_text_is_a_400_naming_line_and_field(
    server: MockServer, body: str, fragment: str
) -> None:
    r = put(server, body)
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["type"] == "invalid_request_error" and fragment in error["message"], error


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e300", "1e999"])
@pytest.mark.parametrize("param", ["retry-after", "retry-after-ms"])
def test_a_non_finite_or_huge_retry_hint_in_the_override_header_is_a_400(
    server: MockServer, param: str, value: str
) -> None:
    r = httpx2.post(
        f"{server.url}/v1/messages", json=BODY, headers={**API, "x-busysignal-fault": f"529;{param}={value}"}
    )
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"x-busysignal-fault: {param}: "), error


def test_split_host_and_host_allowed() -> None:
    assert split_host("LocalHost.:8787") == "localhost"
    assert split_host("[::1]:80") == "::1" and split_host("127.0.0.9") == "127.0.0.9"
    for host in ("localhost", "localhost:1", "app.localhost", "127.0.0.1:9", "127.1.2.3", "[::1]:8787", None):
        assert host_allowed(host, configured=set()), host
    for host in ("evil.example", "evil.example:8787", "127.0.0.1.evil.example", "10.0.0.1", "", "[::2]"):
        assert not host_allowed(host, configured=set()), host
    assert host_allowed("mock:8787", configured={"mock"})


def test_the_control_plane_refuses_a_foreign_host_but_the_api_does_not(server: MockServer) -> None:
    for path in ("/_busysignal/health", "/_busysignal/journal", "/metrics"):
        r = httpx2.get(f"{server.url}{path}", headers={"Host": "rebind.attacker.example"})
        assert r.status_code == 403, (path, r.text)
        error = error_of(r)
        assert error["type"] == "permission_error" and "DNS rebinding" in error["message"]
    r = httpx2.put(
        f"{server.url}/_busysignal/scenario",
        json={"name": "major-outage"},
        headers={"Host": "evil.example:80"},
    )
    assert r.status_code == 403
    assert httpx2.get(f"{server.url}/_busysignal/scenario").json()["name"] == "steady"
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "localhost"):
        assert httpx2.get(f"{server.url}/_busysignal/health", headers={"Host": host}).status_code == 200
    api = httpx2.post(f"{server.url}/v1/messages", json=BODY, headers={**API, "Host": "mock:8787"})
    assert api.status_code == 200  # SDKs in containers use service names: /v1 is not checked


def test_a_configured_host_and_a_valid_token_pass_the_host_check() -> None:
    with MockServer(public_url="http://mock.internal:8787") as srv:
        assert (
            httpx2.get(f"{srv.url}/_busysignal/health", headers={"Host": "mock.internal:8787"}).status_code
            == 200
        )
        assert (
            httpx2.get(f"{srv.url}/_busysignal/health", headers={"Host": "other.internal"}).status_code == 403
        )
    with MockServer(control_token="s3cret") as srv:
        headers = {"Host": "mock:8787", "x-busysignal-token": "s3cret"}
        assert httpx2.get(f"{srv.url}/_busysignal/health", headers=headers).status_code == 200
        no_token = httpx2.get(f"{srv.url}/_busysignal/health", headers={"Host": "mock:8787"})
        assert no_token.status_code == 401


def test_a_hostile_scenario_put_neither_freezes_the_server_nor_blocks_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("busysignal mock listening on http://127.0.0.1:"), first
        port = int(first.rsplit(":", 1)[1])
        body = LAUGHS.encode()
        request = (
            f"PUT /_busysignal/scenario HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request)
            head = sock.recv(64)  # before: no answer, the loop froze in the load
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert head.startswith(b"HTTP/1.1 400"), head
    assert proc.returncode == 0 and "shutting down" in out and "Traceback" not in err, err
