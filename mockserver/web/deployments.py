"""The Managed Agents ``/v1/deployments`` routes (create, list, retrieve, update, archive, pause,
unpause, run) and ``/v1/deployment_runs`` (list, retrieve), over :mod:`mockserver.wire.deployments`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.managed import beta_checked, body_limit
from mockserver.web.payload import payload_route
from mockserver.web.sessions import start_session
from mockserver.wire import agents, deployments, environments, managed, paths
from mockserver.wire.errors import ApiError, invalid
from mockserver.wire.paging import cursor_page
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

ROUTE = "deployments"
_ARCHIVED_AND_STATUS = "include_archived and status cannot be combined"


def _deployments(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection(deployments.KIND, deployments.NOUN)


def _runs(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection(deployments.RUN_KIND, deployments.RUN_NOUN)


def _lookups(exchange: Exchange) -> deployments.Lookups:
    resources = exchange.state.resources
    return (
        resources.collection("agent", agents.NOUN),
        resources.collection(environments.KIND, environments.NOUN),
    )


def _deployment(exchange: Exchange) -> Obj:
    beta_checked(exchange)
    return _deployments(exchange).get(exchange.request.match_info["deployment_id"])


def _now(exchange: Exchange) -> float:
    return exchange.state.config.wall_clock()


async def _create(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    ident = deployments.ID_PREFIX + exchange.state.ids.next_suffix()
    made = deployments.new_deployment(ident, parse_json(raw), _now(exchange), _lookups(exchange))
    return _deployments(exchange).add(made)


def _deployment_filter(query: Mapping[str, str]) -> Callable[[Obj], bool]:
    status, agent_id = query.get("status"), query.get("agent_id")
    if status is not None and status not in ("active", "paused"):
        raise invalid("status: Input should be 'active' or 'paused'")
    if status is not None and query.get("include_archived", "false").lower() == "true":
        raise invalid(_ARCHIVED_AND_STATUS)
    keep = managed.listing_filter(query)
    return lambda d: (
        keep(d)
        and (status is None or d["status"] == status)
        and (agent_id is None or d["agent"]["id"] == agent_id)
    )


async def _list(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    query = exchange.request.query
    return managed.listing(_deployments(exchange).where(_deployment_filter(query)), query)


async def _retrieve(exchange: Exchange, raw: bytes) -> Any:
    return _deployment(exchange)


async def _update(exchange: Exchange, raw: bytes) -> Any:
    depl = _deployment(exchange)
    changed = deployments.updated_deployment(depl, parse_json(raw), _now(exchange), _lookups(exchange))
    return _deployments(exchange).add(changed)


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return managed.archive(_deployment(exchange), _now(exchange))


async def _pause(exchange: Exchange, raw: bytes) -> Any:
    return deployments.paused(_deployment(exchange), True, _now(exchange))


async def _unpause(exchange: Exchange, raw: bytes) -> Any:
    return deployments.paused(_deployment(exchange), False, _now(exchange))


async def _run(exchange: Exchange, raw: bytes) -> Any:
    """A manual run: the session it makes is stored with the others (sessions.retrieve finds it)."""
    depl = _deployment(exchange)
    managed.refuse_if_archived(depl, deployments.NOUN)
    ident = deployments.RUN_PREFIX + exchange.state.ids.next_suffix()
    error, session_id = deployments.run_error(depl, _lookups(exchange)), None
    if error is None:
        try:
            session = start_session(exchange, deployments.session_body(depl), str(depl["id"]))
            session_id = str(session["id"])
        except ApiError as refused:
            error = deployments.rejected(refused.message)
    return _runs(exchange).add(deployments.new_run(ident, depl, _now(exchange), session_id, error))


def _run_filter(query: Mapping[str, str]) -> Callable[[Obj], bool]:
    depl, trigger, has_error = query.get("deployment_id"), query.get("trigger_type"), query.get("has_error")
    if trigger is not None and trigger not in ("schedule", "manual"):
        raise invalid("trigger_type: Input should be 'schedule' or 'manual'")
    if has_error is not None and has_error not in ("true", "false"):
        raise invalid(f"has_error: Input should be a valid boolean, got {has_error!r}")
    bounds = managed.created_bounds(query)
    return lambda r: (
        bounds(r)
        and (depl is None or r["deployment_id"] == depl)
        and (trigger is None or r["trigger_context"]["type"] == trigger)
        and (has_error is None or (r["error"] is not None) == (has_error == "true"))
    )


async def _runs_list(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    query = exchange.request.query
    return cursor_page(_runs(exchange).where(_run_filter(query)), lambda r: str(r["id"]), query)


async def _run_retrieve(exchange: Exchange, raw: bytes) -> Any:
    beta_checked(exchange)
    return _runs(exchange).get(exchange.request.match_info["deployment_run_id"])


def _route(inner: Any, *, body: bool = False) -> Route:
    return payload_route(ROUTE, inner, body_limit=body_limit if body else None)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.DEPLOYMENTS, _route(_create, body=True)),
    ("GET", paths.DEPLOYMENTS, _route(_list)),
    ("GET", paths.DEPLOYMENT, _route(_retrieve)),
    ("POST", paths.DEPLOYMENT, _route(_update, body=True)),
    ("POST", paths.DEPLOYMENT_ARCHIVE, _route(_archive)),
    ("POST", paths.DEPLOYMENT_PAUSE, _route(_pause)),
    ("POST", paths.DEPLOYMENT_UNPAUSE, _route(_unpause)),
    ("POST", paths.DEPLOYMENT_RUN, _route(_run)),
    ("GET", paths.DEPLOYMENT_RUNS, _route(_runs_list)),
    ("GET", paths.DEPLOYMENT_RUN_ONE, _route(_run_retrieve)),
)
