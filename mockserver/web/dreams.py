"""The Dreams routes (``/v1/dreams``): create, list, retrieve, archive, cancel, over
:mod:`mockserver.wire.dreams`; every dream is brought up to date on the scenario clock as it is
read."""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.managed import beta_checked, body_limit
from mockserver.web.payload import payload_route
from mockserver.wire import dreams, managed, paths
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

ROUTE = "dreams"


def _dreams(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection(dreams.KIND, dreams.NOUN)


def _record(exchange: Exchange) -> Obj:
    beta_checked(exchange, dreams.BETA)
    return _dreams(exchange).get(exchange.request.match_info["dream_id"])


async def _create(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange, dreams.BETA)
    state = exchange.state
    ident = dreams.ID_PREFIX + state.ids.next_suffix()
    store = dreams.MEMORY_STORE_PREFIX + state.ids.next_suffix()
    record = dreams.new_dream(ident, parse_json(raw), state.config.wall_clock(), state.clock(), store)
    return _dreams(exchange).add(record)["dream"]


async def _list(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange, dreams.BETA)
    query = exchange.request.query
    wanted = dreams.statuses([*query.getall("statuses[]", []), *query.getall("statuses", [])])
    keep = managed.listing_filter(query)
    clock = exchange.state.clock()
    current = [dreams.advanced(r, clock) for r in _dreams(exchange).newest_first()]
    kept = [d for d in current if keep(d) and (wanted is None or d["status"] in wanted)]
    return managed.listing(kept, query)


async def _retrieve(exchange: Exchange, raw: bytes) -> Any:
    return dreams.advanced(_record(exchange), exchange.state.clock())


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    state = exchange.state
    return dreams.archive(_record(exchange), state.clock(), state.config.wall_clock())


async def _cancel(exchange: Exchange, raw: bytes) -> Any:
    state = exchange.state
    return dreams.cancel(_record(exchange), state.clock(), state.config.wall_clock())


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.DREAMS, payload_route(ROUTE, _create, body_limit=body_limit)),
    ("GET", paths.DREAMS, payload_route(ROUTE, _list)),
    ("GET", paths.DREAM, payload_route(ROUTE, _retrieve)),
    ("POST", paths.DREAM_ARCHIVE, payload_route(ROUTE, _archive)),
    ("POST", paths.DREAM_CANCEL, payload_route(ROUTE, _cancel)),
)
