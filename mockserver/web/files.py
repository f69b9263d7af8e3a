"""The Files routes (GA ``client.files`` and beta ``client.beta.files`` share them): upload,
list, metadata, content, delete, each a payload route judged by the fault engine. The objects,
limits and the bounded store are :mod:`mockserver.wire.files`; here is only the aiohttp shell.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from mockserver.web.bodies import too_large
from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import files, paths
from mockserver.wire.errors import invalid, not_found
from mockserver.wire.multipart import MULTIPART_OVERHEAD, canonical_body
from mockserver.wire.paging import cursor_page


def _file_id(exchange: Exchange) -> str:
    return exchange.request.match_info["file_id"]


async def _upload(exchange: Exchange, raw: bytes) -> Any:
    state = exchange.state
    config = state.config
    upload = files.parse_upload(exchange.request.headers.get("Content-Type", ""), raw)
    if len(upload.data) > config.max_file_bytes:
        raise too_large(len(upload.data))
    ident = "file_" + state.ids.next_suffix()
    now = config.wall_clock()
    obj = files.file_object(ident, upload, now, downloadable=config.files_downloadable)
    return files.store(state.resources, obj, upload, now, most_bytes=config.max_stored_file_bytes)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    query = exchange.request.query
    ids = [*query.getall("ids[]", []), *query.getall("ids", [])]
    resources = exchange.state.resources
    chosen = files.listed(resources, query, ids)
    if chosen is not None:  # named by id: always one page
        return {"data": chosen, "next_page": None}
    scope = query.get("scope_id")
    kept = files.files(resources)
    # an upload belongs to no scope (a session's files are made by the session), so a scope
    # filter finds none of them
    items = [] if scope is not None else kept.newest_first()
    return cursor_page(items, lambda o: str(o["id"]), query)


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return files.files(exchange.state.resources).get(_file_id(exchange))


async def _content(exchange: Exchange, raw: bytes) -> Any:
    ident = _file_id(exchange)
    state = exchange.state
    obj, stored = files.content(state.resources, ident)
    if not obj["downloadable"]:
        message = f"File {ident} is not downloadable: only files made by a tool can be downloaded"
        raise invalid(message, code="file_not_downloadable")
    if files.expired(stored, state.config.wall_clock()):
        raise not_found(f"File {ident} has expired: its content is no longer available", code="file_expired")
    headers = state.response_headers(exchange.entry, {"content-type": str(stored["mime_type"])})
    return web.Response(status=200, body=stored["data"], headers=headers)


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    ident = _file_id(exchange)
    files.forget(exchange.state.resources, ident)
    return files.deleted_object(ident)


def upload_digest(exchange: Exchange, raw: bytes) -> bytes:
    """What names an upload's logical request: its body without the boundary."""
    return canonical_body(exchange.request.headers.get("Content-Type", ""), raw)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    (
        "POST",
        paths.FILES,
        payload_route(
            "files",
            _upload,
            body_limit=lambda c: c.max_file_bytes + MULTIPART_OVERHEAD,
            digest_of=upload_digest,
        ),
    ),
    ("GET", paths.FILES, payload_route("files", _list)),
    ("GET", paths.FILE, payload_route("files", _get)),
    ("GET", paths.FILE_CONTENT, payload_route("files", _content)),
    ("DELETE", paths.FILE, payload_route("files", _delete)),
)


def check_message_files(exchange: Exchange, raw: bytes) -> None:
    """The 400 for a message (or count_tokens) body naming a file this server does not keep;
    called only for a body that holds ``"file_id"``, so other bodies pay one ``in`` test."""
    body = json.loads(raw)
    if isinstance(body, dict):
        files.check_file_ids(exchange.state.resources, body)
