"""Request validation as the Messages API does it: strict on shapes, lenient on what it accepts.

Pure functions from a parsed JSON body to a :class:`MessageRequest` or an :class:`ApiError`
with the 4xx the real API would send. Tool ``input_schema`` contents are not validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.wire.catalogue import Catalogue, ModelEntry
from mockserver.wire.errors import bounded_list, invalid, not_found
from mockserver.wire.fallbacks import (
    Credit,
    Hop,
    check_credit,
    check_fallbacks,
    check_model_speed,
    check_speed,
    resolve_chain,
)
from mockserver.wire.sampling import check_fixed_sampling, validate_sampling
from mockserver.wire.tokens import count_input_tokens

# Every top-level field the current API (and its beta surface) accepts on POST /v1/messages;
# temperature/top_p/top_k are still accepted from older SDKs.
MESSAGES_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "service_tier",
        "cache_control",
        "container",
        "output_config",
        "output_format",
        "inference_geo",
        "speed",
        "diagnostics",
        "context_management",
        "mcp_servers",
        "billing_policy",
        "compaction",
        "fallback_credit_token",
        "fallbacks",
        "thread",
        "betas",
        "user_profile_id",
        "workspace_id",
    }
)

COUNT_TOKENS_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "output_format",
        "cache_control",
        "speed",
        "context_management",
        "mcp_servers",
        "billing_policy",
        "compaction",
        "betas",
        "user_profile_id",
        "workspace_id",
    }
)

INPUT_BLOCK_TYPES: frozenset[str] = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "advisor_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "compaction",
        "tool_addition",
        "tool_removal",
        "mcp_tool_listing",
        "fallback",
    }
)

MAX_MESSAGES = 100_000
_EMPTY_CONTENT = "all messages must have non-empty content except for the optional final assistant message"
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """A validated Messages (or count_tokens) request."""

    model: str
    entry: ModelEntry
    max_tokens: int
    messages: list[dict[str, Any]]
    system: Any
    stop_sequences: tuple[str, ...]
    stream: bool
    tools: list[dict[str, Any]]
    forced_tool: str | None  # name of the tool tool_choice forces, if any
    input_tokens: int
    thinking: bool = False  # extended thinking on: the answer starts with a thinking block
    speed: str | None = None  # "fast" | "standard" when sent (echoed as usage.speed)
    credit: Credit | None = None  # the fallback_credit_token presented
    fallbacks: tuple[Hop, ...] | None = None  # the server-side fallback chain (None: not sent)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _need_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"{where}: Input should be a valid string")
    return value


def _required(obj: dict[str, Any], name: str, where: str) -> Any:
    """``obj[name]``, or the API's "Field required" refusal naming ``where.name``."""
    if name not in obj:
        raise invalid(f"{where}.{name}: Field required")
    return obj[name]


def _required_str(obj: dict[str, Any], name: str, where: str) -> str:
    return _need_str(_required(obj, name, where), f"{where}.{name}")


def _required_dict(obj: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    return _need_dict(_required(obj, name, where), f"{where}.{name}")


def _need_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    return value


def _validate_block(block: Any, where: str) -> None:
    block = _need_dict(block, where)
    kind = block.get("type")
    if kind is None:
        raise invalid(f"{where}.type: Field required")
    if not isinstance(kind, str) or kind not in INPUT_BLOCK_TYPES:
        raise invalid(
            f"{where}.type: Input tag {kind!r} found using 'type' does not match any of the expected tags"
        )
    if kind == "text":
        if "text" not in block:
            raise invalid(f"{where}.text: Field required")
        if not _need_str(block["text"], f"{where}.text"):
            raise invalid("messages: text content blocks must be non-empty")
    elif kind in ("image", "document"):
        _required_dict(block, "source", where)
    elif kind in ("tool_use", "server_tool_use"):
        for name in ("id", "name"):
            _required_str(block, name, where)
        _required_dict(block, "input", where)
    elif kind == "tool_result":
        _required_str(block, "tool_use_id", where)
        content = block.get("content")
        if content is not None and not isinstance(content, str):
            if not isinstance(content, list):
                raise invalid(f"{where}.content: Input should be a valid string or list")
            for i, inner in enumerate(content):
                _validate_block(inner, f"{where}.content.{i}")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise invalid(f"{where}.is_error: Input should be a valid boolean")
    elif kind == "thinking":
        for name in ("thinking", "signature"):
            _required_str(block, name, where)
    elif kind == "redacted_thinking":
        _required_str(block, "data", where)


def _validate_messages(raw: Any) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = bounded_list(
        raw,
        "messages",
        most=MAX_MESSAGES,
        empty="at least one message is required",
        too_many=f"too many messages (at most {MAX_MESSAGES})",
    )
    for i, message in enumerate(raw):
        where = f"messages.{i}"
        message = _need_dict(message, where)
        if "role" not in message:
            raise invalid(f"{where}.role: Field required")
        if message["role"] not in ("user", "assistant"):
            raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid(f"{where}.content: Field required")
        content = message["content"]
        if not isinstance(content, (str, list)):
            raise invalid(f"{where}.content: Input should be a valid string or list")
        final_assistant = i == len(raw) - 1 and message["role"] == "assistant"
        if not content and not final_assistant:
            raise invalid(f"{where}: {_EMPTY_CONTENT}")
        if isinstance(content, list):
            for j, block in enumerate(content):
                _validate_block(block, f"{where}.content.{j}")
        if final_assistant and _ends_with_whitespace(content):
            raise invalid("messages: final assistant content cannot end with trailing whitespace")
    return checked


def _ends_with_whitespace(content: str | list[Any]) -> bool:
    if isinstance(content, str):
        return content != content.rstrip()
    last = content[-1] if content else None
    if isinstance(last, dict) and last.get("type") == "text" and isinstance(last.get("text"), str):
        text: str = last["text"]
        return text != text.rstrip()
    return False


def _validate_system(raw: Any) -> None:
    if raw is None or isinstance(raw, str):
        return
    if not isinstance(raw, list):
        raise invalid("system: Input should be a valid string or list")
    for i, block in enumerate(raw):
        block = _need_dict(block, f"system.{i}")
        if block.get("type") != "text":
            raise invalid(f"system.{i}.type: Input should be 'text'")
        _required_str(block, "text", f"system.{i}")


def _validate_tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("tools: Input should be a valid list")
    seen: set[str] = set()
    for i, tool in enumerate(raw):
        where = f"tools.{i}"
        tool = _need_dict(tool, where)
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise invalid(f"{where}.type: Input should be a valid string")
        name = _required_str(tool, "name", where)
        if kind in (None, "custom"):
            if not _TOOL_NAME.fullmatch(name):
                raise invalid(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            _required_dict(tool, "input_schema", where)
            if "description" in tool and not isinstance(tool["description"], str):
                raise invalid(f"{where}.description: Input should be a valid string")
        if name in seen:
            raise invalid("tools: Tool names must be unique.")
        seen.add(name)
    return raw


def _validate_tool_choice(raw: Any, tools: list[dict[str, Any]]) -> str | None:
    """Returns the name of the custom tool the choice forces (``tool``, or ``any`` → first custom tool)."""
    if raw is None:
        return None
    choice = _need_dict(raw, "tool_choice")
    kind = choice.get("type")
    if kind is None:
        raise invalid("tool_choice.type: Field required")
    if kind not in ("auto", "any", "tool", "none"):
        raise invalid(
            f"tool_choice.type: Input tag {kind!r} found using 'type' does not match any of the expected "
            "tags: 'auto', 'any', 'tool', 'none'"
        )
    if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
        raise invalid("tool_choice.disable_parallel_tool_use: Input should be a valid boolean")
    custom = [t for t in tools if t.get("type") in (None, "custom")]
    if kind == "tool":
        if "name" not in choice:
            raise invalid("tool_choice.name: Field required")
        name = _need_str(choice["name"], "tool_choice.name")
        if not any(t["name"] == name for t in tools):
            raise invalid(f"tool_choice: Tool '{name}' not found in tools")
        return name if any(t["name"] == name for t in custom) else None
    if kind == "any":
        if not tools:
            raise invalid("tool_choice: 'any' requires tools to be provided")
        return custom[0]["name"] if custom else None
    return None


def _validate_common_options(body: Mapping[str, Any], max_tokens: int | None) -> None:
    if "metadata" in body and body["metadata"] is not None:
        metadata = _need_dict(body["metadata"], "metadata")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise invalid("metadata.user_id: Input should be a valid string")
    if "thinking" in body and body["thinking"] is not None:
        thinking = _need_dict(body["thinking"], "thinking")
        kind = thinking.get("type")
        if kind not in ("enabled", "disabled", "adaptive"):
            raise invalid("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
        if kind == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool):
                raise invalid("thinking.budget_tokens: Input should be a valid integer")
            if budget < 1024:
                raise invalid("thinking.budget_tokens: Input should be greater than or equal to 1024")
            if max_tokens is not None and budget >= max_tokens:
                raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    if "service_tier" in body and body["service_tier"] not in ("auto", "standard_only"):
        raise invalid("service_tier: Input should be 'auto' or 'standard_only'")


def check_fields(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"body: Input should be a valid dictionary, got {_type_name(body)}")
    for key in body:
        if key not in allowed:
            raise invalid(f"{key}: Extra inputs are not permitted")
    return body


def model_field(body: Mapping[str, Any]) -> str:
    if "model" not in body:
        raise invalid("model: Field required")
    return _need_str(body["model"], "model")


def resolve_model(model: str, catalogue: Catalogue) -> ModelEntry:
    entry = catalogue.get(model)
    if entry is None or entry.lifecycle == "retired":
        raise not_found(f"model: {model}")
    return entry


def _max_tokens(body: dict[str, Any], minimum: int) -> int:
    if "max_tokens" not in body:
        raise invalid("max_tokens: Field required")
    max_tokens = body["max_tokens"]
    if not _is_int(max_tokens):
        raise invalid("max_tokens: Input should be a valid integer")
    if max_tokens < minimum:
        raise invalid(f"max_tokens: Input should be greater than or equal to {minimum}")
    return int(max_tokens)


def stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    raw_stop = body.get("stop_sequences")
    if raw_stop is None:
        return ()
    if not isinstance(raw_stop, list):
        raise invalid("stop_sequences: Input should be a valid list")
    for i, s in enumerate(raw_stop):
        _need_str(s, f"stop_sequences.{i}")
    return tuple(raw_stop)


def stream_flag(body: dict[str, Any]) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    return stream


def _thinking(body: dict[str, Any]) -> bool:
    """Whether thinking is on (a 400 when tool_choice also forces tool use)."""
    raw = body.get("thinking")
    thinking = isinstance(raw, dict) and raw.get("type") in ("enabled", "adaptive")
    choice = body.get("tool_choice")
    if thinking and isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")
    return thinking


def validate_messages_request(
    body: Any, catalogue: Catalogue, *, allow_zero_max_tokens: bool = True, strict: bool = True
) -> MessageRequest:
    """Validate a POST /v1/messages body (batch items pass ``allow_zero_max_tokens=False``);
    ``strict`` refuses the sampling parameters the model fixes (``sampling_fixed``)."""
    body = check_fields(body, MESSAGES_FIELDS)
    model = model_field(body)
    max_tokens = _max_tokens(body, 0 if allow_zero_max_tokens else 1)
    if "messages" not in body:
        raise invalid("messages: Field required")
    messages = _validate_messages(body["messages"])
    system = body.get("system")
    _validate_system(system)
    stop = stop_sequences(body)
    stream = stream_flag(body)
    validate_sampling(body)
    tools = _validate_tools(body.get("tools"))
    forced = _validate_tool_choice(body.get("tool_choice"), tools)
    _validate_common_options(body, max_tokens)
    thinking = _thinking(body)
    speed = check_speed(body)
    credit = check_credit(body)
    fallbacks = check_fallbacks(body)
    entry = resolve_model(model, catalogue)
    if strict:
        check_fixed_sampling(body, entry)
        check_model_speed(speed, entry)
    if max_tokens > entry.max_tokens:
        raise invalid(
            f"max_tokens: {max_tokens} > {entry.max_tokens}, which is the maximum allowed number of "
            f"output tokens for {entry.id}"
        )
    return MessageRequest(
        model=model,
        entry=entry,
        max_tokens=max_tokens,
        messages=messages,
        system=system,
        stop_sequences=stop,
        stream=stream,
        tools=tools,
        forced_tool=forced,
        input_tokens=count_input_tokens(messages, system, tools),
        thinking=thinking,
        speed=speed,
        credit=credit,
        fallbacks=resolve_chain(fallbacks, entry, catalogue, max_tokens, speed),
    )


def validate_count_tokens_request(body: Any, catalogue: Catalogue) -> MessageRequest:
    """Validate a POST /v1/messages/count_tokens body."""
    body = check_fields(body, COUNT_TOKENS_FIELDS)
    model = model_field(body)
    if "messages" not in body:
        raise invalid("messages: Field required")
    messages = _validate_messages(body["messages"])
    system = body.get("system")
    _validate_system(system)
    tools = _validate_tools(body.get("tools"))
    forced = _validate_tool_choice(body.get("tool_choice"), tools)
    _validate_common_options(body, None)
    entry = resolve_model(model, catalogue)
    return MessageRequest(
        model=model,
        entry=entry,
        max_tokens=0,
        messages=messages,
        system=system,
        stop_sequences=(),
        stream=False,
        tools=tools,
        forced_tool=forced,
        input_tokens=count_input_tokens(messages, system, tools),
    )
