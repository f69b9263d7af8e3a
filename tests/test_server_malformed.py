"""Malformed requests get Anthropic-shaped 4xx, journalled, never a 500: header bytes that are not
UTF-8 in ``x-api-key``, and JSON bodies that are not UTF-8 text (UTF-16/32, a BOM, lone
surrogates)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import TEST_KEY
from test_server_bodies import raw_exchange, status_and_json

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
