"""The User Profiles routes (``/v1/user_profiles``, GA and beta alike: the beta client sends the
same routes with a ``user-profiles-*`` beta header, which picks the shape of the answer):
create, list, get, update, delete, a profile's action and enrollment URLs, and its
Google-managed data controls.

The checks, the stored record and its shapes are pure (:mod:`mockserver.wire.user_profiles`).
"""

from __future__ import annotations

from typing import Any

from mockserver.config import ServerConfig
from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import paths
from mockserver.wire import user_profiles as up
from mockserver.wire.errors import invalid
from mockserver.wire.paging import cursor_page
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

_ROUTE = "user_profiles"


def _json(config: ServerConfig) -> int:
    return config.max_body_bytes


_STATUSES = ("unrestricted", "pending", "restricted", "banned")


def _betas(exchange: Exchange) -> str:
    return ",".join(exchange.request.headers.getall("anthropic-beta", []))


def _version(exchange: Exchange) -> str | None:
    return up.header_version(_betas(exchange))


def _profiles(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((up.KIND,), up.NOUN)


def _profile(exchange: Exchange) -> Obj:
    return _profiles(exchange).get(exchange.request.match_info["user_profile_id"])


def _controls(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((up.CONTROLS,), "Data controls")


def _base(exchange: Exchange) -> str:
    request = exchange.request
    return (exchange.state.config.public_url or f"{request.scheme}://{request.host}").rstrip("/")


async def _create(exchange: Exchange, raw: bytes) -> Any:
    version, now = _version(exchange), exchange.state.config.wall_clock()
    changes = up.check_fields(up.object_body(raw, parse_json), version, now, updating=False)
    record = up.new_profile("uprof_" + exchange.state.ids.next_suffix(), changes, now)
    return up.render(_profiles(exchange).add(record), version)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    query, version = exchange.request.query, _version(exchange)
    up.check_limit(query)
    wanted = query.getall("enforcement_status[]", []) + query.getall("enforcement_status", [])
    if wanted and version is not None and version <= "user-profiles-2026-09-04":
        raise invalid(f"enforcement_status: not accepted under the {version} beta header")
    for status in wanted:
        if status not in _STATUSES:
            raise invalid("enforcement_status: Input should be one of " + ", ".join(_STATUSES))
    records = up.listing(_profiles(exchange).oldest_first(), query)
    if wanted and "unrestricted" not in wanted:  # every profile the mock keeps is unrestricted
        records = []
    answer = cursor_page(records, lambda r: str(r["id"]), query)
    answer["data"] = [up.render(r, version) for r in answer["data"]]
    return answer


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return up.render(_profile(exchange), _version(exchange))


async def _update(exchange: Exchange, raw: bytes) -> Any:
    record, version, now = _profile(exchange), _version(exchange), exchange.state.config.wall_clock()
    changes = up.check_fields(up.object_body(raw, parse_json), version, now, updating=True)
    updated = up.apply_changes({**record, "metadata": dict(record["metadata"])}, changes, now)
    record.update(updated)  # only once every check passed
    return up.render(record, version)


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    ident = str(_profile(exchange)["id"])
    _profiles(exchange).remove(ident)
    controls = _controls(exchange)
    if ident in controls:
        controls.remove(ident)
    return {"id": ident, "type": "user_profile_deleted"}


async def _action_url(exchange: Exchange, raw: bytes) -> Any:
    record = _profile(exchange)
    action = up.check_action(up.object_body(raw, parse_json))
    url = _base(exchange) + up.link_path(str(record["id"]), action)
    return up.link("user_profile_action_url", url, exchange.state.config.wall_clock())


async def _enrollment_url(exchange: Exchange, raw: bytes) -> Any:
    record = _profile(exchange)
    up.object_body(raw, parse_json)
    url = _base(exchange) + up.link_path(str(record["id"]), "enrollment")
    return up.link("enrollment_url", url, exchange.state.config.wall_clock())


def _profile_controls(exchange: Exchange) -> Obj:
    """The profile's data controls (made, both off, on first use); 400 without the beta."""
    if up.DATA_CONTROLS_BETA not in _betas(exchange):
        raise invalid(f"This endpoint is in beta: send {up.DATA_CONTROLS_BETA} in the anthropic-beta header")
    record = _profile(exchange)
    kept = _controls(exchange)
    found = kept.find(str(record["id"]))
    return found or kept.add(up.new_controls(str(record["id"]), str(record["created_at"])))


async def _controls_get(exchange: Exchange, raw: bytes) -> Any:
    return up.render_controls(_profile_controls(exchange))


async def _controls_update(exchange: Exchange, raw: bytes) -> Any:
    controls = _profile_controls(exchange)
    body = up.object_body(raw, parse_json)
    return up.render_controls(up.update_controls(controls, body, exchange.state.config.wall_clock()))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.USER_PROFILES, payload_route(_ROUTE, _create, body_limit=_json)),
    ("GET", paths.USER_PROFILES, payload_route(_ROUTE, _list)),
    ("GET", paths.USER_PROFILE, payload_route(_ROUTE, _get)),
    ("POST", paths.USER_PROFILE, payload_route(_ROUTE, _update, body_limit=_json)),
    ("DELETE", paths.USER_PROFILE, payload_route(_ROUTE, _delete)),
    ("POST", paths.USER_PROFILE_ACTION_URLS, payload_route(_ROUTE, _action_url, body_limit=_json)),
    ("POST", paths.USER_PROFILE_ENROLLMENT_URL, payload_route(_ROUTE, _enrollment_url, body_limit=_json)),
    ("GET", paths.USER_PROFILE_GOOGLE_DATA_CONTROLS, payload_route(_ROUTE, _controls_get)),
    (
        "POST",
        paths.USER_PROFILE_GOOGLE_DATA_CONTROLS,
        payload_route(_ROUTE, _controls_update, body_limit=_json),
    ),
)
