"""The official TypeScript SDK (@anthropic-ai/sdk, pinned in ./ts/package.json) against the mock.

Proof that any client can point at it. Skipped only when `node` is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mockserver import MockServer

TS_DIR = Path(__file__).parent / "ts"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_typescript_sdk_creates_and_streams_a_message() -> None:
    if not (TS_DIR / "node_modules" / "@anthropic-ai" / "sdk").is_dir():
        pytest.fail(f"{TS_DIR}/node_modules is missing: run `npm ci` in {TS_DIR} (the Makefile does)")
    assert NODE is not None
    with MockServer(seed=5) as server:
        proc = subprocess.run(
            [NODE, "stream_message.mjs"],
            cwd=TS_DIR,
            env={**os.environ, "BUSYSIGNAL_URL": server.url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
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
