"""Dreams (``/v1/dreams``): asynchronous jobs that read past sessions and a memory store and write
a reorganized memory store.

A dream is ``pending`` when made, ``running`` :data:`RUNNING_AFTER_S` later and ``completed``
(its output memory store in ``outputs``, its usage counted) :data:`DONE_AFTER_S` after it was
made, on the server's scenario clock; it is brought up to date whenever it is read. **cancel**
stops a pending or running dream (a canceled one is answered unchanged; a completed or failed
one is the 400); **archive** hides an ended dream from the default list (a pending or running
one is the 400; an archived one is answered unchanged). The stored record wraps the API object
with the clock reading it was made at. Pure functions; the routes are :mod:`mockserver.web.dreams`.
"""

from __future__ import annotations

from typing import Any

from mockserver.wire import managed
from mockserver.wire.errors import invalid
from mockserver.wire.resources import Obj, timestamp

BETA = "dreaming-2026-04-21"  # the beta the SDK sends on the dreams routes
ID_PREFIX = "drm_"
MEMORY_STORE_PREFIX = "memstore_"  # the SDK names no prefix for a memory store: the family's noun
NOUN, KIND = "Dream", "dream"
RUNNING_AFTER_S, DONE_AFTER_S = 0.5, 2.0
MAX_INSTRUCTIONS = 4096
STATUSES = ("pending", "running", "completed", "failed", "canceled")
ENDED = ("completed", "failed", "canceled")
FIELDS = frozenset(("inputs", "model", "instructions", "output_behavior"))


def _inputs(raw: Any) -> list[Obj]:
    inputs = managed.list_field(raw, "inputs")
    kinds = [i.get("type") for i in inputs]
    if sorted(str(k) for k in kinds) != ["memory_store", "sessions"]:
        raise invalid("inputs: give exactly one `memory_store` entry and exactly one `sessions` entry")
    made: list[Obj] = []
    for item in inputs:
        if item["type"] == "memory_store":
            made.append(
                {"memory_store_id": managed.required_str(item, "memory_store_id"), "type": "memory_store"}
            )
            continue
        ids = item.get("session_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(s, str) and s for s in ids):
            raise invalid("inputs.session_ids: Input should be a non-empty list of session ids")
        made.append({"session_ids": list(ids), "type": "sessions"})
    return made


def _model(raw: Any) -> Obj:
    if isinstance(raw, str):
        raw = {"id": raw}
    if not isinstance(raw, dict):
        raise invalid("model: Input should be a valid string or object")
    speed = raw.get("speed") or "standard"
    if speed != "standard":
        raise invalid("model.speed: Input should be 'standard'")
    return {"id": managed.required_str(raw, "id"), "speed": speed}


def _output_behavior(raw: Any) -> Obj:
    if raw is None:
        return {"type": "create_new"}
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "create_new":
        return {"type": "create_new"}
    if kind != "update_existing":
        raise invalid("output_behavior.type: Input should be 'create_new' or 'update_existing'")
    return {"memory_store_id": managed.required_str(raw, "memory_store_id"), "type": "update_existing"}


def _instructions(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_INSTRUCTIONS:
        raise invalid(f"instructions: should be a string of 1 to {MAX_INSTRUCTIONS} characters")
    return raw


def new_dream(ident: str, body: Any, now: float, clock: float, output_store: str) -> Obj:
    """The record of a pending dream (``output_store``: the memory store ``create_new`` makes)."""
    body = managed.body_dict(body, FIELDS)
    for name in ("inputs", "model"):
        if body.get(name) is None:
            raise invalid(f"{name}: Field required")
    dream: Obj = {
        "id": ident,
        "type": "dream",
        "archived_at": None,
        "created_at": timestamp(now),
        "ended_at": None,
        "error": None,
        "inputs": _inputs(body["inputs"]),
        "instructions": _instructions(body.get("instructions")),
        "model": _model(body["model"]),
        "output_behavior": _output_behavior(body.get("output_behavior")),
        "outputs": [],
        "session_id": None,
        "status": "pending",
        "usage": {
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "input_tokens": 0,
            "output_tokens": 0,
        },
    }
    return {"id": ident, "dream": dream, "made_at": clock, "made_wall": now, "output_store": output_store}


def advanced(record: Obj, clock: float) -> Obj:
    """The dream as it stands at ``clock`` (pending, then running, then completed)."""
    dream: Obj = record["dream"]
    age = clock - record["made_at"]
    if dream["status"] == "pending" and age >= RUNNING_AFTER_S:
        dream["status"] = "running"
    if dream["status"] == "running" and age >= DONE_AFTER_S:
        behavior = dream["output_behavior"]
        store = behavior.get("memory_store_id") or record["output_store"]
        sessions = next(i for i in dream["inputs"] if i["type"] == "sessions")["session_ids"]
        dream.update(
            status="completed",
            ended_at=timestamp(record["made_wall"] + DONE_AFTER_S),
            outputs=[{"memory_store_id": store, "type": "memory_store"}],
            usage={
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "input_tokens": 1000 * len(sessions),
                "output_tokens": 250 * len(sessions),
            },
        )
    return dream


def cancel(record: Obj, clock: float, now: float) -> Obj:
    dream = advanced(record, clock)
    if dream["status"] in ("completed", "failed"):
        raise invalid(f"Dream {dream['id']} is {dream['status']} and cannot be canceled.")
    if dream["status"] != "canceled":
        dream.update(status="canceled", ended_at=timestamp(now))
    return dream


def archive(record: Obj, clock: float, now: float) -> Obj:
    dream = advanced(record, clock)
    if dream["status"] not in ENDED:
        raise invalid(f"Dream {dream['id']} is {dream['status']}: cancel it before archiving it.")
    return managed.archive(dream, now) if dream["archived_at"] is None else dream


def statuses(values: list[str]) -> set[str] | None:
    """The ``statuses`` filter (repeated, or comma-separated), None when not given."""
    wanted = {s for v in values for s in v.split(",") if s}
    for status in wanted:
        if status not in STATUSES:
            raise invalid(f"statuses: Input should be one of {', '.join(STATUSES)}, got {status!r}")
    return wanted or None
