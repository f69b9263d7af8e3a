"""Request bodies within their route's limit: a 413 ``request_too_large`` from Content-Length before
reading, or as soon as a streamed (chunked, compressed) body passes the limit; gzip bombs bounded by
the inflated size; bodies that do not decode as their Content-Encoding are a 400, not a 500."""

from __future__ import annotations

import contextlib
import json
import socket
import zlib
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.web.bodies import BODY_STATS

MiB = 1024 * 1024
API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip stream of ``inflated_mib`` MiB of zeros (about 1/230 of that compressed)."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    return b"".join([comp.compress(zeros) for _ in range(inflated_mib)] + [comp.flush()])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(128)


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def raw_exchange(server: MockServer, head: str, body: bytes = b"", *, timeout: float = 60) -> bytes:
    """Send ``head`` (CRLF-joined request line and headers, no blank line) and ``body`` on a raw
    socket; the server's answer, read until it closes or its JSON body has arrived."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        # the server may answer and close before the whole body is sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                break
    return data


def status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    data: dict[str, Any] = json.loads(body)
    return status, data


def head_for(path: str, port: int, *extra: str) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in API.items()]
    return "\r\n".join([*lines, *extra])


def assert_too_large(answer: bytes) -> None:
    status, data = status_and_json(answer)
    assert status == 413, answer[:300]
    assert data["type"] == "error" and data["error"]["type"] == "request_too_large", data
    assert data["request_id"].startswith("req_")


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_a_gzip_bomb_is_refused_once_it_inflates_past_the_limit(
    server: MockServer, bomb: bytes, path: str
) -> None:
    limit = server.config.max_body_bytes
    assert len(bomb) < 2 * MiB < limit < 128 * MiB  # small on the wire, far past the limit inflated
    BODY_STATS.largest_refused_read = 0
    head = head_for(path, server.port, "Content-Encoding: gzip", f"Content-Length: {len(bomb)}")
    assert_too_large(raw_exchange(server, head, bomb))
    # never held more than the limit and one inflated piece (aiohttp inflates 64 KiB at a time)
    assert limit < BODY_STATS.largest_refused_read <= limit + MiB
    assert httpx2.get(f"{server.url}/_busysignal/health", timeout=30).status_code == 200


def test_a_small_limit_bounds_the_inflated_bytes_too(bomb: bytes) -> None:
    with MockServer(max_body_bytes=MiB) as server:
        BODY_STATS.largest_refused_read = 0
        head = head_for("/v1/messages", server.port, "Content-Encoding: gzip", f"Content-Length: {len(bomb)}")
        assert_too_large(raw_exchange(server, head, bomb))
        assert MiB < BODY_STATS.largest_refused_read <= 2 * MiB
        entry = server.journal.entries()[-1]
        assert (entry.path, entry.status, entry.error_type) == ("/v1/messages", 413, "request_too_large")


@pytest.mark.parametrize(
    ("path", "declared"),
    [
        ("/v1/messages", 32 * 1000 * 1000 + 1),
        ("/v1/messages", 40 * MiB),
        ("/v1/messages/count_tokens", 40 * MiB),
        ("/v1/messages/batches", 256 * MiB + 1),
    ],
)
def test_an_oversized_content_length_is_refused_before_any_body_is_sent(
    server: MockServer, path: str, declared: int
) -> None:
    limit = server.config.max_batch_body_bytes if "batches" in path else server.config.max_body_bytes
    if declared <= limit:
        declared = limit + 1
    # no body follows: an answer at all proves the server did not wait to read it
    assert_too_large(raw_exchange(server, head_for(path, server.port, f"Content-Length: {declared}")))


def test_a_chunked_body_is_refused_as_it_passes_the_limit() -> None:
    with MockServer(max_body_bytes=256 * 1024) as server:
        piece = b"x" * 65536
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(6))  # never terminated
        head = head_for("/v1/messages", server.port, "Transfer-Encoding: chunked")
        assert_too_large(raw_exchange(server, head, chunks))


def test_a_body_at_the_limit_is_read(server: MockServer) -> None:
    body = json.dumps(BODY).encode()
    packed = zlib.compress(body, wbits=31)
    head = head_for("/v1/messages", server.port, "Content-Encoding: gzip", f"Content-Length: {len(packed)}")
    status, data = status_and_json(raw_exchange(server, head, packed))
    assert status == 200 and data["type"] == "message", data


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_body_that_is_not_its_content_encoding_is_a_400(server: MockServer, coding: str) -> None:
    body = json.dumps(BODY).encode()
    head = head_for(
        "/v1/messages", server.port, f"Content-Encoding: {coding}", f"Content-Length: {len(body)}"
    )
    status, data = status_and_json(raw_exchange(server, head, body))
    assert status == 400, data
    assert data["error"]["type"] == "invalid_request_error"
    assert coding in data["error"]["message"]
    entry = server.journal.entries()[-1]
    assert (entry.status, entry.error_type) == (400, "invalid_request_error")


def brotli_bomb(inflated_mib: int) -> bytes:
    brotli = pytest.importorskip(
        "brotli"
    )  # aiohttp decodes br only with it (a dependency of aiohttp[speedups])
    comp = brotli.Compressor(quality=1)
    zeros = bytes(MiB)
    return b"".join([comp.process(zeros) for _ in range(inflated_mib)] + [comp.finish()])


def test_a_brotli_body_is_read_and_a_brotli_bomb_is_bounded(server: MockServer) -> None:
    brotli = pytest.importorskip("brotli")
    packed = brotli.compress(json.dumps(BODY).encode())
    head = head_for("/v1/messages", server.port, "Content-Encoding: br", f"Content-Length: {len(packed)}")
    status, data = status_and_json(raw_exchange(server, head, packed))
    assert status == 200 and data["type"] == "message", data
    bomb = brotli_bomb(128)
    BODY_STATS.largest_refused_read = 0
    head = head_for("/v1/messages", server.port, "Content-Encoding: br", f"Content-Length: {len(bomb)}")
    assert_too_large(raw_exchange(server, head, bomb))
    limit = server.config.max_body_bytes
    assert limit < BODY_STATS.largest_refused_read <= limit + MiB
