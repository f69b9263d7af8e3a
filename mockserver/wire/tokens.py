"""The one token-counting function: count_tokens and usage.input_tokens both use it.

Not a real tokenizer: about four characters a token, a fixed cost for media, a small
overhead per message and per tool. What matters is that it is deterministic, cheap and the
same on both endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MESSAGE_OVERHEAD = 3
REQUEST_OVERHEAD = 4
TOOL_OVERHEAD = 20
MEDIA_TOKENS = 1_500


def text_tokens(text: str) -> int:
    return (len(text) + 3) >> 2


def _json_tokens(value: Any) -> int:
    return text_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))


def block_tokens(block: Mapping[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return text_tokens(text) if isinstance(text, str) else 0
    if kind in ("image", "document"):
        source = block.get("source")
        if (
            isinstance(source, Mapping)
            and source.get("type") == "text"
            and isinstance(source.get("data"), str)
        ):
            return text_tokens(source["data"])
        return MEDIA_TOKENS
    if kind == "tool_use":
        return 8 + _json_tokens(block.get("input", {}))
    if kind == "tool_result":
        return 5 + content_tokens(block.get("content", ""))
    if kind == "thinking":
        thinking = block.get("thinking")
        return text_tokens(thinking) if isinstance(thinking, str) else 0
    return _json_tokens(block)


def content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, Sequence):
        return sum(block_tokens(b) for b in content if isinstance(b, Mapping))
    return 0


def count_input_tokens(
    messages: Sequence[Mapping[str, Any]],
    system: Any = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Input tokens of a (validated) request: system + messages + tool definitions."""
    total = REQUEST_OVERHEAD
    if system is not None:
        total += content_tokens(system)
    for message in messages:
        total += MESSAGE_OVERHEAD + content_tokens(message.get("content", ""))
    if tools:
        for tool in tools:
            total += TOOL_OVERHEAD + _json_tokens(tool)
    return total
