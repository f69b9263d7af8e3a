"""The one control-plane client against a real server on 127.0.0.1: every verb, the token, and
errors that say what went wrong when the server is absent or refuses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from tests.support import TEST_KEY, user

from mockserver import MockServer
from mockserver.control_client import ControlClient, ControlError, ControlRefused, ServerUnreachable
from mockserver.control_token import TOKEN_ENV, TOKEN_FILE_ENV

API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
ALWAYS_503 = {
    "name": "always-503",
    "description": "every call answered 503",
    "rules": [{"fault": {"error": {"status": 503}}}],
}


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def _call(url: str) -> int:
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": user("hi")}
    return httpx2.post(f"{url}/v1/messages", json=body, headers=API).status_code


def test_the_journal_is_read_filtered_and_cleared(server: MockServer) -> None:
    control = ControlClient(server.url + "/")
    assert control.url == server.url
    assert control.journal() == []
    assert [_call(server.url) for _ in range(3)] == [200, 200, 200]
    entries = control.journal()
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert all(e["path"] == "/v1/messages" and e["status"] == 200 for e in entries)
    assert [e["seq"] for e in control.journal(since_seq=1)] == [1, 2]
    assert [e["seq"] for e in control.journal(since_seq=1, limit=1)] == [1]
    assert control.clear_journal() == 3
    assert control.journal() == []


def test_health_stats_reset_and_metrics(server: MockServer) -> None:
    control = ControlClient(server.url)
    assert control.healthy()
    health = control.health()
    assert health["status"] == "ok" and health["journal_entries"] == 0
    _call(server.url)
    assert control.stats()["requests"] == 1
    assert "busysignal" in control.metrics()
    control.reset()
    assert control.stats()["requests"] == 0 and control.journal() == []
    assert control.health()["next_seq"] == 1  # seq keeps counting across a reset


def test_the_scenario_is_swapped_by_name_mapping_text_and_file(server: MockServer, tmp_path: Path) -> None:
    control = ControlClient(server.url)
    assert control.set_scenario(ALWAYS_503) == "always-503"
    assert control.scenario()["name"] == "always-503"
    assert _call(server.url) == 503
    assert control.set_scenario("steady") == "steady"
    assert _call(server.url) == 200
    text = "name: yaml-503\ndescription: from text\nrules:\n  - fault: {error: {status: 503}}\n"
    assert control.set_scenario(text, seed=3) == "yaml-503"
    assert _call(server.url) == 503
    path = tmp_path / "file-503.yaml"
    path.write_text(text.replace("yaml-503", "file-503"))
    assert control.set_scenario(path) == "file-503"
    with pytest.raises(ControlRefused, match="400") as refused:
        control.set_scenario("no-such-scenario")
    assert refused.value.status == 400 and b"no-such-scenario" in refused.value.body


def test_the_token_is_sent_when_given_and_a_missing_one_is_refused_with_401() -> None:
    with MockServer(control_token="t0ken") as server:
        assert ControlClient(server.url, token="t0ken").health()["status"] == "ok"
        bare = ControlClient(server.url)
        assert not bare.healthy()
        with pytest.raises(ControlRefused, match=r"GET /_busysignal/journal\?format=jsonl → 401") as refused:
            bare.journal()
        assert refused.value.status == 401
        with pytest.raises(ControlRefused, match="401"):
            ControlClient(server.url, token="wrong").clear_journal()


def test_from_env_finds_the_token_as_serve_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv(TOKEN_FILE_ENV, str(token_file))
    assert ControlClient.from_env("http://127.0.0.1:1").token == "from-file"
    assert ControlClient.from_env("http://127.0.0.1:1", token="given").token == "given"
    assert ControlClient.from_env("http://127.0.0.1:1", env={TOKEN_ENV: "e"}).token == "e"
    assert ControlClient.from_env("http://127.0.0.1:1", env={}).token is None
    assert ControlClient("http://127.0.0.1:1").token is None  # the constructor never looks around


def test_an_absent_server_is_named_as_unreachable() -> None:
    with socket.socket() as bound:  # bound, never listening: every connection is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        control = ControlClient(url, timeout=5)
        assert not control.healthy()
        with pytest.raises(ServerUnreachable) as absent:
            control.reset()
    message = str(absent.value)
    assert url in message and "POST /_busysignal/reset" in message and "busysignal serve" in message
    assert isinstance(absent.value, ControlError) and isinstance(absent.value, RuntimeError)


def test_a_served_mock_is_driven_with_the_token_from_its_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok-" + os.urandom(8).hex() + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUSYSIGNAL_CONTROL_TOKEN")}
    cmd = [
        sys.executable,
        "-m",
        "mockserver",
        "--port",
        "0",
        "--quiet",
        "--control-token-file",
        str(token_file),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the server's first line, once it listens
        assert "listening on " in first, first
        url = first.split("listening on ", 1)[1].strip()
        control = ControlClient.from_env(url, token_file=token_file, env={})
        assert control.set_scenario(ALWAYS_503) == "always-503" and _call(url) == 503
        assert [e["status"] for e in control.journal()] == [503]
        with pytest.raises(ControlRefused, match="401"):
            ControlClient(url).scenario()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
