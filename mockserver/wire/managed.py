"""What the managed-agents beta's resources (agents, environments, deployments, dreams) share on
the wire: the beta their routes require, body checks in the house's 400 wording, list filters
(``include_archived``, ``created_at[gte]``/``[lte]``), the 1-100 page limit, and archiving.

Hand-written: a handful of checks over plain dicts; a schema library would be more code than this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.paging import cursor_page
from mockserver.wire.resources import Obj, timestamp

BETA = "managed-agents-2026-04-01"  # the SDK sends it on every route of the family
MAX_LIMIT = 100  # "Maximum results per page. Default 20, maximum 100."
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512


def check_beta(header: str | None, beta: str = BETA) -> None:
    """The 400 for a request whose ``anthropic-beta`` header does not name the route's beta."""
    named = {part.strip() for part in (header or "").split(",")}
    if beta not in named:
        raise invalid(f"This endpoint is in beta: requests must send `{beta}` in the anthropic-beta header.")


def body_dict(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """``body`` as a dict with no field outside ``allowed``; the 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    for key in body:
        if key not in allowed:
            raise invalid(f"{key}: Extra inputs are not permitted")
    return body


def required_str(body: Mapping[str, Any], name: str) -> str:
    if name not in body or body[name] is None:
        raise invalid(f"{name}: Field required")
    return nonempty_str(body[name], name)


def nonempty_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid string")
    if not value:
        raise invalid(f"{name}: String should have at least 1 character")
    return value


def optional_str(value: Any, name: str) -> str | None:
    """A clearable string field: null and "" both clear it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid string")
    return value or None


def list_field(value: Any, name: str, *, most: int | None = None) -> list[Any]:
    """A list field (null is the empty list), each item a dict."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{name}: Input should be a valid list")
    if most is not None and len(value) > most:
        raise invalid(f"{name}: List should have at most {most} items")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"{name}.{i}: Input should be a valid dictionary")
    return list(value)


def metadata(value: Any, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stored metadata: ``value`` replaces (on create) or patches ``base`` (on update: a key
    set to null is deleted), within the documented bounds."""
    if value is None:
        return dict(base or {})
    if not isinstance(value, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    bag = dict(base or {})
    for key, item in value.items():
        if item is None and base is not None:
            bag.pop(key, None)
            continue
        if not isinstance(item, str):
            raise invalid(f"metadata.{key}: Input should be a valid string")
        if len(key) > METADATA_KEY or len(item) > METADATA_VALUE:
            raise invalid(
                f"metadata: keys are limited to {METADATA_KEY} and values to {METADATA_VALUE} characters"
            )
        bag[key] = item
    if len(bag) > METADATA_PAIRS:
        raise invalid(f"metadata: at most {METADATA_PAIRS} key-value pairs are allowed")
    return bag


def _moment(raw: str, name: str) -> datetime:
    text = raw[:-1] + "+00:00" if raw.endswith("Z") else raw
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name}: Input should be a valid datetime, got {raw!r}") from None


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise invalid(f"{name}: Input should be a valid boolean, got {raw!r}")
    return raw == "true"


def created_bounds(query: Mapping[str, str]) -> Callable[[Obj], bool]:
    """Which objects ``created_at[gt|gte|lt|lte]`` keep (each bound when given)."""
    tests = {
        "gt": lambda made, at: made > at,
        "gte": lambda made, at: made >= at,
        "lt": lambda made, at: made < at,
        "lte": lambda made, at: made <= at,
    }
    bounds: list[tuple[Callable[[datetime, datetime], bool], datetime]] = []
    for op, test in tests.items():
        name = f"created_at[{op}]"
        raw = query.get(name)
        if raw is not None:
            bounds.append((test, _moment(raw, name)))

    def keep(obj: Obj) -> bool:
        made = _moment(str(obj["created_at"]), "created_at")
        return all(test(made, at) for test, at in bounds)

    return keep


def listing_filter(query: Mapping[str, str]) -> Callable[[Obj], bool]:
    """Which objects a list request keeps: not archived unless ``include_archived=true``, and
    created within the ``created_at`` bounds when given."""
    archived = _flag(query, "include_archived")
    bounds = created_bounds(query)
    return lambda obj: (archived or obj.get("archived_at") is None) and bounds(obj)


def listing(
    items: list[Obj],
    query: Mapping[str, str],
    *,
    ident: Callable[[Obj], str] = lambda o: str(o["id"]),
    bidirectional: bool = False,
) -> dict[str, Any]:
    """One cursor page of ``items`` (already filtered, in listing order), limit 1 to 100."""
    raw = query.get("limit")
    if raw is not None and raw.isdigit() and int(raw) > MAX_LIMIT:
        raise invalid(f"limit: Input should be less than or equal to {MAX_LIMIT}")
    return cursor_page(items, ident, query, bidirectional=bidirectional)


def archive(obj: Obj, now: float) -> Obj:
    """``obj`` archived now (an archived object keeps its first ``archived_at``)."""
    if obj.get("archived_at") is None:
        stamp = timestamp(now)
        obj["archived_at"] = stamp
        if "updated_at" in obj:
            obj["updated_at"] = stamp
    return obj


def refuse_if_archived(obj: Obj, noun: str) -> None:
    """The 400 for changing an archived object (it can still be read and listed)."""
    if obj.get("archived_at") is not None:
        raise invalid(f"{noun} {obj['id']} is archived and cannot be modified.")
