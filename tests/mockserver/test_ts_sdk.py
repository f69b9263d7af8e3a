"""The official TypeScript SDK (@anthropic-ai/sdk, pinned in ./ts/package.json) against the mock.

Proof that any client can point at it. Skipped only when `node` is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServer

TS_DIR = Path(__file__).parent / "ts"
NODE = shutil.which("node")


def _run(script: str, server: MockServer, **env: str) -> dict[str, Any]:
    """Run one of ./ts's scripts against ``server``; what it printed last, as JSON."""
    if not (TS_DIR / "node_modules" / "@anthropic-ai" / "sdk").is_dir():
        pytest.fail(f"{TS_DIR}/node_modules is missing: run `npm ci` in {TS_DIR} (the Makefile does)")
    assert NODE is not None
    proc = subprocess.run(
        [NODE, script],
        cwd=TS_DIR,
        env={**os.environ, "BUSYSIGNAL_URL": server.url, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    seen: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return seen


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_typescript_sdk_creates_and_streams_a_message() -> None:
    with MockServer(seed=5) as server:
        seen = _run("stream_message.mjs", server)
        entries = server.journal.entries()
    created, streamed = seen["created"], seen["streamed"]
    assert created["id"].startswith("msg_") and created["text"]
    assert streamed["text"] == created["text"] == "".join(seen["deltas"])
    assert streamed["stop"] == created["stop"] and streamed["usage"]["output_tokens"] == len(seen["deltas"])
    assert seen["counted"]["input_tokens"] == created["usage"]["input_tokens"]
    assert seen["notFound"]["status"] == 404 and seen["notFound"]["name"] == "NotFoundError"
    # the TS SDK 1.x sends a Bearer key and the 2026 API version
    assert [e.status for e in entries] == [200, 200, 200, 404]
    assert all(
        e.headers["anthropic-version"] == "2026-10-21" and e.headers["x-stainless-lang"] == "js"
        for e in entries
    )
    assert entries[1].stream and entries[1].events_sent > 0


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_typescript_sdk_uploads_crud_and_streams_on_the_resource_families() -> None:
    with MockServer(seed=5) as server:
        seen = _run("resources.mjs", server)
        entries = server.journal.entries()
    file = seen["file"]
    assert file["id"].startswith("file_") and file["size"] == 300 and file["same"] is True
    assert file["mime"] == "application/octet-stream" and file["listed"] == [file["id"]]
    assert seen["deleted"] == "file_deleted"
    assert seen["fileGone"] == seen["agentGone"] == {"name": "NotFoundError", "status": 404}
    agent = seen["agent"]
    assert agent["id"].startswith("agent_") and (agent["version"], agent["updated"]) == (1, 2)
    assert agent["versions"] == [2, 1] and agent["archived"] is True
    assert seen["session"]["id"].startswith("sesn_")
    assert (seen["session"]["agentVersion"], seen["session"]["system"]) == (2, "two")  # the stored agent
    assert seen["afterArchive"] == {"name": "BadRequestError", "status": 400}
    assert seen["streamed"] == [
        "user.message",
        "session.status_running",
        "agent.message",
        "session.status_idle",
    ]
    assert all(e.status is not None and e.status < 500 for e in entries)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_typescript_sdk_retries_a_529_on_a_resource_route() -> None:
    scenario = {
        "name": "files-overloaded",
        "description": "the first two uploads get 529",
        "rules": [
            {"id": "upload", "match": {"path": "/v1/files"}, "trigger": {"sequence": [529, 529, "ok"]}}
        ],
    }
    with MockServer(seed=5, scenario=scenario) as server:
        seen = _run("resources.mjs", server, RETRIES="2")
        uploads = [e for e in server.journal.entries() if e.path == "/v1/files" and e.method == "POST"]
    assert seen["file"]["same"] is True
    assert [e.status for e in uploads] == [529, 529, 200]
    assert [e.retry_count for e in uploads] == [0, 1, 2] and len({e.logical_id for e in uploads}) == 1
