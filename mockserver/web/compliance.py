"""The Compliance Review routes (``/v1/compliance/review/...``, beta): list, get and respond to
review cases, get a flagged item, list notices.

The API makes no case on request: a server has the cases that were added to its state
(:func:`mockserver.wire.compliance.add_case`, which the module describes); everything else is
pure too (:mod:`mockserver.wire.compliance`).
"""

from __future__ import annotations

from typing import Any

from mockserver.config import ServerConfig
from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import compliance as cr
from mockserver.wire import paths
from mockserver.wire.errors import invalid
from mockserver.wire.paging import cursor_page
from mockserver.wire.request_text import parse_json

_ROUTE = "compliance"


def _json(config: ServerConfig) -> int:
    return config.max_body_bytes


async def _cases(exchange: Exchange, raw: bytes) -> Any:
    cases, _, _ = cr.collections(exchange.state.resources)
    request = exchange.request
    chosen = cr.case_listing(
        cases.oldest_first(), request.query, request.headers.get("anthropic-user-profile-id")
    )
    return cursor_page(chosen, lambda c: str(c["id"]), request.query)


async def _case(exchange: Exchange, raw: bytes) -> Any:
    cases, _, _ = cr.collections(exchange.state.resources)
    return cases.get(exchange.request.match_info["case_id"])


async def _respond(exchange: Exchange, raw: bytes) -> Any:
    cases, _, _ = cr.collections(exchange.state.resources)
    case = cases.get(exchange.request.match_info["case_id"])
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    return cr.respond(case, body, exchange.state.config.wall_clock())


async def _item(exchange: Exchange, raw: bytes) -> Any:
    _, items, _ = cr.collections(exchange.state.resources)
    return items.get(exchange.request.match_info["item_id"])


async def _notices(exchange: Exchange, raw: bytes) -> Any:
    _, _, notices = cr.collections(exchange.state.resources)
    query = exchange.request.query
    return cursor_page(cr.notice_listing(notices.oldest_first(), query), lambda n: str(n["id"]), query)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("GET", paths.REVIEW_CASES, payload_route(_ROUTE, _cases)),
    ("GET", paths.REVIEW_CASE, payload_route(_ROUTE, _case)),
    ("POST", paths.REVIEW_CASE_RESPOND, payload_route(_ROUTE, _respond, body_limit=_json)),
    ("GET", paths.REVIEW_ITEM, payload_route(_ROUTE, _item)),
    ("GET", paths.REVIEW_NOTICES, payload_route(_ROUTE, _notices)),
)
