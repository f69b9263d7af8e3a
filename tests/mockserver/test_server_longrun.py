"""Long runs: the journal export streams without freezing the loop (issue 13, item 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import pytest

from mockserver import AsyncMockServer
from mockserver.journal import Journal, JournalEntry, JournalFilter, entries_to_jsonl, entry_json
from mockserver.journal.export import export_chunks


def fill(journal: Journal, n: int) -> None:
    """``n`` entries, every 7th a 429 on count_tokens under key "k7", the rest 200s."""
    values = (None, "2023-06-01", None, None, None, None, None)
    for i in range(n):
        odd = i % 7 == 0
        e = journal.open(
            "req",
            "POST",
            "/v1/messages/count_tokens" if odd else "/v1/messages",
            i,
            i,
            "k7" if odd else "k",
            None,
            values,
        )
        e.status = 429 if odd else 200
        e.end = i + 0.5
        e.reason = {"source": "rule", "rule": "r"} if odd else {}


def old_json(entries: Sequence[JournalEntry]) -> bytes:
    return ('{"entries":[' + ",".join(map(entry_json, entries)) + "]}").encode()


FILTERS = [
    None,
    JournalFilter(),
    JournalFilter(status=429),
    JournalFilter(status=429, limit=3),
    JournalFilter(api_key_id="k", since_seq=5, limit=10),
    JournalFilter(path="/nowhere"),
    JournalFilter(limit=0),
]


@pytest.mark.parametrize("flt", FILTERS)
@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
def test_export_bytes_are_those_of_one_document(flt: JournalFilter | None, chunk: int) -> None:
    journal = Journal(100)
    fill(journal, 130)  # the ring has wrapped: seq 30..129
    entries = journal.entries(flt)
    snapshot = journal.entries()
    assert (
        b"".join(export_chunks(snapshot, flt, jsonl=True, chunk=chunk)) == entries_to_jsonl(entries).encode()
    )
    assert b"".join(export_chunks(snapshot, flt, jsonl=False, chunk=chunk)) == old_json(entries)


async def test_export_over_http_is_byte_identical() -> None:
    async with AsyncMockServer(journal_size=5000) as srv:
        fill(srv.journal, 5200)
        async with aiohttp.ClientSession() as s:
            for params, flt in (
                ({}, None),
                ({"status": "429", "limit": "40"}, JournalFilter(status=429, limit=40)),
            ):
                async with s.get(f"{srv.url}/_busysignal/journal", params=params) as r:
                    assert await r.read() == old_json(srv.journal.entries(flt))
                async with s.get(f"{srv.url}/_busysignal/journal", params={**params, "format": "jsonl"}) as r:
                    assert r.headers["content-type"] == "application/x-jsonl"
                    assert await r.read() == entries_to_jsonl(srv.journal.entries(flt)).encode()


@pytest.mark.parametrize(
    ("params", "entries"),
    [
        ({"path": "/nowhere"}, 300_000),  # a filtered scan of the whole ring that matches nothing
        ({"format": "jsonl"}, 60_000),  # a large export read as fast as the client can
        ({}, 60_000),
    ],
)
async def test_health_answers_while_an_export_is_in_flight(params: dict[str, str], entries: int) -> None:
    """Judged by order, not time: the health probe, sent once the export has begun, is answered
    before the export's last byte arrives (the server, the export and the probe share one loop,
    so a loop held for the whole export would answer the probe after it)."""
    async with AsyncMockServer(journal_size=entries) as srv:
        fill(srv.journal, entries)
        order: list[str] = []
        async with aiohttp.ClientSession() as s:
            export = await s.get(f"{srv.url}/_busysignal/journal", params=params)  # headers are in

            async def drain() -> int:
                n = 0
                async for piece in export.content.iter_chunked(1 << 16):
                    n += len(piece)
                order.append("export")
                return n

            async def probe() -> dict[str, object]:
                async with s.get(f"{srv.url}/_busysignal/health") as r:
                    body: dict[str, object] = await r.json()
                order.append("health")
                return body

            size, health = await asyncio.gather(drain(), probe())
            export.release()
        assert health["status"] == "ok" and health["journal_entries"] == entries
        assert order == ["health", "export"]
        assert size > (10 if params.get("path") else entries * 100)
