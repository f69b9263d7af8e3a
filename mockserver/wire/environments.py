"""Managed Agents ``environment`` objects (``/v1/environments``): where an agent's sessions run,
either in the cloud (networking and packages) or self-hosted (a worker polls for work, see
:mod:`mockserver.wire.work`).

An archived environment is still read and listed (with ``include_archived``) but cannot be
updated (the 400 ``environment_archived`` names it); an update cannot turn a cloud environment
into a self-hosted one or back (``invalid_config_type_change``). Pure functions over plain dicts;
the routes are :mod:`mockserver.web.environments`.
"""

from __future__ import annotations

from typing import Any

from mockserver.wire import managed
from mockserver.wire.errors import invalid
from mockserver.wire.resources import Obj, timestamp

ID_PREFIX = "env_"
NOUN = "Environment"
KIND = "environment"  # the collection's key in the server's resources
SCOPES = ("organization", "account")
DEFAULT_SCOPE = "organization"  # what an API organization gets ("account" is rejected there)
PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")
FIELDS = frozenset(("config", "description", "metadata", "name", "scope"))


def _strings(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise invalid(f"{where}: Input should be a valid list of strings")
    return list(raw)


def _networking(raw: Any) -> Obj:
    if raw is None:
        return {"type": "unrestricted"}
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "unrestricted":
        return {"type": "unrestricted"}
    if kind != "limited":
        raise invalid("config.networking.type: Input should be 'unrestricted' or 'limited'")
    return {
        "allow_mcp_servers": raw.get("allow_mcp_servers") is True,
        "allow_package_managers": raw.get("allow_package_managers") is True,
        "allowed_hosts": _strings(raw.get("allowed_hosts"), "config.networking.allowed_hosts"),
        "type": "limited",
    }


def _packages(raw: Any) -> Obj:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise invalid("config.packages: Input should be a valid dictionary")
    made: Obj = {name: _strings(raw.get(name), f"config.packages.{name}") for name in PACKAGE_MANAGERS}
    made["type"] = "packages"
    return made


def config(raw: Any) -> Obj:
    """The stored configuration (an omitted one is a cloud environment with open networking)."""
    if raw is None:
        raw = {"type": "cloud"}
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "self_hosted":
        return {"type": "self_hosted"}
    if kind != "cloud":
        raise invalid("config.type: Input should be 'cloud' or 'self_hosted'")
    return {
        "networking": _networking(raw.get("networking")),
        "packages": _packages(raw.get("packages")),
        "type": "cloud",
    }


def _scope(raw: Any) -> str:
    if raw is None:
        return DEFAULT_SCOPE
    if raw not in SCOPES:
        raise invalid("scope: Input should be 'organization' or 'account'")
    if raw == "account":
        raise invalid("scope: API organizations support only 'organization'; 'account' is rejected")
    return str(raw)


def new_environment(ident: str, body: Any, now: float) -> Obj:
    """An environment from a create body (the 400 naming the field when it is wrong)."""
    body = managed.body_dict(body, FIELDS)
    stamp = timestamp(now)
    return {
        "id": ident,
        "type": "environment",
        "archived_at": None,
        "config": config(body.get("config")),
        "created_at": stamp,
        "description": managed.optional_str(body.get("description"), "description"),
        "metadata": managed.metadata(body.get("metadata")),
        "name": managed.required_str(body, "name"),
        "scope": _scope(body.get("scope")),
        "updated_at": stamp,
    }


def updated_environment(env: Obj, body: Any, now: float) -> Obj:
    """``env`` after an update body: fields present replace, metadata is patched (a key set to
    null or "" is deleted); the 400s for an archived environment or a change of config type."""
    body = managed.body_dict(body, FIELDS)
    if env.get("archived_at") is not None:
        raise invalid(
            f"Environment {env['id']} is archived and cannot be updated.", code="environment_archived"
        )
    changed = dict(env)
    if body.get("config") is not None:
        made = config(body["config"])
        if made["type"] != env["config"]["type"]:
            raise invalid(
                f"config.type: cannot change an environment's config from {env['config']['type']!r}"
                f" to {made['type']!r}",
                code="invalid_config_type_change",
            )
        changed["config"] = made
    if "description" in body:  # null clears; "" is stored as ""
        value = body["description"]
        if value is not None and not isinstance(value, str):
            raise invalid("description: Input should be a valid string")
        changed["description"] = value
    if body.get("name") is not None:
        changed["name"] = managed.nonempty_str(body["name"], "name")
    if body.get("scope") is not None:
        changed["scope"] = _scope(body["scope"])
    if body.get("metadata") is not None:
        patch = body["metadata"]
        if isinstance(patch, dict):
            patch = {k: (None if v == "" else v) for k, v in patch.items()}
        changed["metadata"] = managed.metadata(patch, env["metadata"])
    if changed != env:
        changed["updated_at"] = timestamp(now)
    return changed


def deleted(ident: str) -> Obj:
    return {"id": ident, "type": "environment_deleted"}
