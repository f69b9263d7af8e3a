"""Pure cores of the mock: deterministic text, cuts, stop sequences, schema values, SSE framing."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.wire.catalogue import CatalogueError, catalogue_from_data, default_catalogue
from mockserver.wire.generation import TEXT_MAX_TOKENS, TEXT_MIN_TOKENS, base_pieces, content_key, generate
from mockserver.wire.schema_values import value_for_schema
from mockserver.wire.sse import stream_events
from mockserver.wire.validation import validate_count_tokens_request, validate_messages_request

CATALOGUE = default_catalogue()
MODEL = "claude-opus-4-6"


def request(text: str = "hello", **extra: Any) -> tuple[dict[str, Any], Any]:
    body = {"model": MODEL, "max_tokens": 1000, "messages": [{"role": "user", "content": text}], **extra}
    return body, validate_messages_request(body, CATALOGUE)


def test_content_is_a_function_of_prompt_and_seed_only() -> None:
    body, _ = request()
    same = content_key({**body, "max_tokens": 3, "stream": True, "stop_sequences": ["x"]}, 0)
    assert content_key(body, 0) == same
    assert content_key(body, 1) != content_key(body, 0)
    assert content_key({**body, "model": "claude-haiku-4-5"}, 0) != content_key(body, 0)
    texts = {base_pieces(content_key(request(str(i))[0], 0)) for i in range(20)}
    assert len(texts) == 20


@given(st.binary(min_size=16, max_size=16))
def test_base_text_length_is_bounded(key: bytes) -> None:
    pieces = base_pieces(key)
    assert TEXT_MIN_TOKENS <= len(pieces) <= TEXT_MAX_TOKENS
    assert pieces[-1].endswith(".") and not pieces[0].startswith(" ")


@given(text=st.text(max_size=20), max_tokens=st.integers(0, 80))
def test_max_tokens_cuts_a_prefix(text: str, max_tokens: int) -> None:
    body, _ = request(text or "x")
    key = content_key(body, 0)
    full = base_pieces(key)
    body["max_tokens"] = max_tokens
    completion = generate(validate_messages_request(body, CATALOGUE), key)
    assert completion.output_tokens == min(max_tokens, len(full))
    assert completion.stop_reason == ("max_tokens" if max_tokens < len(full) else "end_turn")
    got = "".join(o.text for o in completion.outputs)  # type: ignore[union-attr]
    assert "".join(full).startswith(got)


@settings(max_examples=100)
@given(data=st.data())
def test_stop_sequence_ends_the_text_right_before_the_first_match(data: st.DataObject) -> None:
    body, _ = request(data.draw(st.text(min_size=1, max_size=10)))
    key = content_key(body, 0)
    full = "".join(base_pieces(key))
    start = data.draw(st.integers(0, len(full) - 1))
    stop = full[start : start + data.draw(st.integers(1, 8))]
    body["stop_sequences"] = [stop]
    completion = generate(validate_messages_request(body, CATALOGUE), key)
    got = "".join(o.text for o in completion.outputs)  # type: ignore[union-attr]
    assert completion.stop_reason == "stop_sequence" and completion.stop_sequence == stop
    assert full.startswith(got + stop) and stop not in got
    assert 1 <= completion.output_tokens <= len(base_pieces(key))


def test_count_tokens_and_messages_count_the_same_input() -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image", "source": {"type": "url"}}],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]},
    ]
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    body = {"model": MODEL, "messages": messages, "system": "sys", "tools": tools}
    counted = validate_count_tokens_request(body, CATALOGUE).input_tokens
    assert counted == validate_messages_request({**body, "max_tokens": 10}, CATALOGUE).input_tokens > 1500


def test_sse_events_frame_the_same_completion() -> None:
    body, req = request(max_tokens=7)
    completion = generate(req, content_key(body, 0))
    events = stream_events("msg_1", MODEL, completion, req.input_tokens)
    parsed = []
    for ev in events:
        head, data = ev.data.decode().rstrip("\n").split("\n")
        assert head.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[6:])
        assert payload["type"] == head[7:]
        parsed.append(payload)
    types = [p["type"] for p in parsed]
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(p["delta"]["text"] for p in parsed if p["type"] == "content_block_delta")
    assert text == completion.outputs[0].text  # type: ignore[union-attr]
    assert parsed[-2]["usage"]["output_tokens"] == 7 and parsed[-2]["delta"]["stop_reason"] == "max_tokens"
    assert sum(ev.token for ev in events) == 7


# ---- schema values -------------------------------------------------------------------------


def conforms(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A small JSON Schema checker for the keywords the generator promises to honour."""
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            if part:
                node = node[part]
        return conforms(value, node, root)
    if "const" in schema:
        return bool(value == schema["const"])
    if "enum" in schema:
        return value in schema["enum"]
    if "anyOf" in schema:
        return any(conforms(value, s, root) for s in schema["anyOf"])
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kinds and not any(checks[k](value) for k in kinds):
        return False
    if isinstance(value, dict):
        if not set(schema.get("required", [])) <= set(value):
            return False
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and not set(value) <= set(props):
            return False
        return all(conforms(v, props[k], root) for k, v in value.items() if k in props)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 10**9):
            return False
        return all(conforms(v, schema.get("items", {}), root) for v in value)
    if isinstance(value, str):
        return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = schema.get("minimum", -(10**18)) <= value <= schema.get("maximum", 10**18)
        if "exclusiveMinimum" in schema:
            ok = ok and value > schema["exclusiveMinimum"]
        if "exclusiveMaximum" in schema:
            ok = ok and value < schema["exclusiveMaximum"]
        if "multipleOf" in schema:
            ok = ok and value % schema["multipleOf"] == 0
        return ok
    return True


@st.composite
def leaf_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "integer", "number", "boolean", "null", "enum", "const"]))
    if kind == "string":
        lo = draw(st.integers(0, 30))
        schema: dict[str, Any] = {"type": "string", "minLength": lo}
        if draw(st.booleans()):
            schema["maxLength"] = lo + draw(st.integers(0, 10))
        return schema
    if kind in ("integer", "number"):
        lo = draw(st.integers(-1000, 1000))
        schema = {"type": kind}
        if draw(st.booleans()):
            schema["minimum"] = lo
        if draw(st.booleans()):
            schema["maximum"] = lo + draw(st.integers(2, 100))
        if kind == "integer" and draw(st.booleans()):
            schema["multipleOf"] = draw(st.integers(1, 5))
            schema.pop("maximum", None)
        if kind == "number" and draw(st.booleans()) and "minimum" in schema:
            schema["exclusiveMinimum"] = schema.pop("minimum")
        return schema
    if kind == "enum":
        return {"enum": draw(st.lists(st.text(max_size=5) | st.integers(), min_size=1, max_size=4))}
    if kind == "const":
        return {"const": draw(st.text(max_size=5))}
    return {"type": kind}


schemas = st.recursive(
    leaf_schemas(),
    lambda inner: st.one_of(
        st.builds(
            lambda props, req, closed: {
                "type": "object",
                "properties": props,
                "required": [k for k in props if k in req],
                **({"additionalProperties": False} if closed else {}),
            },
            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4),
            st.sets(st.text(min_size=1, max_size=6)),
            st.booleans(),
        ),
        st.builds(
            lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 2},
            inner,
            st.integers(0, 3),
        ),
        st.builds(lambda options: {"anyOf": options}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(
            lambda s: {"type": [s["type"], "null"]} if "type" in s and isinstance(s["type"], str) else s,
            inner,
        ),
    ),
    max_leaves=10,
)


@settings(max_examples=200)
@given(schema=schemas, seed=st.integers(0, 2**32))
def test_generated_values_satisfy_their_schema(schema: dict[str, Any], seed: int) -> None:
    value = value_for_schema(schema, random.Random(seed))
    assert conforms(value, schema, schema), (value, schema)


def test_schema_values_follow_refs_formats_and_all_of() -> None:
    schema = {
        "type": "object",
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {
            "at": {"$ref": "#/$defs/point"},
            "when": {"type": "string", "format": "date-time"},
            "both": {
                "allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"required": ["b"]}]
            },
        },
        "required": ["at", "when", "both"],
    }
    value = value_for_schema(schema, random.Random(0))
    assert isinstance(value["at"]["x"], (int, float)) and value["when"].endswith("Z")
    assert isinstance(value["both"]["a"], int) and "b" in value["both"]


def test_recursive_schema_terminates() -> None:
    schema = {"type": "object", "properties": {"child": {"$ref": "#"}}, "required": ["child"]}
    value = value_for_schema(schema, random.Random(0))
    depth = 0
    while isinstance(value, dict) and "child" in value:
        value, depth = value["child"], depth + 1
    assert depth <= 10


def test_catalogue_file_errors_name_the_field() -> None:
    with pytest.raises(CatalogueError, match=r"models\[0\]: field 'max_tokens' is required"):
        catalogue_from_data({"models": [{"id": "m"}]}, source="cat.json")
    with pytest.raises(CatalogueError, match="unknown field 'colour'"):
        catalogue_from_data({"models": [{"id": "m", "max_tokens": 5, "colour": "red"}]})
    cat = catalogue_from_data([{"id": "m", "max_tokens": 5, "aliases": ["mm"]}])
    assert cat.get("mm") is cat.get("m") and cat.get("m").info()["type"] == "model"  # type: ignore[union-attr]
