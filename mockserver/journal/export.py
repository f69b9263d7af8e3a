"""GET /_busysignal/journal: the journal streamed in chunks, never blocking the event loop.

The core, :func:`export_chunks`, is pure: it walks a snapshot of the ring ``JOURNAL_CHUNK`` entries
at a time, filters each chunk and yields the bytes to write (the same bytes, for the same journal,
as one ``entries_to_jsonl`` or one ``{"entries":[...]}`` document). The shell,
:func:`stream_journal`, writes each piece (``StreamResponse.write`` awaits the socket's drain: a
slow reader slows the export, the server's memory stays flat) and gives the loop a turn between
chunks, so ``/_busysignal/health`` and the API routes answer while a million entries go out, and
so does a filtered query that scans the whole ring to match a few.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from aiohttp import web

from mockserver.journal import Journal, JournalEntry, JournalFilter, entry_json
from mockserver.wire.response_headers import JSON_TYPE

JOURNAL_CHUNK = 1000  # entries scanned (and at most written) per step
JSONL_TYPE = "application/x-jsonl"


def export_chunks(
    snapshot: Sequence[JournalEntry], flt: JournalFilter | None, *, jsonl: bool, chunk: int = JOURNAL_CHUNK
) -> Iterator[bytes]:
    """The export's bytes, one piece per ``chunk`` entries scanned (pure; b"" where none matched).

    JSON is ``{"entries":[e0,e1,...]}``, JSONL one entry per line; ``flt.limit`` keeps the oldest
    matching entries, as ``Journal.entries`` does."""
    if not jsonl:
        yield b'{"entries":['
    left = None if flt is None or flt.limit is None else max(flt.limit, 0)
    first = True
    for start in range(0, len(snapshot), max(chunk, 1)):
        if left == 0:
            break
        part = snapshot[start : start + chunk]
        picked = part if flt is None else [e for e in part if flt.matches(e)]
        if left is not None:
            picked, left = picked[:left], left - min(left, len(picked))
        if not picked:
            yield b""  # nothing matched here: still a step, so that the shell yields to the loop
            continue
        if jsonl:
            yield "".join(entry_json(e) + "\n" for e in picked).encode()
        else:
            yield (("" if first else ",") + ",".join(map(entry_json, picked))).encode()
        first = False
    if not jsonl:
        yield b"]}"


async def stream_journal(
    request: web.Request, journal: Journal, flt: JournalFilter, fmt: str
) -> web.StreamResponse:
    """Answer ``request`` with the journal (``fmt`` is "json" or "jsonl", checked by the caller)."""
    jsonl = fmt == "jsonl"
    snapshot = journal.entries()  # one C-level copy: entries added meanwhile are not exported
    resp = web.StreamResponse(headers={"content-type": JSONL_TYPE if jsonl else JSON_TYPE})
    await resp.prepare(request)
    for piece in export_chunks(snapshot, flt, jsonl=jsonl, chunk=JOURNAL_CHUNK):
        if piece:
            await resp.write(piece)  # awaits the transport's drain when the reader is slow
        await asyncio.sleep(0)  # a turn for every other request between chunks
    await resp.write_eof()
    return resp
