"""The Managed Agents ``/v1/environments`` routes: create, list, retrieve, update, delete,
archive, and the work queue of a self-hosted environment (list, poll, stats, retrieve, update,
ack, heartbeat, stop) over :mod:`mockserver.wire.environments` and :mod:`mockserver.wire.work`.

A poll with ``block_ms`` waits that long (1-999 ms) for work to arrive before it answers that
there is none.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.managed import beta_checked, body_limit
from mockserver.web.payload import payload_route
from mockserver.wire import environments, managed, paths, work
from mockserver.wire.errors import invalid
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

ROUTE = "environments"


def _environments(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection(environments.KIND, environments.NOUN)


def _environment(exchange: Exchange) -> Obj:
    beta_checked(exchange)
    return _environments(exchange).get(exchange.request.match_info["environment_id"])


def _record(exchange: Exchange) -> Obj:
    env = _environment(exchange)
    return work.queue(exchange.state.resources, str(env["id"])).get(exchange.request.match_info["work_id"])


def _now(exchange: Exchange) -> float:
    return exchange.state.config.wall_clock()


async def _create(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    ident = environments.ID_PREFIX + exchange.state.ids.next_suffix()
    return _environments(exchange).add(environments.new_environment(ident, parse_json(raw), _now(exchange)))


async def _list(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    query = exchange.request.query
    return managed.listing(_environments(exchange).where(managed.listing_filter(query)), query)


async def _retrieve(exchange: Exchange, raw: bytes) -> Any:
    return _environment(exchange)


async def _update(exchange: Exchange, raw: bytes) -> Any:
    env = _environment(exchange)
    return _environments(exchange).add(environments.updated_environment(env, parse_json(raw), _now(exchange)))


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    env = _environment(exchange)
    _environments(exchange).remove(str(env["id"]))
    exchange.state.resources.drop(work.work_key(str(env["id"])))
    exchange.state.resources.drop(work.workers_key(str(env["id"])))
    return environments.deleted(str(env["id"]))


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return managed.archive(_environment(exchange), _now(exchange))


async def _work_list(exchange: Exchange, raw: bytes) -> Any:
    env = _environment(exchange)
    records = work.queue(exchange.state.resources, str(env["id"])).newest_first()
    return managed.listing([work.public(r) for r in records], exchange.request.query)


def _ms(exchange: Exchange, name: str, low: int, high: int | None) -> int | None:
    raw = exchange.request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{name}: Input should be an integer {bound}")
    return int(raw)


async def _poll(exchange: Exchange, raw: bytes) -> Any:
    env = _environment(exchange)
    block_ms = _ms(exchange, "block_ms", 1, 999)
    reclaim = _ms(exchange, "reclaim_older_than_ms", 0, None)
    state, worker = exchange.state, exchange.request.headers.get("anthropic-worker-id")
    found = work.poll(state.resources, str(env["id"]), state.clock(), reclaim, worker)
    if found is None and block_ms is not None:
        await asyncio.sleep(block_ms / 1000.0)
        found = work.poll(state.resources, str(env["id"]), state.clock(), reclaim, worker)
    if found is None:
        headers = state.response_headers(exchange.entry, {"content-type": "application/json"})
        return web.Response(status=200, body=b"null", headers=headers)
    return found


async def _stats(exchange: Exchange, raw: bytes) -> Any:
    env = _environment(exchange)
    return work.stats(exchange.state.resources, str(env["id"]), exchange.state.clock())


async def _work_retrieve(exchange: Exchange, raw: bytes) -> Any:
    return work.public(_record(exchange))


async def _work_update(exchange: Exchange, raw: bytes) -> Any:
    return work.update(_record(exchange), parse_json(raw))


async def _ack(exchange: Exchange, raw: bytes) -> Any:
    return work.ack(_record(exchange), _now(exchange))


async def _heartbeat(exchange: Exchange, raw: bytes) -> Any:
    query = exchange.request.query
    return work.heartbeat(
        _record(exchange),
        _now(exchange),
        query.get("desired_ttl_seconds"),
        query.get("expected_last_heartbeat"),
    )


async def _stop(exchange: Exchange, raw: bytes) -> Any:
    record = _record(exchange)
    return work.stop(record, parse_json(raw) if raw.strip() else {}, _now(exchange))


def _route(inner: Any, *, body: bool = False) -> Route:
    return payload_route(ROUTE, inner, body_limit=body_limit if body else None)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.ENVIRONMENTS, _route(_create, body=True)),
    ("GET", paths.ENVIRONMENTS, _route(_list)),
    ("GET", paths.ENVIRONMENT, _route(_retrieve)),
    ("POST", paths.ENVIRONMENT, _route(_update, body=True)),
    ("DELETE", paths.ENVIRONMENT, _route(_delete)),
    ("POST", paths.ENVIRONMENT_ARCHIVE, _route(_archive)),
    ("GET", paths.WORK_LIST, _route(_work_list)),
    ("GET", paths.WORK_POLL, _route(_poll)),
    ("GET", paths.WORK_STATS, _route(_stats)),
    ("GET", paths.WORK, _route(_work_retrieve)),
    ("POST", paths.WORK, _route(_work_update, body=True)),
    ("POST", paths.WORK_ACK, _route(_ack)),
    ("POST", paths.WORK_HEARTBEAT, _route(_heartbeat)),
    ("POST", paths.WORK_STOP, _route(_stop, body=True)),
)
