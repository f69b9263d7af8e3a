"""Message bodies: the JSON Message and the SSE event sequence of docs/anthropic-api.md §6."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mockserver.wire.generation import Completion, TextOutput, ThinkingOutput

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def usage(input_tokens: int, output_tokens: int, service_tier: str = "standard") -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": service_tier,
    }


def message_object(
    message_id: str,
    model: str,
    completion: Completion,
    input_tokens: int,
    service_tier: str = "standard",
    extra_usage: dict[str, Any] | None = None,
    lead: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON Message; ``extra_usage``: fields ``usage`` carries besides the counts (``speed``,
    ``fallback_credit``, ``iterations``); ``lead``: content blocks before the completion's (the
    ``fallback`` blocks of a served fallback)."""
    usage_of = usage(input_tokens, completion.output_tokens, service_tier)
    if extra_usage:
        usage_of.update(extra_usage)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [*lead, *completion.content()] if lead else completion.content(),
        "stop_reason": completion.stop_reason,
        "stop_sequence": completion.stop_sequence,
        "usage": usage_of,
    }


def message_json_tail(
    model: str, completion: Completion, input_tokens: int, extra_usage: dict[str, Any] | None = None
) -> bytes:
    """Everything after the id of the JSON message: ``b'{"id":"' + id + b'"' + tail`` is the body."""
    body = message_object("", model, completion, input_tokens, extra_usage=extra_usage)
    del body["id"]
    return b"," + _dumps(body).encode()[1:]


def message_json_tail_fast(model: str, completion: Completion, input_tokens: int) -> bytes:
    """``message_json_tail`` for text-only completions, without building the object (same bytes)."""
    if not all(isinstance(o, TextOutput) for o in completion.outputs):
        return message_json_tail(model, completion, input_tokens)
    content = ",".join('{"type":"text","text":' + _dumps(o.text) + "}" for o in completion.outputs)  # type: ignore[union-attr]
    stop = "null" if completion.stop_sequence is None else _dumps(completion.stop_sequence)
    return (
        ',"type":"message","role":"assistant","model":'
        + _dumps(model)
        + ',"content":['
        + content
        + '],"stop_reason":"'
        + completion.stop_reason
        + '","stop_sequence":'
        + stop
        + ',"usage":{"input_tokens":'
        + str(input_tokens)
        + ',"output_tokens":'
        + str(completion.output_tokens)
        + ',"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":'
        '{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"service_tier":"standard"}}'
    ).encode()


def message_json(message_id: str, tail: bytes) -> bytes:
    return b"".join((b'{"id":"', message_id.encode(), b'"', tail))  # one copy, not three


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data).encode() + b"\n\n"


def error_event(error_type: str, message: str) -> bytes:
    return event("error", {"type": "error", "error": {"type": error_type, "message": message}})


@dataclass(frozen=True, slots=True)
class SseEvent:
    data: bytes  # the encoded event
    token: bool  # carries generated output (paced by tokens_per_s)


def _block_parts(output: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A content block's opening ``content_block``, its token deltas and its closing deltas."""
    if isinstance(output, TextOutput):
        return {"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in output.pieces], []
    if isinstance(output, ThinkingOutput):
        first: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        payloads = [{"type": "thinking_delta", "thinking": piece} for piece in output.pieces]
        return first, payloads, [{"type": "signature_delta", "signature": output.signature}]
    first = {"type": "tool_use", "id": output.id, "name": output.name, "input": {}}
    payloads = [{"type": "input_json_delta", "partial_json": fragment} for fragment in output.fragments]
    return first, payloads, []


def _block_events(index: int, output: Any, ping: bool) -> list[SseEvent]:
    """The events of content block ``index``: start, (the stream's one ping), deltas, stop."""
    first, payloads, closing = _block_parts(output)
    start_event = {"type": "content_block_start", "index": index, "content_block": first}
    events = [SseEvent(event("content_block_start", start_event), False)]
    if ping:
        events.append(SseEvent(event("ping", {"type": "ping"}), False))
    for payloads_of, token in ((payloads, True), (closing, False)):
        for payload in payloads_of:
            delta = {"type": "content_block_delta", "index": index, "delta": payload}
            events.append(SseEvent(event("content_block_delta", delta), token))
    events.append(
        SseEvent(event("content_block_stop", {"type": "content_block_stop", "index": index}), False)
    )
    return events


def lead_events(lead: Sequence[dict[str, Any]]) -> list[SseEvent]:
    """Blocks that carry no deltas (a fallback chain's ``fallback`` blocks), at indices 0...: each
    a ``content_block_start`` with the whole block and its ``content_block_stop``."""
    events = []
    for index, block in enumerate(lead):
        start_event = {"type": "content_block_start", "index": index, "content_block": block}
        events.append(SseEvent(event("content_block_start", start_event), False))
        stop_event = {"type": "content_block_stop", "index": index}
        events.append(SseEvent(event("content_block_stop", stop_event), False))
    return events


def stream_events(
    message_id: str,
    model: str,
    completion: Completion,
    input_tokens: int,
    extra_usage: dict[str, Any] | None = None,
    lead: Sequence[dict[str, Any]] = (),
) -> list[SseEvent]:
    """The SSE events of a streamed answer, in the API's order (a ping after the first block starts);
    ``extra_usage`` and ``lead`` as :func:`message_object`'s: ``speed`` only in the start's usage,
    ``iterations`` only in the delta's; each ``lead`` block a start and a stop, without deltas."""
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage(input_tokens, 1),
    }
    if extra_usage:
        start["usage"].update((k, v) for k, v in extra_usage.items() if k != "iterations")
    events = [SseEvent(event("message_start", {"type": "message_start", "message": start}), False)]
    events.extend(lead_events(lead))
    for index, output in enumerate(completion.outputs, len(lead)):
        events.extend(_block_events(index, output, ping=index == len(lead)))
    if not completion.outputs:
        events.append(SseEvent(event("ping", {"type": "ping"}), False))
    delta_usage = usage(input_tokens, completion.output_tokens)
    del delta_usage["cache_creation"], delta_usage["service_tier"]
    if extra_usage:
        delta_usage.update((k, v) for k, v in extra_usage.items() if k != "speed")
    stop = {"stop_reason": completion.stop_reason, "stop_sequence": completion.stop_sequence}
    delta = {"type": "message_delta", "delta": stop, "usage": delta_usage}
    events.append(SseEvent(event("message_delta", delta), False))
    events.append(SseEvent(event("message_stop", {"type": "message_stop"}), False))
    return events
