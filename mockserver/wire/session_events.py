"""A session's events: what a client sends (``user.*``, ``system.message``), how the mock's agent
answers, and the SSE encoding of the event stream.

The mock's agent answers at once and deterministically: a ``user.message`` is followed by
``session.status_running``, one ``agent.message`` whose text is the Messages generator's base
text for the message's content (:func:`mockserver.wire.generation.base_pieces`, so the same
content and seed give the same words), and ``session.status_idle`` with ``stop_reason``
``end_turn``; the session's status is ``running`` between the two and ``idle`` once the answer is
in, which is before the send returns, so a client always reads an idle session. A
``user.interrupt`` or ``system.message`` is recorded and changes nothing (the session is already
idle). Tool answers (``user.tool_confirmation``, ``user.custom_tool_result``, ``user.tool_result``)
are the 400: the mock's agent never calls a tool, so no tool use is pending; ``user.define_outcome``
(outcome grading) is not modelled and is the 400 too.

The stream (``GET .../events/stream``) sends the session's events so far, one SSE event each, named
by the event's ``type`` with the event as its ``data`` (the SDK yields every named event but
``ping``; ``error`` is its mid-stream error), and then ends. A real stream stays open while the
session lives; the mock's session is idle whenever a client can read it, so nothing more would
arrive and the mock closes the stream instead of holding it open. ``event_deltas`` is accepted and
sends no previews (deltas are best-effort in the API too).

Hand-written: the event shapes are the SDK's types; no library speaks this protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.generation import base_pieces, content_key
from mockserver.wire.resources import Obj, timestamp
from mockserver.wire.sessions import time_filter
from mockserver.wire.sse import SseEvent, event
from mockserver.wire.tokens import content_tokens

MAX_SENT = 50  # events in one send
SENDABLE = ("user.message", "user.interrupt", "system.message")
NO_TOOL_PENDING = ("user.tool_confirmation", "user.custom_tool_result", "user.tool_result")
TOOL_ID_FIELD = {"user.custom_tool_result": "custom_tool_use_id"}
USER_CONTENT = ("text", "image", "document", "redacted")

NewId = Callable[[], str]  # a fresh ``sevt_`` id


def _content(raw: Any, where: str, allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid(f"{where}.content: Input should be a non-empty list")
    for block in raw:
        if not isinstance(block, dict) or block.get("type") not in allowed:
            raise invalid(f"{where}.content.type: Input should be one of {', '.join(map(repr, allowed))}")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise invalid(f"{where}.content.text: Input should be a valid string")
    return [dict(b) for b in raw]


def user_event(raw: Any, index: int, ident: str, now: float) -> dict[str, Any]:
    """The stored event for one sent event (its id and ``processed_at`` added), or the 400."""
    where = f"events.{index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise invalid(f"{where}.type: Field required")
    kind = raw["type"]
    if kind in NO_TOOL_PENDING:
        field = TOOL_ID_FIELD.get(kind, "tool_use_id")
        raise invalid(f"{where}.{field}: no pending tool use {raw.get(field)!r} in this session")
    if kind == "user.define_outcome":
        raise invalid(f"{where}.type: user.define_outcome is not supported by this server")
    if kind not in SENDABLE:
        raise invalid(f"{where}.type: Input should be one of {', '.join(map(repr, SENDABLE))}")
    out: dict[str, Any] = {"id": ident, "type": kind, "processed_at": timestamp(now)}
    if kind == "user.message":
        out["content"] = _content(raw.get("content"), where, USER_CONTENT)
    elif kind == "system.message":
        out["content"] = _content(raw.get("content"), where, ("text",))
    else:
        thread = raw.get("session_thread_id")
        if thread is not None and not isinstance(thread, str):
            raise invalid(f"{where}.session_thread_id: Input should be a valid string")
        out["session_thread_id"] = thread
    return out


def sent_events(body: Any, new_id: NewId, now: float) -> list[dict[str, Any]]:
    """The events of a send body, each checked and stamped (all or none: a 400 stores nothing)."""
    raw = body.get("events") if isinstance(body, dict) else None
    if not isinstance(raw, list) or not raw:
        raise invalid("events: Input should be a non-empty list")
    if len(raw) > MAX_SENT:
        raise invalid(f"events: at most {MAX_SENT} events per request")
    return [user_event(r, i, new_id(), now) for i, r in enumerate(raw)]


def agent_turn(
    session: Obj, message: dict[str, Any], seed: int, new_id: NewId, now: float
) -> tuple[list[dict[str, Any]], int, int]:
    """The agent's answer to one user message: (events, input tokens, output tokens)."""
    model = str(session["agent"]["model"]["id"])
    key = content_key({"model": model, "messages": [{"role": "user", "content": message["content"]}]}, seed)
    pieces = base_pieces(key)
    stamp = timestamp(now)
    events: list[dict[str, Any]] = [
        {"id": new_id(), "processed_at": stamp, "type": "session.status_running"},
        {
            "id": new_id(),
            "content": [{"text": "".join(pieces), "type": "text"}],
            "processed_at": stamp,
            "type": "agent.message",
        },
        {
            "id": new_id(),
            "processed_at": stamp,
            "stop_details": None,
            "stop_reason": {"type": "end_turn"},
            "type": "session.status_idle",
        },
    ]
    return events, content_tokens(message["content"]), len(pieces)


def process(
    session: Obj, sent: list[dict[str, Any]], seed: int, new_id: NewId, now: float
) -> list[dict[str, Any]]:
    """Everything the sent events add to the session's history, in order (the sent events and
    the agent's answers), with the session's status and usage brought up to date."""
    history: list[dict[str, Any]] = []
    usage = session["usage"]
    for ev in sent:
        history.append(ev)
        if ev["type"] != "user.message":
            continue
        session["status"] = "running"
        answer, input_tokens, output_tokens = agent_turn(session, ev, seed, new_id, now)
        history.extend(answer)
        usage["input_tokens"] = int(usage.get("input_tokens") or 0) + input_tokens
        usage["output_tokens"] = int(usage.get("output_tokens") or 0) + output_tokens
        session["status"] = "idle"
    return history


def event_filter(query: Any) -> Callable[[dict[str, Any]], bool]:
    """The ``types`` filter of the events list (``types[]=agent.message``), all when none."""
    types = set([*query.getall("types[]", []), *query.getall("types", [])])
    in_time = time_filter(query, "processed_at")  # the API compares events' processed_at

    def keep(ev: dict[str, Any]) -> bool:
        return (not types or ev["type"] in types) and in_time(ev)

    return keep


def stream_events(history: list[dict[str, Any]]) -> tuple[list[SseEvent], int]:
    """The SSE events of a session's history, and the output tokens they carry."""
    out: list[SseEvent] = []
    tokens = 0
    for ev in history:
        spoken = ev["type"] == "agent.message"
        if spoken:
            tokens += sum(len(str(b.get("text", "")).split()) for b in ev["content"])
        out.append(SseEvent(event(str(ev["type"]), ev), spoken))
    return out, tokens
