"""The Vaults routes of the managed-agents beta (``client.beta.vaults`` and its ``credentials``):
create, list, get, update, delete and archive a vault or a credential, and validate an MCP OAuth
credential. The objects and their checks are :mod:`mockserver.wire.vaults`; here is only the
aiohttp shell. Deleting a vault forgets its credentials.
"""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import BodyLimit, Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import paths
from mockserver.wire import vaults as vw
from mockserver.wire.paging import cursor_page
from mockserver.wire.resources import Collection, Obj


def _body_limit() -> BodyLimit:
    return lambda c: c.max_body_bytes


def _vaults(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((vw.VAULTS,), "Vault")


def _vault(exchange: Exchange) -> Obj:
    return _vaults(exchange).get(exchange.request.match_info["vault_id"])


def _credentials(exchange: Exchange, vault_id: str) -> Collection:
    return exchange.state.resources.collection(vw.credentials_key(vault_id), "Credential")


def _credential(exchange: Exchange) -> Obj:
    vault = _vault(exchange)
    return _credentials(exchange, str(vault["id"])).get(exchange.request.match_info["credential_id"])


def _now(exchange: Exchange) -> float:
    return exchange.state.config.wall_clock()


def _listed(exchange: Exchange, kept: Collection) -> Any:
    query = exchange.request.query
    vw.check_limit(query)
    archived = vw.flag(query, "include_archived")
    items = kept.where(lambda o: archived or o["archived_at"] is None)
    return cursor_page(items, lambda o: str(o["id"]), query)


async def _create(exchange: Exchange, raw: bytes) -> Any:
    body = vw.body_object(raw)
    vault = vw.vault_object("vlt_" + exchange.state.ids.next_suffix(), body, _now(exchange))
    return _vaults(exchange).add(vault)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    return _listed(exchange, _vaults(exchange))


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return _vault(exchange)


async def _update(exchange: Exchange, raw: bytes) -> Any:
    vault = _vault(exchange)
    return vw.update_vault(vault, vw.body_object(raw), _now(exchange))


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    ident = str(_vault(exchange)["id"])
    exchange.state.resources.drop(vw.credentials_key(ident))
    _vaults(exchange).remove(ident)
    return vw.deleted("vault", ident)


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    return vw.archive(_vault(exchange), _now(exchange))


async def _credential_create(exchange: Exchange, raw: bytes) -> Any:
    vault_id = str(_vault(exchange)["id"])
    body = vw.body_object(raw)
    ident = "vcrd_" + exchange.state.ids.next_suffix()
    credential = vw.credential_object(ident, vault_id, body, _now(exchange))
    return _credentials(exchange, vault_id).add(credential)


async def _credential_list(exchange: Exchange, raw: bytes) -> Any:
    return _listed(exchange, _credentials(exchange, str(_vault(exchange)["id"])))


async def _credential_get(exchange: Exchange, raw: bytes) -> Any:
    return _credential(exchange)


async def _credential_update(exchange: Exchange, raw: bytes) -> Any:
    credential = _credential(exchange)
    return vw.update_credential(credential, vw.body_object(raw), _now(exchange))


async def _credential_delete(exchange: Exchange, raw: bytes) -> Any:
    credential = _credential(exchange)
    ident = str(credential["id"])
    _credentials(exchange, str(credential["vault_id"])).remove(ident)
    return vw.deleted("vault_credential", ident)


async def _credential_archive(exchange: Exchange, raw: bytes) -> Any:
    return vw.archive(_credential(exchange), _now(exchange))


async def _credential_validate(exchange: Exchange, raw: bytes) -> Any:
    return vw.validation(_credential(exchange), _now(exchange))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.VAULTS, payload_route("vaults", _create, body_limit=_body_limit())),
    ("GET", paths.VAULTS, payload_route("vaults", _list)),
    ("GET", paths.VAULT, payload_route("vaults", _get)),
    ("POST", paths.VAULT, payload_route("vaults", _update, body_limit=_body_limit())),
    ("DELETE", paths.VAULT, payload_route("vaults", _delete)),
    ("POST", paths.VAULT_ARCHIVE, payload_route("vaults", _archive)),
    ("POST", paths.CREDENTIALS, payload_route("vaults", _credential_create, body_limit=_body_limit())),
    ("GET", paths.CREDENTIALS, payload_route("vaults", _credential_list)),
    ("GET", paths.CREDENTIAL, payload_route("vaults", _credential_get)),
    ("POST", paths.CREDENTIAL, payload_route("vaults", _credential_update, body_limit=_body_limit())),
    ("DELETE", paths.CREDENTIAL, payload_route("vaults", _credential_delete)),
    ("POST", paths.CREDENTIAL_ARCHIVE, payload_route("vaults", _credential_archive)),
    ("POST", paths.CREDENTIAL_VALIDATE, payload_route("vaults", _credential_validate)),
)
