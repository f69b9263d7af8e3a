"""Malformed requests get Anthropic-shaped 4xx, never a 500 nor aiohttp's plain text: header bytes
that are not UTF-8 in ``x-api-key`` (journalled), JSON bodies that are not UTF-8 text (UTF-16/32, a
BOM, lone surrogates), and requests aiohttp cannot parse (counted, nothing of them echoed, no
traceback each)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import httpx2
import pytest
from tests.mockserver.test_server_bodies import raw_exchange, read_answer, status_and_json
from tests.support import TEST_KEY

from mockserver import MockServer

BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def post(
    server: MockServer, body: bytes, key: bytes = TEST_KEY.encode(), path: str = "/v1/messages"
) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
        + b"x-api-key: "
        + key
        + b"\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        + f"Content-Length: {len(body)}".encode()
    )
    return raw_exchange(server, head.decode("latin-1"), body)


@pytest.mark.parametrize("key", [b"sk-ant-\xff\xfe-bad", b"sk-\xc3(", "sk-ключ".encode()])
def test_an_api_key_that_is_not_ascii_is_a_journalled_401(server: MockServer, key: bytes) -> None:
    before = len(server.journal.entries())
    status, data = status_and_json(post(server, json.dumps(BODY).encode(), key))
    assert status == 401, data
    assert data["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    entries = server.journal.entries()
    assert len(entries) == before + 1
    assert (entries[-1].status, entries[-1].error_type) == (401, "authentication_error")
    assert entries[-1].api_key_id  # hashed like any key, never the key itself
    assert data["request_id"] == entries[-1].request_id


def test_an_ascii_key_still_passes(server: MockServer) -> None:
    status, data = status_and_json(post(server, json.dumps(BODY).encode()))
    assert status == 200 and data["type"] == "message", data


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (json.dumps(BODY).encode("utf-16"), "byte order mark"),  # BOM + UTF-16-LE
        (json.dumps(BODY).encode("utf-16-le"), "UTF-16"),
        (json.dumps(BODY).encode("utf-16-be"), "UTF-16"),
        (json.dumps(BODY).encode("utf-32-le"), "UTF-16 or UTF-32"),
        (b"\xef\xbb\xbf" + json.dumps(BODY).encode(), "byte order mark"),
        (json.dumps({**BODY, "messages": [{"role": "user", "content": "a\ud800b"}]}).encode(), "surrogate"),
        (json.dumps({**BODY, "messages": [{"role": "user", "content": "\udfff"}]}).encode(), "surrogate"),
        (json.dumps({**BODY, "metadata": {"user_id": "\udbff"}}).encode(), "surrogate"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_json_that_is_not_utf8_text_is_a_400(server: MockServer, body: bytes, words: str, path: str) -> None:
    status, data = status_and_json(post(server, body, path=path))
    assert status == 400, data
    assert data["error"]["type"] == "invalid_request_error"
    assert words in data["error"]["message"], data
    entry = server.journal.entries()[-1]
    assert (entry.status, entry.error_type) == (400, "invalid_request_error")


def test_a_surrogate_pair_escape_is_a_character(server: MockServer) -> None:
    text = json.dumps({**BODY, "messages": [{"role": "user", "content": "smile \U0001f600"}]})
    assert "\\ud83d\\ude00" in text  # the escaped pair, as ensure_ascii writes it
    status, data = status_and_json(post(server, text.encode()))
    assert status == 200 and data["type"] == "message", data


MARK = "Zq9SECRETq9Z"  # must never come back in an answer
MALFORMED = [
    ("bad method", f"F({MARK} /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method"),
    ("request line", f"{MARK}\r\n\r\n", 400, "method"),
    ("version", f"GET /{MARK} HTTP/9.9\r\n\r\n", 400, "request line"),
    (
        "bad Content-Length",
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {MARK}\r\n\r\n",
        400,
        "Content-Length",
    ),
    (
        "two Content-Lengths",
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
        "Content-Length",
    ),
    (
        "too many headers",
        "GET / HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-{MARK}-{i}: v\r\n" for i in range(200)) + "\r\n",
        400,
        "too many headers",
    ),
    ("header too long", f"GET / HTTP/1.1\r\nHost: x\r\nX-Long: {MARK * 2000}\r\n\r\n", 400, "too long"),
    (
        "bad chunk",
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{MARK}\r\nab\r\n0\r\n\r\n",
        400,
        "chunked",
    ),
    (
        "zstd body",
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Encoding: zstd\r\nContent-Length: 2\r\n\r\n{}",
        415,
        "Content-Encoding",
    ),
]


def send_raw(server: MockServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(data)
        return read_answer(sock)


def malformed_total(server: MockServer) -> int:
    total: int = httpx2.get(f"{server.url}/_busysignal/stats", timeout=30).json()["malformed_requests"][
        "total"
    ]
    return total


@pytest.mark.parametrize(
    ("name", "request_text", "status", "words"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_request_is_an_anthropic_shaped_error_that_echoes_nothing(
    server: MockServer, name: str, request_text: str, status: int, words: str
) -> None:
    before = malformed_total(server)
    answer = send_raw(server, request_text.encode("latin-1"))
    assert MARK.encode() not in answer and MARK.lower().encode() not in answer.lower(), answer[:400]
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"content-type: application/json" in head, answer[:400]
    got, data = status_and_json(answer)
    assert got == status, data
    assert set(data) == {"type", "error", "request_id"} and data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert words.lower() in data["error"]["message"].lower(), data
    assert data["request_id"].startswith("req_")
    assert malformed_total(server) == before + 1


def test_malformed_requests_are_counted_without_a_traceback_each(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = malformed_total(server)
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            assert send_raw(server, b"F(O / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 400")
            assert send_raw(server, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").startswith(
                b"HTTP/1.0 400"
            )
    assert malformed_total(server) == before + 10
    assert [r for r in caplog.records if r.exc_info] == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 2  # once per kind at most
    stats = httpx2.get(f"{server.url}/_busysignal/stats", timeout=30).json()["malformed_requests"]
    assert stats["bad_method"] >= 5 and stats["bad_content_length"] >= 5
    metrics = httpx2.get(f"{server.url}/metrics", timeout=30).text
    counted = dict(
        line.rsplit(" ", 1)
        for line in metrics.splitlines()
        if line.startswith("busysignal_malformed_requests_total")
    )
    assert int(counted['busysignal_malformed_requests_total{kind="bad_method"}']) == stats["bad_method"]


def test_an_unknown_method_on_a_route_is_a_shaped_404(server: MockServer) -> None:
    answer = send_raw(server, b"PATCH /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    status, data = status_and_json(answer)
    assert status == 404 and data["error"]["type"] == "not_found_error", data
