"""Managed Agents ``deployment`` objects (``/v1/deployments``) and their runs
(``/v1/deployment_runs``).

A deployment pins an agent (its latest version when given only the id) to an environment, with
the events each session it makes starts with. It is ``active`` or ``paused`` (``paused_reason``
``manual`` after a pause); an archived one is read and listed (with ``include_archived``) but not
changed. A **run** (manual here; a schedule fires only in the real service) records which agent
version it used and either the session it made (a real session, stored with the others, its
``deployment_id`` set: see :func:`session_body`) or, when the agent or environment is archived or
gone, the environment is self-hosted and the deployment mounts resources, or the session create
is refused, the run error that says so. Pure functions over plain dicts; the routes are
:mod:`mockserver.web.deployments`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockserver.wire import managed
from mockserver.wire.errors import invalid, not_found
from mockserver.wire.resources import Collection, Obj, missing_message, timestamp

ID_PREFIX = "depl_"
RUN_PREFIX = "drun_"  # the SDK names no prefix for a run's id: the family's noun
NOUN, RUN_NOUN, KIND, RUN_KIND = "Deployment", "Deployment run", "deployment", "deployment_run"
MAX_EVENTS, MAX_RESOURCES, MAX_VAULTS = 50, 500, 50
_EDITABLE = (
    "agent",
    "budget",
    "description",
    "environment_id",
    "initial_events",
    "metadata",
    "name",
    "resources",
    "schedule",
    "vault_ids",
)
FIELDS = frozenset(_EDITABLE)
_RESOURCE_FIELDS = {
    "github_repository": ("url", ("checkout", "mount_path")),
    "file": ("file_id", ("mount_path",)),
    "memory_store": ("memory_store_id", ("access", "instructions")),
}
_EVENT_FIELDS = {
    "user.message": ("content",),
    "system.message": ("content",),
    "user.define_outcome": ("description", "rubric", "max_iterations"),
}


def agent_reference(raw: Any, agents: Collection) -> Obj:
    """``{"id", "type": "agent", "version"}`` for an agent id (its latest version) or reference;
    the 404 for an unknown agent or a version it never had (as a session's reference), the 400
    for an archived one or a version that is not a whole number from 1."""
    if isinstance(raw, str):
        raw = {"id": raw, "type": "agent"}
    if not isinstance(raw, dict):
        raise invalid("agent: Input should be a valid string or object")
    agent = agents.get(managed.required_str(raw, "id"))
    if agent.get("archived_at") is not None:
        raise invalid(f"agent: Agent {agent['id']} is archived")
    version = raw.get("version", agent["version"])
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise invalid("agent.version: Input should be greater than or equal to 1")
    if version > agent["version"]:
        raise not_found(missing_message("Agent version", f"{agent['id']} version {version}"))
    return {"id": agent["id"], "type": "agent", "version": version}


def _events(raw: Any) -> list[Obj]:
    events = managed.list_field(raw, "initial_events", most=MAX_EVENTS)
    if not events:
        raise invalid("initial_events: List should have at least 1 item")
    made = []
    for i, event in enumerate(events):
        fields = _EVENT_FIELDS.get(str(event.get("type")))
        if fields is None:
            raise invalid(
                f"initial_events.{i}.type: Input should be 'user.message', 'user.define_outcome'"
                " or 'system.message'"
            )
        if fields[0] not in event:
            raise invalid(f"initial_events.{i}.{fields[0]}: Field required")
        made.append({"type": event["type"], **{k: event[k] for k in fields if k in event}})
    return made


def _resources(raw: Any) -> list[Obj]:
    made = []
    for i, res in enumerate(managed.list_field(raw, "resources", most=MAX_RESOURCES)):
        shape = _RESOURCE_FIELDS.get(str(res.get("type")))
        if shape is None:
            raise invalid(
                f"resources.{i}.type: Input should be 'github_repository', 'file' or 'memory_store'"
            )
        key, optional = shape
        managed.required_str(res, key)
        made.append({"type": res["type"], key: res[key], **{k: res.get(k) for k in optional}})
    return made


def _schedule(raw: Any) -> Obj | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "cron":
        raise invalid("schedule.type: Input should be 'cron'")
    expression = managed.required_str(raw, "expression")
    if len(expression.split()) != 5:
        raise invalid("schedule.expression: should be a cron expression of 5 fields")
    return {
        "expression": expression,
        "timezone": managed.required_str(raw, "timezone"),
        "type": "cron",
        "last_run_at": None,
        "upcoming_runs_at": None,
    }


def _budget(raw: Any) -> Obj | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or raw.get("type") != "limit"
        or not isinstance(raw.get("max_list_cost"), dict)
    ):
        raise invalid("budget: Input should be a limit with max_list_cost")
    return {"max_list_cost": dict(raw["max_list_cost"]), "type": "limit"}


def _vaults(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw) or len(raw) > MAX_VAULTS:
        raise invalid(f"vault_ids: Input should be a list of at most {MAX_VAULTS} strings")
    return list(raw)


def _environment_id(raw: Any, environments: Collection) -> str:
    return str(environments.get(managed.nonempty_str(raw, "environment_id"))["id"])


Lookups = tuple[Collection, Collection]  # (agents, environments)


def _fields(lookups: Lookups) -> dict[str, Callable[[Any, Obj | None], Any]]:
    agents, environments = lookups
    return {
        "agent": lambda raw, old: agent_reference(raw, agents),
        "budget": lambda raw, old: _budget(raw),
        "description": lambda raw, old: managed.optional_str(raw, "description"),
        "environment_id": lambda raw, old: environments.get(managed.nonempty_str(raw, "environment_id"))[
            "id"
        ],
        "initial_events": lambda raw, old: _events(raw),
        "metadata": lambda raw, old: managed.metadata(raw, old["metadata"] if old else None),
        "name": lambda raw, old: managed.nonempty_str(raw, "name"),
        "resources": lambda raw, old: _resources(raw),
        "schedule": lambda raw, old: _schedule(raw),
        "vault_ids": lambda raw, old: _vaults(raw),
    }


def new_deployment(ident: str, body: Any, now: float, lookups: Lookups) -> Obj:
    """A deployment from a create body (the 400 naming a missing or wrong field; the 404 for an
    unknown agent or environment)."""
    body = managed.body_dict(body, FIELDS)
    for name in ("agent", "environment_id", "initial_events", "name"):
        if body.get(name) is None:
            raise invalid(f"{name}: Field required")
    stamp = timestamp(now)
    made: Obj = {"id": ident, "type": "deployment", "archived_at": None, "created_at": stamp}
    for name, make in _fields(lookups).items():
        made[name] = make(body.get(name), None)
    made.update(paused_reason=None, status="active", updated_at=stamp)
    return made


def updated_deployment(depl: Obj, body: Any, now: float, lookups: Lookups) -> Obj:
    """``depl`` after an update body (fields present replace; metadata is patched)."""
    body = managed.body_dict(body, FIELDS)
    managed.refuse_if_archived(depl, NOUN)
    for name in ("agent", "environment_id", "initial_events", "name"):
        if name in body and body[name] is None:
            raise invalid(f"{name}: cannot be cleared")
    changed = dict(depl)
    for name, make in _fields(lookups).items():
        if name in body:
            changed[name] = make(body[name], depl)
    if changed != depl:
        changed["updated_at"] = timestamp(now)
    return changed


def paused(depl: Obj, pause: bool, now: float) -> Obj:
    """``depl`` paused (manually) or active again."""
    managed.refuse_if_archived(depl, NOUN)
    status = "paused" if pause else "active"
    if depl["status"] != status:
        depl.update(
            status=status, paused_reason={"type": "manual"} if pause else None, updated_at=timestamp(now)
        )
    return depl


def run_error(depl: Obj, lookups: Lookups) -> Obj | None:
    """The error that keeps a run of ``depl`` from making a session, or None."""
    agents, environments = lookups
    agent = agents.find(str(depl["agent"]["id"]))
    if agent is not None and agent.get("archived_at") is not None:
        return {"message": f"Agent {agent['id']} is archived", "type": "agent_archived_error"}
    env = environments.find(str(depl["environment_id"]))
    if env is None:
        return {
            "message": f"Environment {depl['environment_id']} not found",
            "type": "environment_not_found_error",
        }
    if env.get("archived_at") is not None:
        return {"message": f"Environment {env['id']} is archived", "type": "environment_archived_error"}
    if env["config"]["type"] == "self_hosted" and depl["resources"]:
        return {
            "message": f"Environment {env['id']} is self-hosted and cannot mount the deployment's resources",
            "type": "self_hosted_resources_unsupported_error",
        }
    return None


def rejected(message: str) -> Obj:
    """The run error for a session create the API refused."""
    return {"message": message, "type": "session_creation_rejected_error"}


def session_body(depl: Obj) -> Obj:
    """The sessions create body a run of ``depl`` sends: its agent version, environment, initial
    events, resources, vaults and budget."""
    body: Obj = {
        "agent": dict(depl["agent"]),
        "environment_id": depl["environment_id"],
        "initial_events": [dict(e) for e in depl["initial_events"]],
        "resources": [{k: v for k, v in r.items() if v is not None} for r in depl["resources"]],
        "vault_ids": list(depl["vault_ids"]),
    }
    if depl["budget"] is not None:
        body["budget"] = dict(depl["budget"])
    return body


def new_run(ident: str, depl: Obj, now: float, session_id: str | None, error: Obj | None) -> Obj:
    """A manual run of ``depl``: its session's id, or the error that kept it from making one."""
    return {
        "id": ident,
        "type": "deployment_run",
        "agent": dict(depl["agent"]),
        "created_at": timestamp(now),
        "deployment_id": depl["id"],
        "error": error,
        "session_id": None if error is not None else session_id,
        "trigger_context": {"type": "manual"},
    }
