"""The MCP Tunnels routes (``/v1/tunnels``, beta: each needs the ``mcp-tunnels-2026-06-22``
beta header): create, list, get, archive, reveal and rotate a tunnel's connector token, and the
CA certificates of a tunnel (register, list, get, archive).

The objects and the checks are pure (:mod:`mockserver.wire.tunnels`); here a token's secret is
drawn from the operating system's randomness.
"""

from __future__ import annotations

import secrets
from typing import Any

from mockserver.config import ServerConfig
from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import paths
from mockserver.wire import tunnels as tn
from mockserver.wire.paging import cursor_page
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj

_ROUTE = "tunnels"


def _json(config: ServerConfig) -> int:
    return config.max_body_bytes


def _tunnels(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((tn.TUNNELS,), tn.NOUN)


def _tokens(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((tn.TOKENS,), "Tunnel token")


def _tunnel(exchange: Exchange) -> Obj:
    """The tunnel the URL names (400 without the beta header, 404 when unknown)."""
    tn.check_beta(",".join(exchange.request.headers.getall("anthropic-beta", [])))
    return _tunnels(exchange).get(exchange.request.match_info["tunnel_id"])


def _certificates(exchange: Exchange, tunnel_id: str) -> Collection:
    return exchange.state.resources.collection(tn.certificates_key(tunnel_id), tn.CERT_NOUN)


def _new_token(exchange: Exchange, tunnel_id: str) -> Obj:
    token_id = tn.TOKEN_PREFIX + exchange.state.ids.next_suffix()
    secret = "busysignal-tunnel-" + secrets.token_urlsafe(32)
    return _tokens(exchange).add(tn.token_record(tunnel_id, token_id, secret))


async def _create(exchange: Exchange, raw: bytes) -> Any:
    tn.check_beta(",".join(exchange.request.headers.getall("anthropic-beta", [])))
    body = tn.object_body(raw, parse_json)
    state = exchange.state
    tunnel = tn.tunnel_object("tnl_" + state.ids.next_suffix(), body, state.config.wall_clock())
    _new_token(exchange, str(tunnel["id"]))
    return _tunnels(exchange).add(tunnel)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    tn.check_beta(",".join(exchange.request.headers.getall("anthropic-beta", [])))
    query = exchange.request.query
    archived = tn.include_archived(query)
    items = _tunnels(exchange).where(lambda t: archived or t["archived_at"] is None)
    return cursor_page(items, lambda t: str(t["id"]), query)


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return _tunnel(exchange)


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return tn.archive(_tunnel(exchange), exchange.state.config.wall_clock())


async def _reveal(exchange: Exchange, raw: bytes) -> Any:
    tunnel = _tunnel(exchange)
    kept = _tokens(exchange).find(str(tunnel["id"])) or _new_token(exchange, str(tunnel["id"]))
    return tn.token_object(kept)


async def _rotate(exchange: Exchange, raw: bytes) -> Any:
    tunnel = _tunnel(exchange)
    tn.check_rotate(tn.object_body(raw, parse_json))
    return tn.token_object(_new_token(exchange, str(tunnel["id"])))


async def _cert_create(exchange: Exchange, raw: bytes) -> Any:
    tunnel = _tunnel(exchange)
    pem = tn.read_pem(tn.object_body(raw, parse_json))
    state = exchange.state
    ident = "tcrt_" + state.ids.next_suffix()
    cert = tn.certificate_object(ident, str(tunnel["id"]), pem, state.config.wall_clock())
    return _certificates(exchange, str(tunnel["id"])).add(cert)


async def _cert_list(exchange: Exchange, raw: bytes) -> Any:
    tunnel = _tunnel(exchange)
    query = exchange.request.query
    archived = tn.include_archived(query)
    items = _certificates(exchange, str(tunnel["id"])).where(lambda c: archived or c["archived_at"] is None)
    return cursor_page(items, lambda c: str(c["id"]), query)


def _certificate(exchange: Exchange) -> Obj:
    tunnel = _tunnel(exchange)
    return _certificates(exchange, str(tunnel["id"])).get(exchange.request.match_info["certificate_id"])


async def _cert_get(exchange: Exchange, raw: bytes) -> Any:
    return _certificate(exchange)


async def _cert_archive(exchange: Exchange, raw: bytes) -> Any:
    return tn.archive(_certificate(exchange), exchange.state.config.wall_clock())


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.TUNNELS, payload_route(_ROUTE, _create, body_limit=_json)),
    ("GET", paths.TUNNELS, payload_route(_ROUTE, _list)),
    ("GET", paths.TUNNEL, payload_route(_ROUTE, _get)),
    ("POST", paths.TUNNEL_ARCHIVE, payload_route(_ROUTE, _archive, body_limit=_json)),
    ("POST", paths.TUNNEL_REVEAL_TOKEN, payload_route(_ROUTE, _reveal, body_limit=_json)),
    ("POST", paths.TUNNEL_ROTATE_TOKEN, payload_route(_ROUTE, _rotate, body_limit=_json)),
    ("POST", paths.TUNNEL_CERTIFICATES, payload_route(_ROUTE, _cert_create, body_limit=_json)),
    ("GET", paths.TUNNEL_CERTIFICATES, payload_route(_ROUTE, _cert_list)),
    ("GET", paths.TUNNEL_CERTIFICATE, payload_route(_ROUTE, _cert_get)),
    ("POST", paths.TUNNEL_CERTIFICATE_ARCHIVE, payload_route(_ROUTE, _cert_archive, body_limit=_json)),
)
