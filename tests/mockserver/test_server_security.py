"""Security of the mock's own surfaces: the override header's peer gate (Message Batches too), the
control token's hygiene, salted API key ids, and HEAD on every GET route."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tests.support import TEST_KEY, user

from mockserver import AsyncMockServer, MockServer
from mockserver.control_token import (
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    ControlTokenError,
    resolve_token,
    token_for_serve_args,
)
from mockserver.web.state import is_loopback

MODEL = "claude-haiku-4-5"
API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
OVERRIDE = {"x-busysignal-fault": "529"}
FAR_PEER = "203.0.113.7"  # TEST-NET-3: never a loopback address


def _as_peer(remote: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware that makes every request look as if it came from ``remote``."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        return await handler(request.clone(remote=remote))

    return middleware


def _batch_body() -> dict[str, Any]:
    params = {"model": MODEL, "max_tokens": 5, "messages": user("hi")}
    return {"requests": [{"custom_id": "a", "params": params}]}


async def _batch_result(server: AsyncMockServer, headers: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/v1/messages/batches", json=_batch_body(), headers=headers) as r:
            assert r.status == 200, await r.text()
            batch = await r.json()
        assert batch["processing_status"] == "ended"  # the test config's batches end at once
        async with http.get(f"{server.url}/v1/messages/batches/{batch['id']}/results", headers=API) as r:
            assert r.status == 200, await r.text()
            lines = (await r.text()).splitlines()
    assert len(lines) == 1
    result: dict[str, Any] = json.loads(lines[0])["result"]
    return result


# ---------------------------------------------------------------- override header: the peer gate


def test_an_unknown_peer_is_not_loopback() -> None:
    assert is_loopback(None) is False
    assert is_loopback(FAR_PEER) is False
    assert is_loopback("127.0.0.1") and is_loopback("::1")


async def test_a_batch_from_a_far_peer_ignores_the_override_header() -> None:
    server = AsyncMockServer()
    server.app.middlewares.insert(0, _as_peer(FAR_PEER))
    async with server:
        result = await _batch_result(server, {**API, **OVERRIDE})
        async with aiohttp.ClientSession() as http:  # the Messages route, for comparison
            body = {"model": MODEL, "max_tokens": 5, "messages": user("hi")}
            async with http.post(f"{server.url}/v1/messages", json=body, headers={**API, **OVERRIDE}) as r:
                assert r.status == 200
    assert result["type"] == "succeeded", result


async def test_a_batch_from_loopback_still_obeys_the_override_header() -> None:
    # the header is on the create call, which is refused before it makes anything: no batch
    async with AsyncMockServer() as server, aiohttp.ClientSession() as http:
        url = f"{server.url}/v1/messages/batches"
        async with http.post(url, json=_batch_body(), headers={**API, **OVERRIDE}) as r:
            assert r.status == 529 and (await r.json())["error"]["type"] == "overloaded_error"
        async with http.get(url, headers=API) as r:
            assert r.status == 200 and (await r.json())["data"] == []


# ---------------------------------------------------------------- HEAD on every GET route


async def test_head_answers_every_get_route_with_the_get_headers_and_no_body() -> None:
    async with AsyncMockServer() as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/v1/messages/batches", json=_batch_body(), headers=API) as r:
            batch_id = (await r.json())["id"]
        paths = [
            "/_busysignal/health",
            "/_busysignal/journal",
            "/_busysignal/stats",
            "/_busysignal/scenario",
            "/metrics",
            "/v1/models",
            f"/v1/models/{MODEL}",
            "/v1/messages/batches",
            f"/v1/messages/batches/{batch_id}",
            f"/v1/messages/batches/{batch_id}/results",
        ]
        for path in paths:
            async with http.get(f"{server.url}{path}", headers=API) as got:
                assert got.status == 200, (path, await got.text())
                get_type, get_length = got.headers["content-type"], got.headers.get("content-length")
            async with http.head(f"{server.url}{path}", headers=API) as head:
                assert head.status == 200, path
                assert head.headers["content-type"] == get_type, path
                # the length a GET would send (none for the streamed journal), and no body
                assert ("content-length" in head.headers) == (get_length is not None), path
                assert "transfer-encoding" not in head.headers, path
                assert await head.read() == b"", path
        async with http.head(f"{server.url}/_busysignal/journal?format=csv") as bad:
            assert bad.status == 400  # as its GET
        async with http.head(f"{server.url}/v1/models") as unauthenticated:
            assert unauthenticated.status == 401  # HEAD is checked as GET is
        heads = [e for e in server.journal.entries() if e.method == "HEAD"]
        assert {e.path for e in heads} >= {"/v1/models", f"/v1/messages/batches/{batch_id}"}


# ---------------------------------------------------------------- control token hygiene


async def test_the_control_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with AsyncMockServer(control_token="s3cret") as server, aiohttp.ClientSession() as http:
        health = f"{server.url}/_busysignal/health"
        async with http.get(health, headers={"x-busysignal-token": "s3creX"}) as wrong:
            assert wrong.status == 401
        async with http.get(health, headers={"authorization": "Bearer s3cret"}) as right:
            assert right.status == 200
        async with http.get(health, headers={"x-busysignal-token": "s\u00e9cret"}) as odd:
            assert odd.status == 401  # a header that is not ASCII is refused, not a 500
    assert (b"s3creX", b"s3cret") in compared and (b"s3cret", b"s3cret") in compared


def test_token_lookup_order_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("from-file\n")
    env = {TOKEN_ENV: "from-env", TOKEN_FILE_ENV: str(f)}
    assert resolve_token("given", env=env) == "given"
    assert resolve_token(token_file=f, env=env) == "from-file"  # the line end is not part of it
    assert resolve_token(env=env) == "from-env"
    assert resolve_token(env={TOKEN_FILE_ENV: str(f)}) == "from-file"
    assert resolve_token(env={}) is None
    assert token_for_serve_args(["--seed", "1", "--control-token-file", str(f)], env={}) == "from-file"
    assert token_for_serve_args(["--quiet"], env={TOKEN_ENV: "e"}) == "e"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ControlTokenError, match="expected one argument"):
        token_for_serve_args(["--control-token"], env={})
    with pytest.raises(ControlTokenError, match="not both"):
        resolve_token("a", f, env={})
    with pytest.raises(ControlTokenError, match="empty"):
        resolve_token(token_file=tmp_path / "empty", env={})
    with pytest.raises(ControlTokenError, match="missing"):
        resolve_token(token_file=tmp_path / "missing", env={})


def test_remote_server_and_mock_control_find_the_token_as_serve_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mockserver.control_client import ControlClient as MockControl
    from mockserver.pytest_plugin import RemoteServer

    f = tmp_path / "token"
    f.write_text("t0ken\n")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(f))
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with MockServer(control_token="t0ken") as server:
        assert RemoteServer(server.url).raw_entries() == []
        assert MockControl(server.url, token=token_for_serve_args([], env=os.environ)).healthy()
        assert not MockControl(server.url).healthy()  # no token: refused
        monkeypatch.delenv(TOKEN_FILE_ENV)
        with pytest.raises(RuntimeError, match="401"):
            RemoteServer(server.url).raw_entries()


def _serve(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``busysignal serve`` on a free port of 127.0.0.1, and its URL once it listens."""
    cmd = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--quiet", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # ends at EOF if the server exits
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].strip()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"serve exited with {proc.returncode}: {err}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_token_from_env_or_file_never_shows_in_the_server_argv(source: str, tmp_path: Path) -> None:
    secret = "tok-" + os.urandom(8).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUSYSIGNAL_CONTROL_TOKEN")}
    args: list[str] = []
    if source == "env":
        env[TOKEN_ENV] = secret
    else:
        (tmp_path / "token").write_text(secret + "\n")
        args = ["--control-token-file", str(tmp_path / "token")]
    proc, url = _serve(args, env)
    try:
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert not any(secret.encode() in arg for arg in argv), argv
        health = f"{url}/_busysignal/health"
        assert urllib_status(health, {}) == 401
        assert urllib_status(health, {"x-busysignal-token": secret}) == 200
    finally:
        _stop(proc)


def urllib_status(url: str, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_serve_refuses_an_unusable_token_file_clearly(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0"]
    cmd += ["--control-token-file", str(tmp_path / "nope")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "control token file" in done.stderr and "nope" in done.stderr


# ---------------------------------------------------------------- salted api_key_id


def _ids(server: MockServer, key: str, n: int = 2) -> list[str]:
    body = {"model": MODEL, "max_tokens": 5, "messages": user("hi")}
    for _ in range(n):
        r = urllib.request.Request(
            f"{server.url}/v1/messages",
            data=json.dumps(body).encode(),
            headers={"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        )
        with urllib.request.urlopen(r, timeout=30) as resp:
            assert resp.status == 200
    return [e.api_key_id for e in server.journal.entries()]


def test_api_key_ids_are_salted_per_server_and_fixed_by_a_shared_salt() -> None:
    key = "sk-ant-test-0001"
    unsalted = hashlib.blake2b(key.encode(), digest_size=6, person=b"bsig-key").hexdigest()
    with MockServer() as a, MockServer() as b:
        ids_a, ids_b = _ids(a, key), _ids(b, key)
        assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1  # one id per key within a server
        assert ids_a[0] != ids_b[0]  # another server, another id
        assert a.key_id(key) == ids_a[0] and len(ids_a[0]) == 12
        logical = {e.logical_id for e in a.journal.entries()}
        assert len(logical) == 1  # the same call twice is one logical request
        a.reset()
        assert _ids(a, key, 1) == ids_a[:1]  # the salt lives as long as the server
    with MockServer(key_salt="fleet") as c, MockServer(key_salt="fleet") as d:
        assert _ids(c, key) == _ids(d, key)
        assert c.key_id(key) != unsalted and c.key_id("sk-other") != c.key_id(key)
    assert unsalted not in ids_a + ids_b


def test_serve_takes_a_fixed_key_salt() -> None:
    import argparse

    from mockserver.cli.serve import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert build_config(parser.parse_args(["--key-salt", "fleet"]), sys.stdout).key_salt == "fleet"
    assert build_config(parser.parse_args([]), sys.stdout).key_salt is None
    with pytest.raises(ValueError, match="key_salt"):
        build_config(parser.parse_args(["--key-salt", ""]), sys.stdout)
