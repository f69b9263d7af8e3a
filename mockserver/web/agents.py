"""The Managed Agents ``/v1/agents`` routes: create, list, retrieve (any version), update (a new
version), archive, and the versions list, over the pure objects of :mod:`mockserver.wire.agents`.

Every version of an agent is kept in its own collection (``("agent_version", agent_id)``), so
``retrieve(version=n)`` and ``versions.list`` answer from what each update made.
"""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.managed import beta_checked, body_limit
from mockserver.web.payload import payload_route
from mockserver.wire import agents, managed, paths
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

ROUTE = "agents"


def _agents(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection("agent", agents.NOUN)


def _versions(exchange: Exchange, agent_id: str) -> Collection:
    return agents.versions(exchange.state.resources, agent_id)


def _agent(exchange: Exchange) -> Obj:
    beta_checked(exchange)
    return _agents(exchange).get(exchange.request.match_info["agent_id"])


def _keep_version(exchange: Exchange, agent: Obj) -> None:
    _versions(exchange, str(agent["id"])).add({"id": str(agent["version"]), "agent": dict(agent)})


async def _create(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    state = exchange.state
    agent = agents.new_agent(
        agents.ID_PREFIX + state.ids.next_suffix(), parse_json(raw), state.config.wall_clock()
    )
    _agents(exchange).add(agent)
    _keep_version(exchange, agent)
    return agent


async def _list(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    query = exchange.request.query
    return managed.listing(_agents(exchange).where(managed.listing_filter(query)), query)


async def _retrieve(exchange: Exchange, raw: bytes) -> Any:
    agent = _agent(exchange)
    number = agents.version_number(exchange.request.query.get("version"))
    return agents.at_version(exchange.state.resources, agent, number)


async def _update(exchange: Exchange, raw: bytes) -> Any:
    agent = _agent(exchange)
    changed = agents.updated_agent(agent, parse_json(raw), exchange.state.config.wall_clock())
    if changed is None:
        return agent
    _agents(exchange).add(changed)
    _keep_version(exchange, changed)
    return changed


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return managed.archive(_agent(exchange), exchange.state.config.wall_clock())


async def _versions_list(exchange: Exchange, raw: bytes) -> Any:
    agent = _agent(exchange)
    kept = [
        {**v["agent"], "archived_at": agent["archived_at"]}
        for v in _versions(exchange, str(agent["id"])).newest_first()
    ]
    return managed.listing(kept, exchange.request.query, ident=lambda o: str(o["version"]))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.AGENTS, payload_route(ROUTE, _create, body_limit=body_limit)),
    ("GET", paths.AGENTS, payload_route(ROUTE, _list)),
    ("GET", paths.AGENT, payload_route(ROUTE, _retrieve)),
    ("POST", paths.AGENT, payload_route(ROUTE, _update, body_limit=body_limit)),
    ("POST", paths.AGENT_ARCHIVE, payload_route(ROUTE, _archive)),
    ("GET", paths.AGENT_VERSIONS, payload_route(ROUTE, _versions_list)),
)
