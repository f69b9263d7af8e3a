"""Managed Agents ``agent`` objects (``/v1/agents``): made, updated into new versions, archived.

An agent starts at ``version`` 1; an update that changes anything makes the next version (the
old ones stay readable through ``retrieve(version=...)`` and the versions list), and one that
names a ``version`` other than the current one is refused, so two writers cannot overwrite each
other. An archived agent is still read and listed (with ``include_archived``) but not changed.
Pure functions over plain dicts; the routes are :mod:`mockserver.web.agents`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from mockserver.wire import managed
from mockserver.wire.errors import ApiError, invalid, not_found
from mockserver.wire.resources import Collection, Obj, Resources, missing_message, timestamp

ID_PREFIX = "agent_"
NOUN = "Agent"
DEFAULT_EFFORT = "high"  # the per-model default the API resolves an omitted effort to
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MAX_MCP_SERVERS, MAX_TOOLS = 20, 256

_EDITABLE = (
    "description",
    "execution_identity",
    "mcp_servers",
    "metadata",
    "model",
    "multiagent",
    "name",
    "skills",
    "system",
    "tools",
)
CREATE_FIELDS = frozenset(_EDITABLE)
UPDATE_FIELDS = frozenset((*_EDITABLE, "version"))


def _effort(raw: Any) -> dict[str, str]:
    level = raw.get("type") if isinstance(raw, dict) else raw
    if level not in EFFORTS:
        raise invalid("model.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
    return {"type": str(level)}


def model_config(raw: Any, stored: Obj | None = None) -> Obj:
    """The stored model configuration from a model string or ``model_config`` object (on update,
    an omitted effort keeps ``stored``'s)."""
    if isinstance(raw, str):
        raw = {"id": raw}
    if not isinstance(raw, dict):
        raise invalid("model: Input should be a valid string or object")
    ident = managed.required_str(raw, "id") if "id" in raw else None
    if ident is None:
        raise invalid("model.id: Field required")
    speed = raw.get("speed") or "standard"
    if speed not in ("standard", "fast"):
        raise invalid("model.speed: Input should be 'standard' or 'fast'")
    if raw.get("effort") is not None:
        effort = _effort(raw["effort"])
    elif stored is not None:
        effort = stored["effort"]
    else:
        effort = {"type": DEFAULT_EFFORT}
    return {
        "id": ident,
        "effort": effort,
        "inference_geo": managed.optional_str(raw.get("inference_geo"), "model.inference_geo"),
        "speed": speed,
    }


def _execution_identity(raw: Any) -> Obj:
    if raw is None:
        return {"type": "service_account"}
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise invalid("execution_identity.type: Field required")
    return dict(raw)


def _skills(raw: Any) -> list[Obj]:
    skills = []
    for i, skill in enumerate(managed.list_field(raw, "skills")):
        if skill.get("type") not in ("anthropic", "custom"):
            raise invalid(f"skills.{i}.type: Input should be 'anthropic' or 'custom'")
        managed.required_str(skill, "skill_id")
        skills.append({**skill, "version": skill.get("version") or "latest"})
    return skills


def _mcp_servers(raw: Any) -> list[Obj]:
    servers = managed.list_field(raw, "mcp_servers", most=MAX_MCP_SERVERS)
    names = [managed.required_str(s, "name") for s in servers]
    if len(set(names)) != len(names):
        raise invalid("mcp_servers: Names must be unique")
    for s in servers:
        managed.required_str(s, "url")
    return [{"name": s["name"], "type": "url", "url": s["url"]} for s in servers]


def _toolset(tool: Obj, where: str, policy: str, typed: bool) -> Obj:
    """A toolset with its defaults filled in: each config says enabled and its policy."""
    default = tool.get("default_config") or {}
    if not isinstance(default, dict):
        raise invalid(f"{where}.default_config: Input should be a valid dictionary")
    filled = {
        "enabled": default.get("enabled", True) is not False,
        "permission_policy": default.get("permission_policy") or {"type": policy},
    }
    configs = []
    for config in managed.list_field(tool.get("configs"), f"{where}.configs"):
        name = managed.required_str(config, "name")
        one = {
            "enabled": filled["enabled"] if config.get("enabled") is None else config["enabled"] is True,
            "name": name,
            "permission_policy": config.get("permission_policy") or filled["permission_policy"],
        }
        configs.append({**one, "type": name} if typed else one)
    made = {"configs": configs, "default_config": filled, "type": tool["type"]}
    return made


def _tool(tool: Obj, where: str) -> Obj:
    kind = tool.get("type")
    if kind == "agent_toolset_20260401":
        return _toolset(tool, where, "always_allow", typed=True)
    if kind == "mcp_toolset":
        server = managed.required_str(tool, "mcp_server_name")
        return {**_toolset(tool, where, "always_ask", typed=False), "mcp_server_name": server}
    if kind == "custom":
        for name in ("name", "description"):
            managed.required_str(tool, name)
        if not isinstance(tool.get("input_schema"), dict):
            raise invalid(f"{where}.input_schema: Field required")
        return {k: tool[k] for k in ("description", "input_schema", "name", "type")}
    raise invalid(f"{where}.type: Input should be 'agent_toolset_20260401', 'mcp_toolset' or 'custom'")


def _tools(raw: Any) -> list[Obj]:
    tools = managed.list_field(raw, "tools", most=MAX_TOOLS)
    return [_tool(t, f"tools.{i}") for i, t in enumerate(tools)]


def _check_servers_used(agent: Obj) -> None:
    """Every MCP server must be referenced by an ``mcp_toolset`` in the agent's tools."""
    used = {t.get("mcp_server_name") for t in agent["tools"] if t["type"] == "mcp_toolset"}
    for server in agent["mcp_servers"]:
        if server["name"] not in used:
            raise invalid(
                f"mcp_servers: server {server['name']!r} is not referenced by an mcp_toolset in tools"
            )


def _multiagent(raw: Any) -> Obj | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("multiagent: Input should be a valid dictionary")
    return dict(raw)


_FIELDS: dict[str, Callable[[Any, Obj | None], Any]] = {
    "description": lambda raw, old: managed.optional_str(raw, "description"),
    "execution_identity": lambda raw, old: _execution_identity(raw),
    "mcp_servers": lambda raw, old: _mcp_servers(raw),
    "metadata": lambda raw, old: managed.metadata(raw, old["metadata"] if old else None),
    "model": lambda raw, old: model_config(raw, old["model"] if old else None),
    "multiagent": lambda raw, old: _multiagent(raw),
    "name": lambda raw, old: managed.nonempty_str(raw, "name"),
    "skills": lambda raw, old: _skills(raw),
    "system": lambda raw, old: managed.optional_str(raw, "system"),
    "tools": lambda raw, old: _tools(raw),
}


def new_agent(ident: str, body: Any, now: float) -> Obj:
    """Version 1 of an agent from a create body (the 400 naming the field when it is wrong)."""
    body = managed.body_dict(body, CREATE_FIELDS)
    managed.required_str(body, "name")
    if body.get("model") is None:
        raise invalid("model: Field required")
    stamp = timestamp(now)
    agent: Obj = {
        "id": ident,
        "type": "agent",
        "archived_at": None,
        "created_at": stamp,
        "updated_at": stamp,
        "version": 1,
    }
    for name, make in _FIELDS.items():
        agent[name] = make(body.get(name), None)
    _check_servers_used(agent)
    return agent


def updated_agent(agent: Obj, body: Any, now: float) -> Obj | None:
    """The next version of ``agent`` from an update body, or None when nothing changes; the 400
    for an archived agent or a bad field, the 409 when ``version`` is not the current one."""
    body = managed.body_dict(body, UPDATE_FIELDS)
    managed.refuse_if_archived(agent, NOUN)
    expected = body.get("version")
    if expected is not None:
        if not isinstance(expected, int) or isinstance(expected, bool) or expected < 1:
            raise invalid("version: Input should be an integer greater than or equal to 1")
        if expected != agent["version"]:
            raise ApiError(
                409,
                "conflict_error",
                f"version: the agent's current version is {agent['version']}, not {expected}",
            )
    if "name" in body and body["name"] is None:
        raise invalid("name: cannot be cleared")
    if "model" in body and body["model"] is None:
        raise invalid("model: cannot be cleared")
    changed = dict(agent)
    for name, make in _FIELDS.items():
        if name in body:
            changed[name] = make(body[name], agent)
    if all(changed[name] == agent[name] for name in _FIELDS):
        return None
    _check_servers_used(changed)
    changed["version"] = agent["version"] + 1
    changed["updated_at"] = timestamp(now)
    return changed


def version_number(raw: str | None) -> int | None:
    """The ``version`` query parameter of a retrieve (at least 1), or None."""
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise invalid("version: Input should be an integer greater than or equal to 1")
    return int(raw)


def versions_key(agent_id: str) -> Hashable:
    """The key of an agent's versions in the server's resources (each ``{"id", "agent"}``)."""
    return ("agent_version", agent_id)


def versions(resources: Resources, agent_id: str) -> Collection:
    return resources.collection(versions_key(agent_id), "Agent version")


def at_version(resources: Resources, agent: Obj, number: int | None) -> Obj:
    """``agent`` as it was at version ``number`` (None: the current one), with the agent's own
    ``archived_at``; the real 404 for a version it never had."""
    if number is None or number == agent["version"]:
        return agent
    kept = versions(resources, str(agent["id"])).find(str(number))
    if kept is None:
        raise not_found(missing_message("Agent version", f"{agent['id']} version {number}"))
    return {**kept["agent"], "archived_at": agent["archived_at"]}


OVERRIDABLE = ("mcp_servers", "model", "skills", "system", "tools")  # agent_with_overrides


def overridden(agent: Obj, overrides: Mapping[str, Any]) -> Obj:
    """``agent`` with the fields an ``agent_with_overrides`` reference replaces, each checked as
    on the agent itself (the stored agent is unchanged)."""
    changed = dict(agent)
    for name in OVERRIDABLE:
        if name in overrides:
            changed[name] = _FIELDS[name](overrides[name], agent)
    return changed
