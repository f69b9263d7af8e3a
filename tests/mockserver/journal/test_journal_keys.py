"""The keys of the journal analysis (mockserver/JOURNAL.md, "Definitions"): which attempts are one
logical request (same API key, same raw body: a client's retries) and which are one call (same API
key, same prompt: across a model fallback), from real requests through MockServer on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.conformance.runner import settled_entries
from mockserver.journal import JournalEntry, call_key, calls, logical_key, logical_requests

PROMPT = [{"role": "user", "content": "the same question"}]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def send(server: MockServer, body: bytes, *, key: str = TEST_KEY, **headers: str) -> None:
    sent = {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    httpx2.post(f"{server.url}/v1/messages", content=body, headers={**sent, **headers}, timeout=30.0)


def raw(**fields: Any) -> bytes:
    return json.dumps({"model": "claude-opus-4-6", "max_tokens": 8, "messages": PROMPT, **fields}).encode()


def journal(server: MockServer) -> list[JournalEntry]:
    entries = settled_entries(server.journal.entries, settle_s=30.0)
    server.journal.clear()
    return entries


def groups(entries: list[JournalEntry]) -> tuple[list[list[int]], list[list[int]]]:
    """The seqs of each logical request and of each call, relative to the first entry."""
    base = entries[0].seq
    lr = [[a.seq - base for a in r.attempts] for r in logical_requests(entries)]
    cs = [[a.seq - base for a in c.attempts] for c in calls(entries)]
    return lr, cs


def test_retries_of_one_body_are_one_logical_request_whatever_their_headers(server: MockServer) -> None:
    send(server, raw())
    send(server, raw(), **{"x-stainless-retry-count": "1", "idempotency-key": "a"})
    send(server, raw(), **{"x-stainless-retry-count": "2", "idempotency-key": "b"})
    entries = journal(server)
    assert groups(entries) == ([[0, 1, 2]], [[0, 1, 2]])
    assert [e.retry_count for e in entries] == [None, 1, 2]
    assert logical_requests(entries)[0].retry_layers() == [3]


def test_another_api_key_is_another_logical_request_and_another_call(server: MockServer) -> None:
    send(server, raw())
    send(server, raw(), key="sk-another-key")
    a, b = journal(server)
    assert logical_key(a) != logical_key(b) and call_key(a) != call_key(b)


def test_a_model_fallback_is_two_logical_requests_of_one_call(server: MockServer) -> None:
    send(server, raw())
    send(server, raw(model="claude-sonnet-4-5", max_tokens=16))
    entries = journal(server)
    assert groups(entries) == ([[0], [1]], [[0, 1]])
    assert calls(entries)[0].models == ["claude-opus-4-6", "claude-sonnet-4-5"]


@pytest.mark.parametrize(
    "other",
    [
        {"messages": [{"role": "user", "content": "another question"}]},
        {"system": "be brief"},
        {"stream": True},
        {"stop_sequences": ["END"]},
    ],
    ids=["prompt", "system", "stream", "stop_sequences"],
)
def test_anything_else_in_the_body_is_another_call(server: MockServer, other: dict[str, Any]) -> None:
    send(server, raw())
    send(server, raw(**other))
    entries = journal(server)
    assert groups(entries) == ([[0], [1]], [[0], [1]])


def test_the_same_json_in_other_bytes_is_another_logical_request_of_the_same_call(server: MockServer) -> None:
    body = {"model": "claude-opus-4-6", "max_tokens": 8, "messages": PROMPT}
    send(server, json.dumps(body).encode())
    send(server, json.dumps(body, indent=2, sort_keys=True).encode())
    entries = journal(server)
    assert groups(entries) == ([[0], [1]], [[0, 1]])


def test_a_body_that_is_not_json_is_a_call_of_its_own_logical_request(server: MockServer) -> None:
    send(server, b"not json")
    send(server, b"not json")
    a, b = journal(server)
    assert a.status == 400 and a.prompt_digest == ""
    assert logical_key(a) == logical_key(b) and call_key(a) == call_key(b) == f"l:{logical_key(a)}"
    assert groups([a, b]) == ([[0, 1]], [[0, 1]])


def test_an_entry_without_a_logical_id_stands_alone() -> None:
    one, two = JournalEntry.from_dict(_entry(seq=4)), JournalEntry.from_dict(_entry(seq=5))
    assert (logical_key(one), logical_key(two)) == ("seq:4", "seq:5")
    assert call_key(one) == "l:seq:4"
    assert groups([one, two]) == ([[0], [1]], [[0], [1]])


def _entry(*, seq: int) -> dict[str, Any]:
    """An entry the server closed before it read a body: no digests, no logical id."""
    return {
        "seq": seq,
        "request_id": f"req_{seq}",
        "method": "POST",
        "path": "/v1/messages",
        "wall_start": 1.0,
        "start": 1.0,
        "end": 1.1,
        "model": None,
        "api_key_id": "",
        "retry_count": None,
        "body_digest": "",
        "prompt_digest": "",
        "logical_id": "",
        "stream": False,
        "status": 413,
        "error_type": "request_too_large",
        "fault": None,
        "reason": {},
        "bytes_sent": 0,
        "events_sent": 0,
        "client_gone": False,
        "headers": {},
    }
