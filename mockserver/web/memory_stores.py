"""The Memory Stores routes of the managed-agents beta (``client.beta.memory_stores`` with its
``memories`` and ``memory_versions``): stores (create, list, get, update, delete, archive),
memories (create, list, get, update, delete, each write a new version) and versions (list, get,
redact). The objects, their checks and the versioning are :mod:`mockserver.wire.memory_stores`;
here is only the aiohttp shell. Deleting a store forgets its memories and versions.
"""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import BodyLimit, Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import memory_stores as ms
from mockserver.wire import paths
from mockserver.wire import vaults as vw
from mockserver.wire.errors import invalid
from mockserver.wire.paging import cursor_page
from mockserver.wire.resources import Collection, Obj


def _body_limit() -> BodyLimit:
    return lambda c: c.max_body_bytes


def _now(exchange: Exchange) -> float:
    return exchange.state.config.wall_clock()


def _next_id(exchange: Exchange, prefix: str) -> str:
    return prefix + exchange.state.ids.next_suffix()


def _stores(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((ms.STORES,), "Memory store")


def _store(exchange: Exchange) -> Obj:
    return _stores(exchange).get(exchange.request.match_info["memory_store_id"])


def _memories(exchange: Exchange, store_id: str) -> Collection:
    return exchange.state.resources.collection(ms.memories_key(store_id), "Memory")


def _versions(exchange: Exchange, store_id: str) -> Collection:
    return exchange.state.resources.collection(ms.versions_key(store_id), "Memory version")


def _memory(exchange: Exchange) -> tuple[Obj, Obj]:
    store = _store(exchange)
    return store, _memories(exchange, str(store["id"])).get(exchange.request.match_info["memory_id"])


def _version(exchange: Exchange) -> Obj:
    store = _store(exchange)
    return _versions(exchange, str(store["id"])).get(exchange.request.match_info["memory_version_id"])


def _paged(exchange: Exchange, items: list[Obj], view: str) -> Any:
    query = exchange.request.query
    vw.check_limit(query)
    answer = cursor_page(items, lambda o: str(o.get("id") or o["path"]), ms.capped(query, view))
    answer["data"] = [ms.shown(o, view) if "content" in o else o for o in answer["data"]]
    return answer


def _write_version(exchange: Exchange, memory: Obj, operation: str, version_id: str, now: float) -> None:
    by = ms.actor(exchange.entry.api_key_id)
    version = ms.version_object(version_id, memory, operation, by, now)
    _versions(exchange, str(memory["memory_store_id"])).add(version)


# ---------------------------------------------------------------- stores


async def _create(exchange: Exchange, raw: bytes) -> Any:
    store = ms.store_object(_next_id(exchange, "memstore_"), vw.body_object(raw), _now(exchange))
    return _stores(exchange).add(store)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    query = exchange.request.query
    archived = vw.flag(query, "include_archived")
    for bound in ("created_at[gte]", "created_at[lte]"):
        if bound in query:
            vw.stamp(query[bound], bound)
    items = _stores(exchange).where(
        lambda s: (archived or s["archived_at"] is None) and ms.in_window(s, query)
    )
    return _paged(exchange, items, "basic")


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return _store(exchange)


async def _update(exchange: Exchange, raw: bytes) -> Any:
    store = _store(exchange)
    return ms.update_store(store, vw.body_object(raw), _now(exchange))


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    ident = str(_store(exchange)["id"])
    resources = exchange.state.resources
    resources.drop(ms.memories_key(ident))
    resources.drop(ms.versions_key(ident))
    _stores(exchange).remove(ident)
    return vw.deleted("memory_store", ident)


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return vw.archive(_store(exchange), _now(exchange))


# ---------------------------------------------------------------- memories


async def _memory_create(exchange: Exchange, raw: bytes) -> Any:
    store = _store(exchange)
    view = ms.view_of(exchange.request.query, "basic")
    body = vw.body_object(raw)
    if "path" not in body:
        raise invalid("path: Field required")
    if "content" not in body:
        raise invalid("content: Field required")
    path, content = ms.check_path(body["path"]), ms.check_content(body["content"])
    ms.check_writable(store)
    store_id = str(store["id"])
    kept = _memories(exchange, store_id)
    if any(m["path"] == path for m in kept):
        raise ms.path_conflict(path)
    version_id, now = _next_id(exchange, "memver_"), _now(exchange)
    memory = ms.memory_object(_next_id(exchange, "mem_"), store_id, path, content, version_id, now)
    kept.add(memory)
    _write_version(exchange, memory, "created", version_id, now)
    return ms.shown(memory, view)


async def _memory_list(exchange: Exchange, raw: bytes) -> Any:
    store = _store(exchange)
    query = exchange.request.query
    view = ms.view_of(query, "basic")
    prefix, depth = ms.list_prefix(query)
    items = ms.listing(_memories(exchange, str(store["id"])).oldest_first(), prefix, depth)
    return _paged(exchange, items, view)


async def _memory_get(exchange: Exchange, raw: bytes) -> Any:
    _, memory = _memory(exchange)
    return ms.shown(memory, ms.view_of(exchange.request.query, "full"))


async def _memory_update(exchange: Exchange, raw: bytes) -> Any:
    store, memory = _memory(exchange)
    view = ms.view_of(exchange.request.query, "basic")
    body = vw.body_object(raw)
    path = memory["path"] if body.get("path") is None else ms.check_path(body["path"])
    content = memory["content"] if body.get("content") is None else ms.check_content(body["content"])
    ms.check_writable(store)
    ms.check_precondition(memory, body.get("precondition"))
    if path == memory["path"] and content == memory["content"]:
        return ms.shown(memory, view)  # nothing changes: no new version
    kept = _memories(exchange, str(store["id"]))
    if any(m["path"] == path and m["id"] != memory["id"] for m in kept):
        raise ms.path_conflict(path)
    version_id, now = _next_id(exchange, "memver_"), _now(exchange)
    ms.rewrite(memory, path, content, version_id, now)
    _write_version(exchange, memory, "modified", version_id, now)
    return ms.shown(memory, view)


async def _memory_delete(exchange: Exchange, raw: bytes) -> Any:
    store, memory = _memory(exchange)
    expected = exchange.request.query.get("expected_content_sha256")
    if expected is not None:
        ms.check_sha(str(memory["content_sha256"]), expected, "expected_content_sha256")
    _memories(exchange, str(store["id"])).remove(str(memory["id"]))
    _write_version(exchange, memory, "deleted", _next_id(exchange, "memver_"), _now(exchange))
    return vw.deleted("memory", str(memory["id"]))


# ---------------------------------------------------------------- versions


async def _version_list(exchange: Exchange, raw: bytes) -> Any:
    store = _store(exchange)
    query = exchange.request.query
    view = ms.view_of(query, "basic")
    items = _versions(exchange, str(store["id"])).where(ms.version_filter(query))
    return _paged(exchange, items, view)


async def _version_get(exchange: Exchange, raw: bytes) -> Any:
    return ms.shown(_version(exchange), ms.view_of(exchange.request.query, "full"))


async def _version_redact(exchange: Exchange, raw: bytes) -> Any:
    return ms.redact(_version(exchange), ms.actor(exchange.entry.api_key_id), _now(exchange))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.MEMORY_STORES, payload_route("memory_stores", _create, body_limit=_body_limit())),
    ("GET", paths.MEMORY_STORES, payload_route("memory_stores", _list)),
    ("GET", paths.MEMORY_STORE, payload_route("memory_stores", _get)),
    ("POST", paths.MEMORY_STORE, payload_route("memory_stores", _update, body_limit=_body_limit())),
    ("DELETE", paths.MEMORY_STORE, payload_route("memory_stores", _delete)),
    ("POST", paths.MEMORY_STORE_ARCHIVE, payload_route("memory_stores", _archive)),
    ("POST", paths.MEMORIES, payload_route("memory_stores", _memory_create, body_limit=_body_limit())),
    ("GET", paths.MEMORIES, payload_route("memory_stores", _memory_list)),
    ("GET", paths.MEMORY, payload_route("memory_stores", _memory_get)),
    ("POST", paths.MEMORY, payload_route("memory_stores", _memory_update, body_limit=_body_limit())),
    ("DELETE", paths.MEMORY, payload_route("memory_stores", _memory_delete)),
    ("GET", paths.MEMORY_VERSIONS, payload_route("memory_stores", _version_list)),
    ("GET", paths.MEMORY_VERSION, payload_route("memory_stores", _version_get)),
    ("POST", paths.MEMORY_VERSION_REDACT, payload_route("memory_stores", _version_redact)),
)
