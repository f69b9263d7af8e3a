"""Vaults and their credentials (the managed-agents beta) as the API keeps them: the ``vault`` and
``vault_credential`` objects, their ``*_deleted`` answers, the checks a create or update body
passes, and the answer of an MCP OAuth credential's validation probe; with the few body checks
(required strings, ``metadata`` and its patch, ``include_archived``, the list ``limit`` of 100)
the memory stores share.

**Secrets are write-only.** A credential's secret values (``token``, ``access_token``,
``refresh_token``, ``client_secret``, ``secret_value``) are checked and then dropped: the mock keeps
only what the API answers in their place (the auth's ``type``, URLs, names, the refresh
configuration without its token), so no answer can echo a secret.

**Validation probe.** The mock reaches no MCP server; its verdict follows the stored expiry: an
access token not known to be expired is ``valid``; an expired one with a refresh configuration is
``unknown`` after a ``succeeded`` refresh (the docs' case of a new token not yet tested); an
expired one without is ``invalid``, the probe's ``initialize`` answered 401 and the refresh
``no_refresh_token``.

Pure: no aiohttp. Hand-written: a few dictionary checks, nothing a library would make shorter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Obj, timestamp

VAULTS = "vault"
MAX_NAME = 255
MAX_METADATA, MAX_KEY, MAX_VALUE = 16, 64, 512
MAX_LIST = 100
MAX_HOSTS = 16
AUTH_TYPES = ("mcp_oauth", "static_bearer", "environment_variable")
ENDPOINT_AUTH_TYPES = ("none", "client_secret_basic", "client_secret_post")


def credentials_key(vault_id: str) -> tuple[str, str]:
    return ("vault_credential", vault_id)


# ---------------------------------------------------------------- body checks (shared)


def body_object(raw: bytes) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``), or the 400."""
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    return body


def text(
    body: Mapping[str, Any], name: str, *, required: bool = False, most: int | None = None
) -> str | None:
    """The string field ``name`` (``None`` when absent or null, unless ``required``)."""
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name}: Field required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid string")
    if required and not value:
        raise invalid(f"{name}: String should have at least 1 character")
    if most is not None and len(value) > most:
        raise invalid(f"{name}: String should have at most {most} characters")
    return value


def metadata(raw: Any, name: str = "metadata") -> dict[str, str]:
    """A ``metadata`` object: at most 16 pairs, keys 1-64 and values up to 512 characters."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"{name}: Input should be a valid dictionary")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"{name}.{key}: Input should be a valid string")
    return _bounded_metadata(raw, name)


def _bounded_metadata(found: dict[str, str], name: str) -> dict[str, str]:
    if len(found) > MAX_METADATA:
        raise invalid(f"{name}: at most {MAX_METADATA} key-value pairs are allowed")
    for key, value in found.items():
        if not 1 <= len(key) <= MAX_KEY:
            raise invalid(f"{name}: keys must be 1 to {MAX_KEY} characters long")
        if len(value) > MAX_VALUE:
            raise invalid(f"{name}.{key}: values must be at most {MAX_VALUE} characters long")
    return found


def patch_metadata(current: Mapping[str, str], patch: Any) -> dict[str, str]:
    """``current`` with a metadata patch applied: a string upserts its key, null removes it."""
    if patch is None:
        return dict(current)
    if not isinstance(patch, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, str):
            merged[key] = value
        else:
            raise invalid(f"metadata.{key}: Input should be a valid string")
    return _bounded_metadata(merged, "metadata")


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise invalid(f"{name}: Input should be a valid boolean")
    return raw in ("true", "1")


def check_limit(query: Mapping[str, str], most: int = MAX_LIST) -> None:
    """The 400 for a ``limit`` past this list's maximum (the paging checks the rest)."""
    try:
        limit = int(query.get("limit", "0"))
    except ValueError:
        return  # not a number: the paging's own 400
    if limit > most:
        raise invalid(f"limit: Input should be less than or equal to {most}")


def stamp(raw: Any, name: str) -> datetime:
    """An RFC 3339 timestamp from a body or query, or the 400."""
    if not isinstance(raw, str):
        raise invalid(f"{name}: Input should be a valid datetime")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise invalid(f"{name}: Input should be a valid datetime") from None
    if moment.tzinfo is None:
        raise invalid(f"{name}: Input should have timezone info")
    return moment


def deleted(kind: str, ident: str) -> dict[str, Any]:
    return {"id": ident, "type": f"{kind}_deleted"}


def archive(obj: Obj, now: float) -> Obj:
    """The object archived now (an archived one stays as it is)."""
    if obj.get("archived_at") is None:
        obj["archived_at"] = obj["updated_at"] = timestamp(now)
    return obj


# ---------------------------------------------------------------- vaults


def vault_object(ident: str, body: Mapping[str, Any], now: float) -> Obj:
    name = text(body, "display_name", required=True, most=MAX_NAME)
    moment = timestamp(now)
    return {
        "type": "vault",
        "id": ident,
        "display_name": name,
        "metadata": metadata(body.get("metadata")),
        "archived_at": None,
        "created_at": moment,
        "updated_at": moment,
    }


def update_vault(vault: Obj, body: Mapping[str, Any], now: float) -> Obj:
    name = text(body, "display_name", most=MAX_NAME)
    if name == "":
        raise invalid("display_name: String should have at least 1 character")
    changed = {"metadata": patch_metadata(vault["metadata"], body.get("metadata"))}
    if name is not None:
        changed["display_name"] = name  # type: ignore[assignment]
    vault.update(changed)
    vault["updated_at"] = timestamp(now)
    return vault


# ---------------------------------------------------------------- credentials


def _auth_part(raw: Any, name: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{name}: Input should be a valid dictionary")
    return raw


def _secret(body: Mapping[str, Any], name: str) -> None:
    """A write-only secret: checked, never kept."""
    text(body, name, required=True)


def _future(raw: Any, name: str, now: float) -> str | None:
    if raw is None:
        return None
    moment = stamp(raw, name)
    if moment.timestamp() <= now:
        raise invalid(f"{name}: must be in the future")
    return timestamp(moment.timestamp())


def _endpoint_auth(raw: Any) -> dict[str, Any]:
    auth = _auth_part(raw, "auth.refresh.token_endpoint_auth")
    kind = auth.get("type")
    if kind not in ENDPOINT_AUTH_TYPES:
        raise invalid(
            f"auth.refresh.token_endpoint_auth.type: Input should be one of {', '.join(ENDPOINT_AUTH_TYPES)}"
        )
    if kind != "none":
        text(auth, "client_secret", required=True)
    return {"type": kind}


def _refresh(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    refresh = _auth_part(raw, "auth.refresh")
    text(refresh, "refresh_token", required=True)
    if "token_endpoint_auth" not in refresh:
        raise invalid("auth.refresh.token_endpoint_auth: Field required")
    return {
        "client_id": text(refresh, "client_id", required=True),
        "token_endpoint": text(refresh, "token_endpoint", required=True),
        "token_endpoint_auth": _endpoint_auth(refresh["token_endpoint_auth"]),
        "resource": text(refresh, "resource"),
        "scope": text(refresh, "scope"),
    }


def _networking(raw: Any) -> dict[str, Any]:
    net = _auth_part(raw, "auth.networking")
    kind = net.get("type")
    if kind == "unrestricted":
        return {"type": "unrestricted"}
    if kind != "limited":
        raise invalid("auth.networking.type: Input should be 'unrestricted' or 'limited'")
    hosts = net.get("allowed_hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise invalid("auth.networking.allowed_hosts: Input should be a valid list of hostnames")
    if len(hosts) > MAX_HOSTS:
        raise invalid(f"auth.networking.allowed_hosts: at most {MAX_HOSTS} entries are allowed")
    return {"type": "limited", "allowed_hosts": list(hosts)}


def _injection(raw: Any, current: Mapping[str, bool]) -> dict[str, bool]:
    if raw is None:
        return dict(current)
    where = _auth_part(raw, "auth.injection_location")
    found = dict(current)
    for key in ("body", "header"):
        if key in where:
            if not isinstance(where[key], bool):
                raise invalid(f"auth.injection_location.{key}: Input should be a valid boolean")
            found[key] = where[key]
    if not any(found.values()):
        raise invalid("auth.injection_location: at least one location must be enabled")
    return found


_DEFAULT_INJECTION = {"body": False, "header": True}


def create_auth(raw: Any, now: float) -> dict[str, Any]:
    """The ``auth`` a credential answers with, from a create body's ``auth`` (secrets dropped)."""
    if raw is None:
        raise invalid("auth: Field required")
    auth = _auth_part(raw, "auth")
    kind = auth.get("type")
    if kind == "mcp_oauth":
        _secret(auth, "access_token")
        return {
            "type": kind,
            "mcp_server_url": text(auth, "mcp_server_url", required=True),
            "expires_at": _future(auth.get("expires_at"), "auth.expires_at", now),
            "refresh": _refresh(auth.get("refresh")),
        }
    if kind == "static_bearer":
        _secret(auth, "token")
        return {"type": kind, "mcp_server_url": text(auth, "mcp_server_url", required=True)}
    if kind == "environment_variable":
        _secret(auth, "secret_value")
        if "networking" not in auth:
            raise invalid("auth.networking: Field required")
        return {
            "type": kind,
            "secret_name": text(auth, "secret_name", required=True),
            "networking": _networking(auth["networking"]),
            "injection_location": _injection(auth.get("injection_location"), _DEFAULT_INJECTION),
        }
    raise invalid(f"auth.type: Input should be one of {', '.join(AUTH_TYPES)}")


def _update_refresh(current: dict[str, Any] | None, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return current
    patch = _auth_part(raw, "auth.refresh")
    if current is None:
        raise invalid("auth.refresh: the credential has no refresh configuration to update")
    found = dict(current)
    text(patch, "refresh_token")
    scope = text(patch, "scope")
    if scope is not None:
        found["scope"] = scope or None  # an empty string clears it
    endpoint = patch.get("token_endpoint_auth")
    if endpoint is not None:
        text(_auth_part(endpoint, "auth.refresh.token_endpoint_auth"), "client_secret")
        if current["token_endpoint_auth"]["type"] == "none":
            raise invalid(
                "auth.refresh.token_endpoint_auth: the credential's token endpoint takes no client secret"
            )
    return found


def update_auth(current: dict[str, Any], raw: Any, now: float) -> dict[str, Any]:
    """The credential's ``auth`` after an update body's ``auth`` (whose type must be the same)."""
    patch = _auth_part(raw, "auth")
    kind = current["type"]
    if patch.get("type") != kind:
        raise invalid(f"auth.type: the credential's type is {kind!r} and can't be changed")
    found = dict(current)
    if kind == "mcp_oauth":
        text(patch, "access_token")
        if patch.get("expires_at") is not None:
            found["expires_at"] = _future(patch["expires_at"], "auth.expires_at", now)
        found["refresh"] = _update_refresh(current["refresh"], patch.get("refresh"))
    elif kind == "static_bearer":
        text(patch, "token")
    else:
        text(patch, "secret_value")
        if patch.get("networking") is not None:
            found["networking"] = _networking(patch["networking"])
        found["injection_location"] = _injection(
            patch.get("injection_location"), current["injection_location"]
        )
    return found


def credential_object(ident: str, vault_id: str, body: Mapping[str, Any], now: float) -> Obj:
    auth = create_auth(body.get("auth"), now)
    moment = timestamp(now)
    return {
        "type": "vault_credential",
        "id": ident,
        "vault_id": vault_id,
        "display_name": text(body, "display_name", most=MAX_NAME),
        "auth": auth,
        "metadata": metadata(body.get("metadata")),
        "archived_at": None,
        "created_at": moment,
        "updated_at": moment,
    }


def update_credential(credential: Obj, body: Mapping[str, Any], now: float) -> Obj:
    name = text(body, "display_name", most=MAX_NAME)
    if name == "":
        raise invalid("display_name: String should have at least 1 character")
    auth = (
        credential["auth"] if body.get("auth") is None else update_auth(credential["auth"], body["auth"], now)
    )
    changed: dict[str, Any] = {
        "auth": auth,
        "metadata": patch_metadata(credential["metadata"], body.get("metadata")),
    }
    if name is not None:
        changed["display_name"] = name
    credential.update(changed)
    credential["updated_at"] = timestamp(now)
    return credential


def validation(credential: Obj, now: float) -> dict[str, Any]:
    """The answer of ``mcp_oauth_validate`` (see the module doc); the 400 for another auth type."""
    auth = credential["auth"]
    if auth["type"] != "mcp_oauth":
        raise invalid(f"credential {credential['id']} is not an mcp_oauth credential and can't be validated")
    expires = auth.get("expires_at")
    expired = expires is not None and stamp(expires, "expires_at").timestamp() <= now
    refresh = auth.get("refresh")
    answer: dict[str, Any] = {
        "type": "vault_credential_validation",
        "credential_id": credential["id"],
        "vault_id": credential["vault_id"],
        "has_refresh_token": refresh is not None,
        "status": "valid",
        "mcp_probe": None,
        "refresh": None,
        "validated_at": timestamp(now),
    }
    if expired and refresh is not None:
        answer.update(status="unknown", refresh={"status": "succeeded", "http_response": None})
    elif expired:
        unauthorized = {
            "status_code": 401,
            "content_type": "application/json",
            "body": '{"error":"invalid_token"}',
            "body_truncated": False,
        }
        answer.update(
            status="invalid",
            mcp_probe={"method": "initialize", "http_response": unauthorized},
            refresh={"status": "no_refresh_token", "http_response": None},
        )
    return answer
