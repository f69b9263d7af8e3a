"""Compliance review (beta) as the API keeps it: review cases (``compliance_review_case``,
``rvc_...``), the flagged items they list (``compliance_review_item``, a message's own
``msg_...`` id) and the notices about them (``compliance_review_notice``, ``rvn_...``); the
list filters and orders, and the checks a response to a case passes (it closes the case).

The API has no route that makes a case (Anthropic sends them), so a server starts with none.
A test, or anything holding the server's state, adds them with the pure functions
:func:`add_case` (a case and its items, one per flagged message) and :func:`add_notice`, on
``server.state.resources``::

    case = add_case(resources, "rvc_1", now, item_ids=["msg_1"], policy_categories=["cyber"])
    add_notice(resources, "rvn_1", now, case_ids=["rvc_1"], message="Please respond")

An item's content is ``not_captured`` unless a request (and its response) are given.

Pure: no aiohttp. Hand-written: a few dictionaries and comparisons of timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.resources import Collection, Obj, Resources, timestamp

CASES, ITEMS, NOTICES = "compliance_review_case", "compliance_review_item", "compliance_review_notice"
CASE_NOUN, ITEM_NOUN, NOTICE_NOUN = "Review case", "Review item", "Review notice"
ORGANIZATION_ID = "00000000-0000-4000-8000-000000000000"  # the mock's one organization
CONTENT_DAYS = 30  # an item's content is readable this long after the case is added
VIOLATED = (
    "cyber", "bio", "chem", "radnuc", "cgw", "mgw", "io", "fraud", "violent_extremism",
    "surveillance", "human_exploitation", "self_harm", "adult_content", "reasoning_extraction",
    "frontier_llm", "compromised_key", "other",
)  # fmt: skip
CATEGORIES = (*VIOLATED, "benign", "undetermined")
DETERMINATIONS = ("violation", "no_violation")
_BOUNDS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda v, b: v > b,
    "gte": lambda v, b: v >= b,
    "lt": lambda v, b: v < b,
    "lte": lambda v, b: v <= b,
}


def collections(resources: Resources) -> tuple[Collection, Collection, Collection]:
    """The cases, items and notices of one server."""
    return (
        resources.collection((CASES,), CASE_NOUN),
        resources.collection((ITEMS,), ITEM_NOUN),
        resources.collection((NOTICES,), NOTICE_NOUN),
    )


def add_case(
    resources: Resources,
    ident: str,
    now: float,
    *,
    item_ids: Sequence[str],
    policy_categories: Sequence[str] = ("other",),
    user_profile_id: str | None = None,
    workspace_id: str | None = None,
    model: str | None = None,
    request: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
) -> Obj:
    """Add an open case (sent at ``now``) flagging ``item_ids``, with one item per id; returns it."""
    if not item_ids or not policy_categories:
        raise ValueError("a case flags at least one item, for at least one policy category")
    cases, items, _ = collections(resources)
    stamp = timestamp(now)
    for item_id in item_ids:
        items.add(_item(item_id, stamp, now, user_profile_id, workspace_id, model, request, response))
    return cases.add(
        {
            "id": ident,
            "type": "compliance_review_case",
            "created_at": stamp,
            "updated_at": stamp,
            "enforcement_action": None,
            "organization_id": ORGANIZATION_ID,
            "policy_categories": list(policy_categories),
            "status": {"type": "open"},
            "transcripts": [{"item_id": i, "user_profile_id": user_profile_id} for i in item_ids],
            "workspace_id": workspace_id,
        }
    )


def _item(
    ident: str,
    stamp: str,
    now: float,
    user_profile_id: str | None,
    workspace_id: str | None,
    model: str | None,
    request: Mapping[str, Any] | None,
    response: Mapping[str, Any] | None,
) -> Obj:
    details: Obj = {"type": "message", "model": model, "content": None, "content_unavailable_reason": None}
    if request is None:
        details["content_unavailable_reason"] = {"type": "not_captured"}
    else:
        details["content"] = {
            "type": "create_message",
            "request": dict(request),
            "response": dict(response) if response is not None else None,
        }
    return {
        "id": ident,
        "type": "compliance_review_item",
        "actor": None,
        "content_expires_at": timestamp(now + CONTENT_DAYS * 86_400),
        "created_at": stamp,
        "details": details,
        "organization_id": ORGANIZATION_ID,
        "read_reason": {"type": "safeguards_review"},
        "user_profile_id": user_profile_id,
        "workspace_id": workspace_id,
    }


def add_notice(
    resources: Resources,
    ident: str,
    now: float,
    *,
    case_ids: Sequence[str] = (),
    kind: str = "response_requested",
    message: str = "Please review the flagged messages and respond.",
    respond_by: float | None = None,
) -> Obj:
    """Add a notice (about ``case_ids``, or the whole organization); the cases it names change
    their ``updated_at``. Returns it."""
    cases, _, notices = collections(resources)
    stamp = timestamp(now)
    for case_id in case_ids:
        cases.get(case_id)["updated_at"] = stamp
    return notices.add(
        {
            "id": ident,
            "type": "compliance_review_notice",
            "case_ids": list(case_ids),
            "created_at": stamp,
            "kind": {"type": kind},
            "message": message,
            "organization_id": ORGANIZATION_ID,
            "respond_by": timestamp(respond_by) if respond_by is not None else None,
        }
    )


def _epoch(name: str, raw: str) -> float:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise invalid(f"{name}: Input should be a valid RFC 3339 datetime") from None
    if moment.tzinfo is None:
        raise invalid(f"{name}: the timestamp must name its time zone")
    return moment.timestamp()


def _stamp_epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _bounded(field: str, test: Callable[[float, float], bool], bound: float) -> Callable[[Obj], bool]:
    return lambda o: test(_stamp_epoch(str(o[field])), bound)


def _time_filters(query: Mapping[str, str], fields: Sequence[str]) -> list[Callable[[Obj], bool]]:
    keep: list[Callable[[Obj], bool]] = []
    for field in fields:
        for op, test in _BOUNDS.items():
            raw = query.get(f"{field}[{op}]")
            if raw is not None:
                bound = _epoch(f"{field}[{op}]", raw)
                keep.append(_bounded(field, test, bound))
    return keep


def _ordered(objs: list[Obj], query: Mapping[str, str], order_fields: Sequence[str]) -> list[Obj]:
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("order: Input should be 'asc' or 'desc'")
    field = query.get("order_by", "created_at")
    if field not in order_fields:
        raise invalid("order_by: Input should be " + " or ".join(repr(f) for f in order_fields))
    return sorted(objs, key=lambda o: (_stamp_epoch(str(o[field])), str(o["id"])), reverse=order == "desc")


def check_limit(query: Mapping[str, str]) -> None:
    raw = query.get("limit", "")
    if raw.isdigit() and int(raw) > 100:
        raise invalid("limit: Input should be between 1 and 100")


def case_listing(cases: list[Obj], query: Mapping[str, str], profile_header: str | None) -> list[Obj]:
    """The cases a list asks for, in its order, or the 400 (a ``anthropic-user-profile-id``
    header without the ``user_profile_id`` parameter is one)."""
    check_limit(query)
    profile = query.get("user_profile_id")
    if profile_header is not None and profile is None:
        raise invalid("user_profile_id: required when the anthropic-user-profile-id header is sent")
    status = query.get("status")
    if status is not None and status not in ("open", "closed"):
        raise invalid("status: Input should be 'open' or 'closed'")
    keep = _time_filters(query, ("created_at", "updated_at"))
    if status is not None:
        keep.append(lambda c: c["status"]["type"] == status)
    if profile is not None:
        keep.append(lambda c: any(t["user_profile_id"] == profile for t in c["transcripts"]))
    chosen = [c for c in cases if all(k(c) for k in keep)]
    return _ordered(chosen, query, ("created_at", "updated_at"))


def notice_listing(notices: list[Obj], query: Mapping[str, str]) -> list[Obj]:
    check_limit(query)
    if "order_by" in query:
        raise invalid("order_by: Extra inputs are not permitted")
    keep = _time_filters(query, ("created_at",))
    case_id = query.get("case_id")
    if case_id is not None:
        keep.append(lambda n: case_id in n["case_ids"])
    return _ordered([n for n in notices if all(k(n) for k in keep)], query, ("created_at",))


def _categories(raw: Any, determination: str) -> list[str]:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise invalid("policy_categories: Input should be a valid list of strings")
    for category in raw:
        if category not in VIOLATED:
            raise invalid(f"policy_categories: {category!r} is not a policy category")
    if len(set(raw)) != len(raw):
        raise invalid("policy_categories: each category can appear once")
    if determination == "violation" and not 1 <= len(raw) <= 4:
        raise invalid("policy_categories: send one to four with violation")
    if determination == "no_violation" and raw:
        raise invalid("policy_categories: send none with no_violation")
    return list(raw)


def _verdicts(raw: Any, item_ids: set[str]) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        raise invalid("verdicts: Input should be a valid list")
    seen: set[str] = set()
    for n, verdict in enumerate(raw):
        where = f"verdicts.{n}"
        if not isinstance(verdict, dict):
            raise invalid(f"{where}: Input should be a valid dictionary")
        for field in ("item_id", "determination"):
            if field not in verdict:
                raise invalid(f"{where}.{field}: Field required")
        if verdict["determination"] not in DETERMINATIONS:
            raise invalid(f"{where}.determination: Input should be 'violation' or 'no_violation'")
        item = verdict["item_id"]
        if item not in item_ids:
            raise invalid(f"{where}.item_id: not the item_id of one of the case's transcripts")
        if item in seen:
            raise invalid(f"{where}.item_id: each item_id can appear once")
        seen.add(item)
        category = verdict.get("policy_category")
        if category is not None and (category not in VIOLATED or verdict["determination"] != "violation"):
            raise invalid(f"{where}.policy_category: a violated policy category, with violation only")


def respond(case: Obj, body: Mapping[str, Any], now: float) -> Obj:
    """Record a response to an open case: checked, then the case closes as ``responded``."""
    if "determination" not in body:
        raise invalid("determination: Field required")
    determination = body["determination"]
    if determination not in DETERMINATIONS:
        raise invalid("determination: Input should be 'violation' or 'no_violation'")
    _categories(body.get("policy_categories"), str(determination))
    _verdicts(body.get("verdicts"), {str(t["item_id"]) for t in case["transcripts"]})
    if case["status"]["type"] != "open":
        raise invalid(f"The review case {case['id']} is closed and takes no response")
    case["status"] = {"type": "closed", "reason": {"type": "responded"}}
    case["updated_at"] = timestamp(now)
    return case
