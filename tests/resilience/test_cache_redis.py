"""RedisCache against a real redis-server started (and stopped) for this module by the shared
``redis_url`` fixture (tests/conftest.py)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import free_port

from resilience.cache import RedisCache, ResponseCache, cached_call, request_key

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def cache(redis_url: str, request: pytest.FixtureRequest) -> Iterator[RedisCache]:
    c = RedisCache(url=redis_url, prefix=f"test:{request.node.name}:")
    yield c
    c.client.close()


def message(text: str = "hi") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


PARAMS: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hello"}],
    "temperature": 0.2,
}


def test_redis_cache_satisfies_the_protocol(cache: RedisCache) -> None:
    assert isinstance(cache, ResponseCache)


def test_redis_cache_miss_then_hit(cache: RedisCache) -> None:
    assert cache.get("absent") is None
    cache.set("k", message(), ttl_s=60)
    assert cache.get("k") == message()


def test_redis_cache_entry_expires_after_its_ttl(cache: RedisCache, monkeypatch: pytest.MonkeyPatch) -> None:
    # the TTL the cache gives Redis, as it asked (reading it back with PTTL races the 50 ms
    # expiry on a busy machine)
    asked: dict[str, Any] = {}
    real_set = cache.client.set

    def spy(name: str, value: Any, **kw: Any) -> Any:
        asked[name] = kw.get("px")
        return real_set(name, value, **kw)

    monkeypatch.setattr(cache.client, "set", spy)
    cache.set("short", message(), ttl_s=0.05)
    cache.set("long", message(), ttl_s=60)
    prefix = "test:test_redis_cache_entry_expires_after_its_ttl:"
    assert asked == {prefix + "short": 50, prefix + "long": 60_000}
    assert 50 < cache.client.pttl(prefix + "long") <= 60_000
    deadline = time.monotonic() + 30  # it goes after 50 ms; the bound is for a saturated machine
    while cache.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling Redis until the entry has expired
    assert cache.get("short") is None
    assert cache.get("long") == message()


def test_redis_cache_default_ttl_is_a_day(cache: RedisCache) -> None:
    cached_call(cache, PARAMS, message)
    name = "test:test_redis_cache_default_ttl_is_a_day:" + request_key(PARAMS)
    ttl_ms = cache.client.pttl(name)
    assert 24 * 3600 * 1000 - 5000 < ttl_ms <= 24 * 3600 * 1000


def test_redis_cache_keys_are_canonical(cache: RedisCache) -> None:
    calls: list[str] = []

    def network(text: str) -> Any:
        def call() -> dict[str, Any]:
            calls.append(text)
            return message(text)

        return call

    cached_call(cache, PARAMS, network("first"))
    same = cached_call(cache, dict(reversed(list(PARAMS.items()))), network("reordered"))
    other = cached_call(cache, {**PARAMS, "temperature": 0.3}, network("different"))
    assert same == message("first")
    assert other == message("different")
    assert calls == ["first", "different"]


def test_redis_cache_shares_entries_between_clients(cache: RedisCache, redis_url: str) -> None:
    cache.set("shared", message("x"), 60)
    other = RedisCache(url=redis_url, prefix="test:test_redis_cache_shares_entries_between_clients:")
    assert other.get("shared") == message("x")
    other.client.close()


def test_redis_cache_fails_open_when_redis_is_unreachable() -> None:
    dead = RedisCache(url=f"redis://127.0.0.1:{free_port()}/0")
    assert dead.get("k") is None
    dead.set("k", message(), 60)  # logged, not raised
    strict = RedisCache(url=f"redis://127.0.0.1:{free_port()}/0", fail_open=False)
    with pytest.raises(redis.ConnectionError):
        strict.get("k")


def test_redis_cache_needs_exactly_one_connection_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedisCache()


def test_resilient_client_with_redis_cache_answers_a_repeat_without_touching_the_network(
    cache: RedisCache,
) -> None:
    import anthropic

    from mockserver import MockServer
    from resilience import Policy, ResilientAnthropic

    params: dict[str, Any] = {
        "model": "claude-haiku-5-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "cache me"}],
        "system": "be brief",
    }
    with MockServer(seed=1) as server:
        sdk = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        client = ResilientAnthropic(sdk, policy=Policy(cache=cache, log_events=False))
        first = client.messages.create(**params)
        assert len(server.journal.entries()) == 1
        again = client.messages.create(**dict(reversed(list(params.items()))))
        assert len(server.journal.entries()) == 1  # the hit never reached the server
        assert again.content == first.content
        client.messages.create(**params, use_cache=False)  # per-request opt-out
        assert len(server.journal.entries()) == 2
        client.messages.create(**{**params, "system": "be verbose"})  # a different request
        assert len(server.journal.entries()) == 3
        sdk.close()
    assert cache.get(request_key(params)) == first.to_dict()


def test_a_failed_response_is_not_cached(cache: RedisCache) -> None:
    import anthropic

    from mockserver import MockServer
    from resilience import Policy, ResilientAnthropic

    down = {
        "name": "down",
        "description": "all 529",
        "rules": [{"id": "a", "match": {"path": "/v1/messages"}, "fault": 529}],
    }
    params: dict[str, Any] = {
        "model": "claude-haiku-5-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "x"}],
    }
    with MockServer(scenario=down, seed=1) as server:
        sdk = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        client = ResilientAnthropic(sdk, policy=Policy(cache=cache, log_events=False))
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(**params)
        sdk.close()
    assert cache.get(request_key(params)) is None


async def test_redis_cache_async_paths_share_entries_with_the_sync_ones(cache: RedisCache) -> None:
    from resilience.cache import cached_call_async, get_async

    async def network() -> dict[str, Any]:
        return message("async")

    try:
        assert await cache.aget("absent") is None
        await cache.aset("k", message("a"), ttl_s=60)
        assert cache.get("k") == message("a")  # written by redis.asyncio, read by the sync client
        cache.set("s", message("s"), ttl_s=60)
        assert await get_async(cache, "s") == message("s")
        lookups: list[bool] = []
        first = await cached_call_async(cache, PARAMS, network, on_lookup=lookups.append)
        again = await cached_call_async(cache, PARAMS, network, on_lookup=lookups.append)
        assert first == again == message("async") and lookups == [False, True]
    finally:
        await cache.aclose()
