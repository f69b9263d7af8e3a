"""MemoryCache, request_key and cached_call: pure behaviour with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.cache import (
    DEFAULT_TTL_S,
    MemoryCache,
    ResponseCache,
    cached_call,
    cached_call_async,
    is_cacheable,
    request_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message(text: str = "hi", stop_reason: str | None = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


PARAMS: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 64,
    "system": "be brief",
    "messages": [{"role": "user", "content": "hello"}],
    "temperature": 0.5,
    "tools": [{"name": "t", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}],
    "tool_choice": {"type": "auto"},
}


def test_memory_cache_satisfies_the_protocol_the_wrapper_codes_against() -> None:
    assert isinstance(MemoryCache(), ResponseCache)


def test_request_key_ignores_field_order_at_every_depth() -> None:
    reordered = {
        "tool_choice": {"type": "auto"},
        "tools": [{"input_schema": {"properties": {"a": {"type": "string"}}, "type": "object"}, "name": "t"}],
        "temperature": 0.5,
        "messages": [{"content": "hello", "role": "user"}],
        "system": "be brief",
        "max_tokens": 64,
        "model": "claude-x",
    }
    assert request_key(reordered) == request_key(PARAMS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", "claude-y"),
        ("system", "be verbose"),
        ("messages", [{"role": "user", "content": "hello!"}]),
        ("temperature", 0.7),
        ("max_tokens", 65),
        ("top_p", 0.99),
        ("stop_sequences", ["END"]),
        ("tools", []),
        ("tool_choice", {"type": "any"}),
        ("thinking", {"type": "enabled", "budget_tokens": 1024}),
    ],
)
def test_request_key_changes_with_every_parameter_that_shapes_the_answer(field: str, value: Any) -> None:
    assert request_key({**PARAMS, field: value}) != request_key(PARAMS)


def test_request_key_ignores_transport_only_fields_and_equal_numbers() -> None:
    base = request_key({**PARAMS, "temperature": 1})
    assert request_key({**PARAMS, "temperature": 1.0}) == base
    assert request_key({**PARAMS, "temperature": 1, "stream": True, "timeout": 30, "max_retries": 0}) == base
    transport = {"extra_headers": {"x": "y"}, "metadata": {"user_id": "u"}}
    assert request_key({**PARAMS, "temperature": 1, **transport}) == base


def test_request_key_treats_sdk_not_given_as_absent() -> None:
    from anthropic import NOT_GIVEN

    assert request_key({**PARAMS, "top_k": NOT_GIVEN}) == request_key(PARAMS)


def test_request_key_rejects_bad_input_with_a_specific_error() -> None:
    with pytest.raises(ValueError, match="model"):
        request_key({"messages": []})
    with pytest.raises(TypeError, match=r"params\.messages\[0\]\.content is a set"):
        request_key({"model": "m", "messages": [{"role": "user", "content": {"a"}}]})
    with pytest.raises(ValueError, match="finite"):
        request_key({"model": "m", "temperature": float("nan")})


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


# extra keys never replace the model: a request without a model is refused, not keyed
extra_keys = st.text(min_size=1, max_size=6).filter(lambda key: key != "model")


@given(st.dictionaries(extra_keys, json_values, max_size=6), st.randoms())
def test_request_key_is_invariant_under_any_permutation_of_keys(extra: dict[str, Any], rnd: Any) -> None:
    params = {"model": "m", **extra}
    items = list(params.items())
    rnd.shuffle(items)
    assert request_key(dict(items)) == request_key(params)


def test_is_cacheable_accepts_only_complete_successful_messages() -> None:
    assert is_cacheable(message())
    assert is_cacheable(message(stop_reason="max_tokens"))
    assert not is_cacheable(message(stop_reason=None))  # unfinished stream
    assert not is_cacheable(message(stop_reason="pause_turn"))
    assert not is_cacheable({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def test_memory_cache_hit_miss_and_ttl_expiry_follow_the_clock() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    assert cache.get("k") is None
    cache.set("k", message(), ttl_s=10)
    assert cache.get("k") == message()
    clock.now += 9.999
    assert cache.get("k") == message()
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0


def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryCache(max_entries=2, clock=FakeClock())
    cache.set("a", message("a"), 60)
    cache.set("b", message("b"), 60)
    assert cache.get("a") is not None  # a is now the most recent
    cache.set("c", message("c"), 60)
    assert cache.get("b") is None
    assert cache.get("a") == message("a")
    assert cache.get("c") == message("c")


def test_memory_cache_evicts_expired_entries_before_live_ones() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_entries=2, clock=clock)
    cache.set("old", message("old"), 1)
    cache.set("live", message("live"), 100)
    clock.now += 5
    cache.set("new", message("new"), 100)
    assert cache.get("live") == message("live")
    assert cache.get("new") == message("new")


def test_memory_cache_hands_out_copies() -> None:
    cache = MemoryCache(clock=FakeClock())
    cache.set("k", message(), 60)
    got = cache.get("k")
    assert got is not None
    got["content"][0]["text"] = "mutated"
    assert cache.get("k") == message()


def test_memory_cache_rejects_bad_ttl_and_size() -> None:
    cache = MemoryCache()
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="ttl_s"):
            cache.set("k", message(), bad)
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


def test_cached_call_hit_never_calls_the_network() -> None:
    cache = MemoryCache(clock=FakeClock())
    calls: list[int] = []
    lookups: list[bool] = []

    def network() -> dict[str, Any]:
        calls.append(1)
        return message()

    first = cached_call(cache, PARAMS, network, on_lookup=lookups.append)
    second = cached_call(cache, dict(reversed(list(PARAMS.items()))), network, on_lookup=lookups.append)
    assert first == second == message()
    assert calls == [1]
    assert lookups == [False, True]


def test_cached_call_uses_the_default_ttl_of_a_day() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    cached_call(cache, PARAMS, message)
    clock.now += DEFAULT_TTL_S - 1
    assert cache.get(request_key(PARAMS)) is not None
    clock.now += 1
    assert cache.get(request_key(PARAMS)) is None


def test_cached_call_does_not_store_incomplete_or_failed_responses() -> None:
    cache = MemoryCache(clock=FakeClock())
    cached_call(cache, PARAMS, lambda: message(stop_reason="pause_turn"))
    assert len(cache) == 0

    def failing() -> dict[str, Any]:
        raise RuntimeError("529 overloaded")

    with pytest.raises(RuntimeError):
        cached_call(cache, PARAMS, failing)
    assert len(cache) == 0


def test_cached_call_opt_out_neither_reads_nor_writes() -> None:
    cache = MemoryCache(clock=FakeClock())
    cache.set(request_key(PARAMS), message("cached"), 60)
    got = cached_call(cache, PARAMS, lambda: message("fresh"), use_cache=False)
    assert got == message("fresh")
    assert cache.get(request_key(PARAMS)) == message("cached")
    other = {**PARAMS, "model": "other"}
    cached_call(cache, other, lambda: message("fresh"), use_cache=False)
    assert cache.get(request_key(other)) is None


async def test_cached_call_async_hits_without_awaiting_the_call() -> None:
    cache = MemoryCache(clock=FakeClock())
    calls: list[int] = []

    async def network() -> dict[str, Any]:
        calls.append(1)
        return message()

    assert await cached_call_async(cache, PARAMS, network) == message()
    assert await cached_call_async(cache, PARAMS, network) == message()
    assert calls == [1]
