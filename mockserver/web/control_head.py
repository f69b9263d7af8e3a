"""HEAD of the control plane's streamed journal export.

Every GET route answers HEAD (aiohttp's ``allow_head``): a whole response's body is dropped and
its headers kept. The journal's export is streamed, so running it for a HEAD would write its
body; this handler gives its GET's status and content type instead (a streamed body has no
length to announce), after checking the query as the GET does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from mockserver.wire.errors import invalid

JOURNAL_FORMATS = {"json": "application/json", "jsonl": "application/x-jsonl"}


def journal_head(
    check_filter: Callable[[Mapping[str, str]], object],
) -> Callable[[web.Request, Any], Awaitable[web.StreamResponse]]:
    """The HEAD handler of ``GET /_busysignal/journal``; ``check_filter`` raises its 400s."""

    async def head(request: web.Request, state: Any) -> web.StreamResponse:
        check_filter(request.query)
        fmt = request.query.get("format", "json")
        if fmt not in JOURNAL_FORMATS:
            raise invalid(f"format: expected 'json' or 'jsonl', got {fmt!r}")
        return web.Response(headers={"content-type": JOURNAL_FORMATS[fmt]})

    return head
