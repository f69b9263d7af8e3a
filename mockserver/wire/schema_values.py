"""Generate a value that satisfies a JSON Schema (the tool ``input`` of a forced tool call).

Covers what tool schemas use: object (required and optional properties, additionalProperties),
array (items, prefixItems, minItems/maxItems, uniqueItems), string (enum, const, minLength/maxLength,
the common formats), integer and number (minimum/maximum, exclusive bounds, multipleOf), boolean,
null, type lists, anyOf/oneOf/allOf, and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``).
``pattern`` is not solved. Deterministic: all choices come from the ``random.Random`` passed in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 8
MAX_SIZE = 1_000  # caps minLength / minItems / minProperties so absurd schemas stay cheap
_WORDS = ("alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "sierra", "tango", "zulu")
_FORMATS: dict[str, str] = {
    "date-time": "2026-01-15T09:30:00Z",
    "date": "2026-01-15",
    "time": "09:30:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
    "duration": "P1D",
}


def value_for_schema(schema: Any, rng: random.Random) -> Any:
    """A JSON value valid under ``schema`` (a best effort for schemas this module does not cover)."""
    return _value(schema, rng, schema, 0)


def _resolve_ref(ref: str, root: Any) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return {}
    return node


def _merge_all_of(schema: Mapping[str, Any], root: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf", []):
        if isinstance(part, Mapping) and "$ref" in part:
            part = _resolve_ref(str(part["$ref"]), root)
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged.setdefault("properties", {})
                merged["properties"] = {**merged["properties"], **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged.setdefault(key, value)
    return merged


def _infer_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return str(non_null[0]) if non_null else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return None


def _value(schema: Any, rng: random.Random, root: Any, depth: int) -> Any:
    if schema is True or not isinstance(schema, Mapping):
        return "value"
    if "$ref" in schema:
        if depth >= MAX_DEPTH:
            return None
        return _value(_resolve_ref(str(schema["$ref"]), root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    if "allOf" in schema and isinstance(schema["allOf"], list):
        return _value(_merge_all_of(schema, root), rng, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            # prefer a non-null option; the first keeps oneOf from matching two branches by chance
            chosen = next(
                (o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")), None
            )
            base = {k: v for k, v in schema.items() if k != key}
            if chosen is None:
                return None
            if isinstance(chosen, Mapping):
                chosen = {**base, **chosen}
            return _value(chosen, rng, root, depth + 1)
    if "default" in schema:
        return schema["default"]
    kind = _infer_type(schema)
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind == "string":
        return _string(schema, rng)
    if kind == "integer":
        return _integer(schema, rng)
    if kind == "number":
        return _number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return "value"


def _object(schema: Mapping[str, Any], rng: random.Random, root: Any, depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = [r for r in schema.get("required", []) if isinstance(r, str)]
    out: dict[str, Any] = {}
    names = required if depth >= MAX_DEPTH else list(dict.fromkeys([*required, *props]))
    for name in names:
        sub = props.get(name, schema.get("additionalProperties", {}))
        if sub is False:
            sub = {}
        out[name] = _value(sub, rng, root, depth + 1)
    min_props = schema.get("minProperties")
    extra = schema.get("additionalProperties", True)
    if isinstance(min_props, int) and extra is not False:
        min_props = min(min_props, MAX_SIZE)
        i = 0
        while len(out) < min_props:
            key = f"extra_{i}"
            if key not in out:
                out[key] = _value(extra if isinstance(extra, Mapping) else {}, rng, root, depth + 1)
            i += 1
    return out


def _array(schema: Mapping[str, Any], rng: random.Random, root: Any, depth: int) -> list[Any]:
    min_items = schema.get("minItems", 0)
    max_items = schema.get("maxItems")
    min_items = min(min_items, MAX_SIZE) if isinstance(min_items, int) and min_items > 0 else 0
    raw_prefix = schema.get("prefixItems")
    prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
    count = max(min_items, len(prefix), 0 if depth >= MAX_DEPTH else 1)
    if isinstance(max_items, int):
        count = min(count, max_items)
    items = schema.get("items", {})
    out: list[Any] = []
    for i in range(count):
        sub = prefix[i] if i < len(prefix) else items
        value = _value(sub if isinstance(sub, Mapping) else {}, rng, root, depth + 1)
        if schema.get("uniqueItems") and value in out:
            value = _unique_variant(value, i)
        out.append(value)
    return out


def _unique_variant(value: Any, i: int) -> Any:
    if isinstance(value, str):
        return f"{value}{i}"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + i
    return value


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    min_len = schema.get("minLength", 0)
    max_len = schema.get("maxLength")
    min_len = min(min_len, MAX_SIZE) if isinstance(min_len, int) and min_len > 0 else 0
    text = _WORDS[rng.randrange(len(_WORDS))]
    while len(text) < min_len:
        text += "-" + _WORDS[rng.randrange(len(_WORDS))]
    if isinstance(max_len, int) and max_len >= 0:
        text = text[:max_len]
    return text


def _bounds(schema: Mapping[str, Any]) -> tuple[float, float, bool, bool]:
    lo, hi = -math.inf, math.inf
    lo_open = hi_open = False
    if isinstance(schema.get("minimum"), (int, float)):
        lo = float(schema["minimum"])
    if isinstance(schema.get("maximum"), (int, float)):
        hi = float(schema["maximum"])
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_lo, (int, float)) and not isinstance(ex_lo, bool) and ex_lo >= lo:
        lo, lo_open = float(ex_lo), True
    if isinstance(ex_hi, (int, float)) and not isinstance(ex_hi, bool) and ex_hi <= hi:
        hi, hi_open = float(ex_hi), True
    return lo, hi, lo_open, hi_open


def _integer(schema: Mapping[str, Any], rng: random.Random) -> int:
    lo, hi, lo_open, hi_open = _bounds(schema)
    low = math.floor(lo) + 1 if lo_open else math.ceil(lo) if lo != -math.inf else None
    high = math.ceil(hi) - 1 if hi_open else math.floor(hi) if hi != math.inf else None
    if low is None and high is None:
        low, high = 0, 100
    elif low is None:
        assert high is not None
        low = high - 100
    elif high is None:
        high = low + 100
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        first = -(-low // step) * step
        if first > high:
            return first
        return first + step * rng.randrange((high - first) // step + 1)
    return rng.randint(low, max(low, high))


def _number(schema: Mapping[str, Any], rng: random.Random) -> float | int:
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool):
        return _integer(schema, rng)
    lo, hi, _, _ = _bounds(schema)
    if lo == -math.inf and hi == math.inf:
        lo, hi = 0.0, 100.0
    elif lo == -math.inf:
        lo = hi - 100.0
    elif hi == math.inf:
        hi = lo + 100.0
    if isinstance(step, float) and step > 0:
        k = math.ceil(lo / step)
        value = k * step
        if value <= lo and schema.get("exclusiveMinimum") is not None:
            value = (k + 1) * step
        return value
    # the midpoint is inside open and closed intervals alike; jitter it within the middle half
    mid = (lo + hi) / 2
    return round(mid + (hi - lo) / 4 * (rng.random() - 0.5), 6) if hi > lo else mid
