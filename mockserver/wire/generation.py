"""Deterministic completions: a pure function of the prompt, the limits and the seed.

The same prompt (messages, system, tools, model) and seed always give the same base text;
``max_tokens`` cuts it and ``stop_sequences`` end it early, so a client can predict both.
A tool forced by ``tool_choice`` produces a ``tool_use`` block whose ``input`` satisfies the
tool's ``input_schema``. An answer that would run past the model's context window (the input
and ``max_tokens`` together over the catalogue's ``max_input_tokens``) stops where the window
is full, with ``stop_reason`` ``model_context_window_exceeded``: what the current models send
instead of refusing such a request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.wire.schema_values import value_for_schema
from mockserver.wire.validation import MessageRequest

_VOCABULARY = (
    "the",
    "signal",
    "is",
    "busy",
    "but",
    "your",
    "client",
    "waits",
    "and",
    "tries",
    "again",
    "with",
    "patience",
    "a",
    "steady",
    "stream",
    "of",
    "tokens",
    "arrives",
    "on",
    "time",
    "every",
    "request",
    "gets",
    "an",
    "answer",
    "from",
    "mock",
    "server",
    "quietly",
    "backs",
    "off",
    "jitter",
    "keeps",
    "retries",
    "apart",
    "load",
    "rises",
    "falls",
    "calm",
    "returns",
    "after",
    "storm",
    "budget",
    "holds",
    "circuit",
    "closes",
    "model",
    "replies",
    "clearly",
)
TEXT_MIN_TOKENS = 12
TEXT_MAX_TOKENS = 60
JSON_CHARS_PER_FRAGMENT = 8


@dataclass(frozen=True, slots=True)
class TextOutput:
    pieces: tuple[str, ...]  # one piece per output token (text_delta payloads)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def block(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class ToolUseOutput:
    id: str
    name: str
    input: Any
    fragments: tuple[str, ...]  # input_json_delta payloads; their concatenation is json(input)

    def block(self) -> dict[str, Any]:
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input}


@dataclass(frozen=True, slots=True)
class ThinkingOutput:
    pieces: tuple[str, ...]  # one piece per thinking token (thinking_delta payloads)
    signature: str

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def block(self) -> dict[str, Any]:
        return {"type": "thinking", "thinking": self.text, "signature": self.signature}


Output = TextOutput | ToolUseOutput | ThinkingOutput
THINKING_MAX_TOKENS = 24


@dataclass(frozen=True, slots=True)
class Completion:
    outputs: tuple[Output, ...]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int

    def content(self) -> list[dict[str, Any]]:
        return [o.block() for o in self.outputs]


# the parts of a body the base text does not depend on (they cut or frame it instead)
NOT_CONTENT = frozenset({"model", "max_tokens", "stop_sequences", "stream"})


def canonical_prompt(body: dict[str, Any]) -> bytes:
    """Canonical JSON of the body without model, max_tokens, stop_sequences and stream."""
    rest = {k: v for k, v in body.items() if k not in NOT_CONTENT}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str).encode()


def prompt_digest_of(body: Mapping[str, Any], prompt: bytes | None = None) -> str:
    """Digest of the parsed body without ``model`` and ``max_tokens`` (groups a call across fallback).

    ``prompt`` is ``canonical_prompt(body)`` when already computed; the fields it leaves out
    besides model and max_tokens (stop_sequences, stream) are hashed after it."""
    if prompt is None:
        prompt = canonical_prompt(dict(body))
    h = hashlib.blake2b(prompt, digest_size=12)
    h.update(json.dumps([body.get("stop_sequences", "-"), body.get("stream", "-")], default=str).encode())
    return h.hexdigest()


def content_key(body: dict[str, Any], seed: int, prompt: bytes | None = None) -> bytes:
    """What the base text depends on: model, prompt and seed — not max_tokens, stop sequences or stream."""
    if prompt is None:
        prompt = canonical_prompt(body)
    h = hashlib.blake2b(prompt, digest_size=16, key=seed.to_bytes(8, "little", signed=True))
    h.update(str(body.get("model")).encode())
    return h.digest()


# every word in its four spellings, with its leading space: lower, Capitalised, "lower.", "Capitalised."
_SPELLINGS: tuple[tuple[str, ...], ...] = (
    tuple(" " + w for w in _VOCABULARY),
    tuple(" " + w.capitalize() for w in _VOCABULARY),
    tuple(" " + w + "." for w in _VOCABULARY),
    tuple(" " + w.capitalize() + "." for w in _VOCABULARY),
)


def base_pieces(key: bytes) -> tuple[str, ...]:
    """The uncut text for a content key, one piece per token (a pure function of the key)."""
    stream = hashlib.shake_128(key).digest(2 * TEXT_MAX_TOKENS + 1)
    n = TEXT_MIN_TOKENS + stream[0] % (TEXT_MAX_TOKENS - TEXT_MIN_TOKENS + 1)
    size = len(_VOCABULARY)
    last = n - 1
    pieces: list[str] = []
    capital = 1  # a sentence starts with a capital
    for i in range(n):
        end = 2 if i == last or (i > 2 and stream[2 + 2 * i] < 31) else 0  # about one word in eight ends one
        pieces.append(_SPELLINGS[capital + end][stream[1 + 2 * i] % size])
        capital = 1 if end else 0
    pieces[0] = pieces[0][1:]
    return tuple(pieces)


def _cut_text(pieces: tuple[str, ...], max_tokens: int, stops: tuple[str, ...]) -> Completion:
    kept = pieces[:max_tokens]
    text = "".join(kept)
    best: tuple[int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        pos = text.find(stop)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, stop)
    if best is not None:
        pos, stop = best
        end_of_stop = pos + len(stop)
        out: list[str] = []
        consumed = 0
        offset = 0
        for piece in kept:
            consumed += 1
            start = offset
            offset += len(piece)
            if start < pos:
                out.append(piece[: pos - start] if offset > pos else piece)
            if offset >= end_of_stop:
                break
        outputs: tuple[Output, ...] = (TextOutput(tuple(p for p in out if p)),) if pos > 0 else ()
        return Completion(outputs, "stop_sequence", stop, consumed)
    outputs = (TextOutput(kept),) if kept else ()
    reason = "max_tokens" if len(pieces) > max_tokens else "end_turn"
    return Completion(outputs, reason, None, len(kept))


def _tool_call(request: MessageRequest, key: bytes) -> Completion:
    tool = next(t for t in request.tools if t["name"] == request.forced_tool)
    rng = random.Random(int.from_bytes(key[8:16], "little"))
    try:
        value = value_for_schema(tool.get("input_schema", {}), rng)
    except (ValueError, OverflowError, TypeError, RecursionError):
        value = {}  # a schema no value can be made for (absurd bounds); the API would not accept it either
    if not isinstance(value, dict):
        value = {}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    fragments = tuple(
        text[i : i + JSON_CHARS_PER_FRAGMENT] for i in range(0, len(text), JSON_CHARS_PER_FRAGMENT)
    )
    tool_id = "toolu_01" + hashlib.blake2b(key + tool["name"].encode(), digest_size=11).hexdigest()
    tokens = 8 + len(fragments)
    reason = "tool_use" if tokens <= request.max_tokens else "max_tokens"
    output = ToolUseOutput(tool_id, tool["name"], value, fragments)
    return Completion((output,), reason, None, min(tokens, request.max_tokens))


def _thinking(key: bytes, max_tokens: int) -> ThinkingOutput:
    pieces = base_pieces(hashlib.blake2b(key, digest_size=16, person=b"thinking").digest())
    pieces = pieces[: min(THINKING_MAX_TOKENS, max_tokens)]
    signature = hashlib.blake2b(key + "".join(pieces).encode(), digest_size=48).hexdigest()
    return ThinkingOutput(pieces, "Sig" + signature)


CONTEXT_WINDOW_EXCEEDED = "model_context_window_exceeded"


def generate(request: MessageRequest, key: bytes) -> Completion:
    """The completion for a validated request whose prompt has content key ``key``.

    With thinking on, a thinking block comes first and its tokens count against max_tokens. When
    the context window has less room than max_tokens, the room is the limit, and an answer cut by
    it stops with ``model_context_window_exceeded``."""
    room = request.entry.max_input_tokens - request.input_tokens
    if 0 < room < request.max_tokens:
        cut = _generate(dataclasses.replace(request, max_tokens=room), key)
        if cut.stop_reason == "max_tokens":
            return dataclasses.replace(cut, stop_reason=CONTEXT_WINDOW_EXCEEDED)
        return cut
    return _generate(request, key)


def _generate(request: MessageRequest, key: bytes) -> Completion:
    if request.max_tokens == 0:
        return Completion((), "max_tokens", None, 0)
    if not request.thinking:
        if request.forced_tool is not None:
            return _tool_call(request, key)
        return _cut_text(base_pieces(key), request.max_tokens, request.stop_sequences)
    thinking = _thinking(key, request.max_tokens)
    used = len(thinking.pieces)
    if used >= request.max_tokens:
        return Completion((thinking,), "max_tokens", None, used)
    rest = dataclasses.replace(request, max_tokens=request.max_tokens - used, thinking=False)
    answer = _generate(rest, key)
    return Completion(
        (thinking, *answer.outputs), answer.stop_reason, answer.stop_sequence, used + answer.output_tokens
    )
