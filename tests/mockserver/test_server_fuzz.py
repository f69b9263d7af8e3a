"""Hypothesis fuzzing of POST /v1/messages: every answer is a 200 or an Anthropic-shaped 4xx.

Never a 500, a hang or a crash. One in-process server for the whole module keeps it fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mockserver import MockServer

MODEL = "claude-haiku-4-5"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "stream",
        "temperature",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "service_tier",
        "top_k",
    ]
) | st.text(max_size=12)
blocks = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "thinking", "bogus"])},
    optional={
        "text": json_values,
        "source": json_values,
        "id": json_values,
        "name": json_values,
        "input": json_values,
        "tool_use_id": json_values,
        "content": json_values,
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]) | json_scalars},
        optional={"content": st.text(max_size=30) | st.lists(blocks, max_size=3) | json_values},
    ),
    max_size=3,
)
schemas = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["object", "string", "integer", "number", "boolean", "array", "null"])
            | st.lists(st.sampled_from(["string", "null", "integer"]), max_size=2),
            "minimum": st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6),
            "maximum": st.integers(-(10**6), 10**6),
            "exclusiveMinimum": st.integers(-100, 100),
            "multipleOf": st.integers(-3, 7) | st.floats(-1, 3),
            "minLength": st.integers(-2, 50),
            "maxLength": st.integers(-2, 50),
            "enum": st.lists(json_scalars, max_size=3),
            "required": st.lists(st.text(max_size=5), max_size=3) | json_scalars,
            "$ref": st.sampled_from(["#", "#/$defs/a", "#/nope", "http://x"]),
            "minItems": st.integers(-1, 5),
            "uniqueItems": st.booleans(),
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "properties": st.dictionaries(st.text(max_size=5), inner, max_size=3),
            "items": inner,
            "anyOf": st.lists(inner, max_size=2),
            "allOf": st.lists(inner, max_size=2),
            "$defs": st.fixed_dictionaries({"a": inner}),
        },
    ),
    max_leaves=8,
)


@st.composite
def near_valid_bodies(draw: st.DrawFn, max_mutations: int = 3) -> dict[str, Any]:
    """A valid body with some fields replaced, dropped or added."""
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": draw(st.integers(-5, 70_000)),
        "messages": [{"role": "user", "content": "hello"}],
    }
    if draw(st.booleans()):
        name = draw(st.text(alphabet="abcdefgh_", min_size=1, max_size=8))
        body["tools"] = [{"name": name, "input_schema": draw(schemas)}]
        body["tool_choice"] = draw(
            st.sampled_from([{"type": "tool", "name": name}, {"type": "any"}, {"type": "auto"}])
        )
    body["stream"] = draw(st.booleans())
    for _ in range(draw(st.integers(0, max_mutations))):
        key = draw(field_names)
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_values | messages)
    if max_mutations and draw(st.booleans()):
        body["messages"] = draw(messages)
    return body


# printable ASCII without surrounding whitespace: what an HTTP client can send at all
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
    str.strip
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "x-api-key": header_values,
        "authorization": header_values.map(lambda v: ("Bearer " + v).strip()) | header_values,
        "anthropic-version": st.sampled_from(["2023-06-01", "2026-10-21"]) | header_values,
        "anthropic-beta": header_values,
        "x-stainless-retry-count": header_values,
        "content-type": header_values,
    },
)
bodies = (
    near_valid_bodies().map(lambda b: json.dumps(b).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=1) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: MockServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=60.0) as client:
        yield client


def check_anthropic_shape(response: httpx2.Response) -> None:
    rid = response.headers["request-id"]
    assert rid.startswith("req_")
    if response.status_code == 200:
        if response.headers["content-type"].startswith("text/event-stream"):
            text = response.text
            assert text.startswith("event: message_start\n")
            assert text.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')
        else:
            message = response.json()
            assert message["type"] == "message" and message["stop_reason"] is not None
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == rid
    assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, extra=headers)
def test_any_body_and_headers_get_200_or_an_anthropic_4xx(
    http: httpx2.Client, body: bytes, extra: dict[str, str]
) -> None:
    base = {"x-api-key": "fuzz", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    response = http.post("/v1/messages", content=body, headers={**base, **extra})
    event(f"status {response.status_code}")
    check_anthropic_shape(response)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=near_valid_bodies(max_mutations=0), system=st.none() | st.text(max_size=40))
def test_mostly_valid_bodies_generate_valid_messages_and_streams(
    http: httpx2.Client, body: dict[str, Any], system: str | None
) -> None:
    """Valid requests (tools with arbitrary schemas, streams, odd max_tokens) exercise generation."""
    if system is not None:
        body["system"] = system
    response = http.post(
        "/v1/messages", json=body, headers={"x-api-key": "fuzz", "anthropic-version": "2023-06-01"}
    )
    event(f"status {response.status_code}")
    check_anthropic_shape(response)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=near_valid_bodies())
def test_count_tokens_never_fails_with_a_5xx(http: httpx2.Client, body: dict[str, Any]) -> None:
    body.pop("max_tokens", None)
    body.pop("stream", None)
    response = http.post(
        "/v1/messages/count_tokens",
        json=body,
        headers={"x-api-key": "fuzz", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert isinstance(response.json()["input_tokens"], int)
    else:
        assert response.json()["request_id"] == response.headers["request-id"]
