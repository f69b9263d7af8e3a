"""Security of the mock's own surfaces: the override header's peer gate (Message Batches too), the
control token's hygiene, salted API key ids, and HEAD on every GET route."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from conftest import TEST_KEY, user

from mockserver import AsyncMockServer
from mockserver.app import _is_loopback

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
    assert _is_loopback(None) is False
    assert _is_loopback(FAR_PEER) is False
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")


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
    async with AsyncMockServer() as server:
        result = await _batch_result(server, {**API, **OVERRIDE})
    assert result["type"] == "errored" and result["error"]["error"]["type"] == "overloaded_error", result


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
