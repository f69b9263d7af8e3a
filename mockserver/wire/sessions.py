"""The Managed Agents sessions beta (``/v1/sessions``): session, thread and session-resource
objects as the API sends them, built and changed by pure functions over plain dicts.

A session is made from an ``agent`` reference (an id string, which pins the latest version,
``{"type": "agent", "id", "version"}`` or ``{"type": "agent_with_overrides", ...}``) and an
``environment_id``, both looked up in the server's resources: an unknown agent, agent version or
environment is the real 404; an archived environment is the 400 ("Archived environments cannot be
used to create new sessions", as the SDK documents); an archived agent is the 400 too (the SDK is
silent; a deployment's run names the same case ``agent_archived_error``). The session's ``agent`` is
a snapshot of the STORED agent at that version, with the overrides the reference carries (each
checked as on the agent itself); the agent resource is unchanged by them.

Later changes leave a session as it is: a session keeps its snapshot when its agent is updated or
archived, and keeps its ``environment_id`` when the environment is archived or deleted (the SDK
documents nothing else: archiving only stops new sessions).

Every session has one primary thread (``sthr_``), idle with it, so the threads routes have
something to list; session resources (``sesrsc_``) live in the session's own ``resources`` list.

Hand-written: plain dictionaries shaped after the SDK's types; no library models this API.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from mockserver.wire import agents, environments
from mockserver.wire.errors import invalid, not_found
from mockserver.wire.resources import Obj, Resources, missing_message, timestamp

STATUSES = ("rescheduling", "running", "idle", "terminated")
MAX_METADATA = 16
RESOURCE_TYPES = ("github_repository", "file", "memory_store")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_REF_FIELDS = {
    "agent": frozenset(("id", "type", "version")),
    "agent_with_overrides": frozenset(("id", "type", "version", *agents.OVERRIDABLE)),
}
SNAPSHOT_FIELDS = ("id", "description", "execution_identity", "mcp_servers", "model", "multiagent",
                   "name", "skills", "system", "tools", "type", "version")  # fmt: skip


def _reference(ref: Any) -> dict[str, Any]:
    """The create body's ``agent`` as a reference object (the 400 naming what is wrong)."""
    if isinstance(ref, str):
        ref = {"type": "agent", "id": ref}
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str) or not ref["id"]:
        raise invalid("agent: Input should be an agent id or an agent object with an id")
    allowed = _REF_FIELDS.get(str(ref.get("type")))
    if allowed is None:
        raise invalid("agent.type: Input should be 'agent' or 'agent_with_overrides'")
    for key in ref:
        if key not in allowed:
            raise invalid(f"agent.{key}: Extra inputs are not permitted")
    version = ref.get("version")
    if version is not None and (not _is_int(version) or version < 1):
        raise invalid("agent.version: Input should be greater than or equal to 1")
    return ref


def agent_snapshot(ref: Any, resources: Resources) -> dict[str, Any]:
    """The session's ``agent``: the stored agent the reference names, at its version (the
    latest when none is given), with the reference's overrides."""
    ref = _reference(ref)
    agent = resources.collection("agent", agents.NOUN).get(ref["id"])
    if agent.get("archived_at") is not None:
        raise invalid(f"agent: Agent {agent['id']} is archived and cannot be used to create new sessions.")
    stored = agents.at_version(resources, agent, ref.get("version"))
    if ref["type"] == "agent_with_overrides":
        stored = agents.overridden(stored, {k: v for k, v in ref.items() if k in agents.OVERRIDABLE})
    return {name: stored.get(name) for name in SNAPSHOT_FIELDS}


def session_environment(environment_id: Any, resources: Resources) -> Obj:
    """The stored environment a session is made in: the 404 when unknown, the 400 when archived."""
    if not isinstance(environment_id, str) or not environment_id:
        raise invalid("environment_id: Field required")
    env = resources.collection(environments.KIND, environments.NOUN).get(environment_id)
    if env.get("archived_at") is not None:
        raise invalid(
            f"environment_id: Environment {env['id']} is archived and cannot be used to create new sessions."
        )
    return env


def _metadata(raw: Any, *, patch: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    for key, value in raw.items():
        if len(key) > 64:
            raise invalid("metadata: keys may be at most 64 characters")
        if value is None and patch:
            continue
        if not isinstance(value, str) or len(value) > 512:
            raise invalid("metadata: values should be strings of at most 512 characters")
    return raw


def _budget(raw: Any) -> dict[str, Any]:
    if (
        not isinstance(raw, dict)
        or raw.get("type") != "limit"
        or not isinstance(raw.get("max_list_cost"), dict)
    ):
        raise invalid("budget: Input should be a budget limit object")
    return raw


def _title(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise invalid("title: Input should be a valid string")
    return raw


def resource_object(raw: Any, ident: str, now: float) -> dict[str, Any]:
    """A mounted session resource from its create parameters."""
    if not isinstance(raw, dict) or raw.get("type") not in RESOURCE_TYPES:
        raise invalid(f"resources.type: Input should be one of {', '.join(map(repr, RESOURCE_TYPES))}")
    kind = raw["type"]
    if kind == "memory_store":  # this one has no id of its own
        if not isinstance(raw.get("memory_store_id"), str):
            raise invalid("resources.memory_store_id: Field required")
        return {"type": kind, "memory_store_id": raw["memory_store_id"], "access": raw.get("access")}
    stamp = timestamp(now)
    if kind == "file":
        file_id = raw.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise invalid("file_id: Field required")
        mount = raw.get("mount_path") or f"/mnt/session/uploads/{file_id}"
        return {"id": ident, "created_at": stamp, "file_id": file_id, "mount_path": mount, "type": kind,
                "updated_at": stamp}  # fmt: skip
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise invalid("resources.url: Field required")
    mount = raw.get("mount_path") or "/workspace/" + url.rstrip("/").rsplit("/", 1)[-1]
    return {"id": ident, "created_at": stamp, "mount_path": mount, "type": kind, "updated_at": stamp,
            "url": url, "checkout": raw.get("checkout")}  # fmt: skip


def new_session(
    body: Any, ident: str, resource_ids: list[str], now: float, resources: Resources
) -> dict[str, Any]:
    """A new idle session from a create body (``resource_ids``: one fresh id per resource), its
    agent and environment resolved in ``resources``."""
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    if "agent" not in body:
        raise invalid("agent: Field required")
    if not isinstance(body.get("environment_id"), str) or not body["environment_id"]:
        raise invalid("environment_id: Field required")
    agent = agent_snapshot(body["agent"], resources)
    env = str(session_environment(body["environment_id"], resources)["id"])
    resources = body.get("resources", [])
    vaults = body.get("vault_ids", [])
    if not isinstance(resources, list) or not isinstance(vaults, list):
        raise invalid("resources, vault_ids: Input should be a valid list")
    metadata = _metadata(body.get("metadata", {}), patch=False)
    if len(metadata) > MAX_METADATA:
        raise invalid(f"metadata: at most {MAX_METADATA} pairs")
    stamp = timestamp(now)
    return {
        "id": ident,
        "agent": agent,
        "archived_at": None,
        "budget": _budget(body["budget"]) if body.get("budget") is not None else None,
        "created_at": stamp,
        "environment_id": env,
        "metadata": dict(metadata),
        "outcome_evaluations": [],
        "resources": [resource_object(r, i, now) for r, i in zip(resources, resource_ids, strict=True)],
        "stats": {"active_seconds": 0.0, "duration_seconds": 0.0},
        "status": "idle",
        "title": _title(body.get("title")),
        "type": "session",
        "updated_at": stamp,
        "usage": {"cache_read_input_tokens": 0, "input_tokens": 0, "output_tokens": 0},
        "vault_ids": [str(v) for v in vaults],
        "deployment_id": None,
        "_created": now,  # internal: dropped by public()
    }


def public(obj: Obj) -> dict[str, Any]:
    """The object as the API sends it (without the mock's ``_`` bookkeeping keys)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def touch(session: Obj, now: float) -> None:
    session["updated_at"] = timestamp(now)
    session["stats"]["duration_seconds"] = round(max(0.0, now - float(session["_created"])), 6)


def update_session(session: Obj, body: Any, now: float) -> None:
    """Apply an update body (``agent`` tools/mcp_servers, budget, metadata patch, title)."""
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    if body.get("vault_ids") is not None:
        raise invalid("vault_ids: updating vault_ids is not yet supported")
    agent = body.get("agent")
    if agent is not None:
        if session["status"] == "running":
            raise invalid("agent: the session must not be running")
        if not isinstance(agent, dict):
            raise invalid("agent: Input should be a valid dictionary")
        changes = {k: agent[k] for k in ("tools", "mcp_servers") if k in agent}  # checked as on the agent
        session["agent"] = {**session["agent"], **agents.overridden(session["agent"], changes)}
    if "budget" in body:
        if body["budget"] is not None and session["budget"] is None:
            raise invalid("budget: a budget cannot be added to a session created without one")
        session["budget"] = None if body["budget"] is None else _budget(body["budget"])
    if body.get("metadata") is not None:
        for key, value in _metadata(body["metadata"], patch=True).items():
            if value is None:
                session["metadata"].pop(key, None)
            else:
                session["metadata"][key] = value
        if len(session["metadata"]) > MAX_METADATA:
            raise invalid(f"metadata: at most {MAX_METADATA} pairs")
    if "title" in body:
        session["title"] = _title(body["title"])
    touch(session, now)


def archive(obj: Obj, now: float) -> None:
    if obj["archived_at"] is None:
        obj["archived_at"] = timestamp(now)
    obj["updated_at"] = timestamp(now)


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "false").lower() == "true"


def wanted_statuses(query: Any, name: str = "statuses") -> set[str] | None:
    """The ``statuses`` filter (``statuses[]=idle&statuses[]=running``), or None for all."""
    chosen = [*query.getall(name + "[]", []), *query.getall(name, [])]
    for status in chosen:
        if status not in STATUSES:
            raise invalid(f"{name}: Input should be one of {', '.join(map(repr, STATUSES))}")
    return set(chosen) or None


def _moment(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name}: Input should be a valid datetime") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def time_filter(query: Mapping[str, str], field: str) -> Callable[[Obj], bool]:
    """The ``created_at[gt|gte|lt|lte]`` bounds of a list query over the objects' ``field``."""
    bounds = [
        (op, _moment(query[f"created_at[{op}]"], f"created_at[{op}]"))
        for op in _OPS
        if f"created_at[{op}]" in query
    ]

    def keep(obj: Obj) -> bool:
        at = _moment(str(obj[field]), field)
        return all(_OPS[op](at, bound) for op, bound in bounds)

    return keep


def session_filter(query: Any) -> Any:
    """The predicate the list query asks for (archived hidden unless ``include_archived``)."""
    archived = _flag(query, "include_archived")
    statuses = wanted_statuses(query)
    agent_id, version = query.get("agent_id"), query.get("agent_version")
    in_time = time_filter(query, "created_at")

    def keep(s: Obj) -> bool:
        return (
            in_time(s)
            and (archived or s["archived_at"] is None)
            and (statuses is None or s["status"] in statuses)
            and (agent_id is None or s["agent"]["id"] == agent_id)
            and (version is None or agent_id is None or str(s["agent"]["version"]) == version)
        )

    return keep


def ordered(items: list[Obj], query: Mapping[str, str], default: str) -> list[Obj]:
    """``items`` (oldest first) in the ``order`` the query asks for."""
    order = query.get("order", default)
    if order not in ("asc", "desc"):
        raise invalid("order: Input should be 'asc' or 'desc'")
    return items if order == "asc" else list(reversed(items))


def thread_object(session: Obj, ident: str, now: float) -> dict[str, Any]:
    """The session's primary thread (its agent: the session's, without multiagent)."""
    agent = {k: v for k, v in session["agent"].items() if k != "multiagent"}
    stamp = timestamp(now)
    return {
        "id": ident,
        "agent": agent,
        "archived_at": None,
        "created_at": stamp,
        "parent_thread_id": None,
        "session_id": session["id"],
        "stats": {"active_seconds": 0.0, "duration_seconds": 0.0, "startup_seconds": 0.0},
        "status": session["status"],
        "type": "session_thread",
        "updated_at": stamp,
        "usage": {"cache_read_input_tokens": 0, "input_tokens": 0, "output_tokens": 0},
        "workflow_run_id": None,
    }


def find_resource(session: Obj, ident: str) -> dict[str, Any]:
    """The session's resource with id ``ident`` (the real 404 when none)."""
    for res in session["resources"]:
        if res.get("id") == ident:
            return dict(res)
    raise not_found(missing_message("Session resource", ident))


def remove_resource(session: Obj, ident: str, now: float) -> None:
    find_resource(session, ident)
    session["resources"] = [r for r in session["resources"] if r.get("id") != ident]
    touch(session, now)


def update_resource(session: Obj, ident: str, body: Any, now: float) -> dict[str, Any]:
    """Rotate a resource's ``authorization_token`` (not echoed: the API never returns secrets)."""
    res = find_resource(session, ident)
    token = body.get("authorization_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise invalid("authorization_token: Field required")
    for stored in session["resources"]:
        if stored.get("id") == ident and "updated_at" in stored:
            stored["updated_at"] = res["updated_at"] = timestamp(now)
    return res
