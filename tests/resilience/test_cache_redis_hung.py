"""RedisCache against a Redis that accepts connections and never answers (a hung or SIGSTOPped
server looks like this to a client): every call fails open within the cache's timeout, and the
async paths never hold the event loop.

The hung server is a loopback socket in a thread. For each connection it counts how many times
the test's event loop ticked between the first bytes of a command and the client giving up
(closing the connection). A blocking client freezes the loop, so nothing ticks and only the
server's backstop ends the connection: both are asserted against."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.resilience.test_cache_memory import message

from resilience.cache import RedisCache, cached_call_async

pytest.importorskip("redis")

BACKSTOP_S = 5.0  # the hung server closes a connection itself after this, so a blocked test ends


@dataclass
class Ticks:
    n: int = 0


@dataclass
class Hung:
    """One connection to the hung server: loop ticks seen while its command waited, who closed."""

    ticks_while_hung: int = 0
    closed_by: str = ""


@dataclass
class HungRedis:
    url: str
    ticks: Ticks
    connections: list[Hung] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def settled(self) -> list[Hung]:
        """The connections, once each has ended (the client closed it, or the backstop did)."""
        for t in list(self.threads):
            t.join(timeout=BACKSTOP_S + 5)
        return self.connections


def _serve_one(conn: socket.socket, ticks: Ticks, record: Hung, stop: threading.Event) -> None:
    conn.settimeout(0.05)
    start: int | None = None
    waited = 0.0
    with conn:
        while not stop.is_set() and waited < BACKSTOP_S:
            try:
                data = conn.recv(4096)
            except TimeoutError:
                if start is not None:
                    waited += 0.05
                continue
            if not data:  # the client gave up and closed
                record.closed_by = "client"
                break
            if start is None:
                start = ticks.n  # a command arrived; it will never be answered
        else:
            record.closed_by = "backstop"
        record.ticks_while_hung = ticks.n - (start if start is not None else ticks.n)


@pytest.fixture
def hung_redis() -> Iterator[HungRedis]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()
    state = HungRedis(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", Ticks())

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            record = Hung()
            state.connections.append(record)
            t = threading.Thread(target=_serve_one, args=(conn, state.ticks, record, stop), daemon=True)
            state.threads.append(t)
            t.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield state
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for t in state.threads:
            t.join(timeout=5)
        listener.close()


async def _tick(ticks: Ticks) -> None:
    while True:
        ticks.n += 1
        await asyncio.sleep(0.001)


async def _close(cache: RedisCache) -> None:
    aclose = getattr(cache, "aclose", None)
    if aclose is not None:
        await aclose()
    cache.client.close()


def assert_every_call_timed_out_without_blocking(hung: HungRedis) -> None:
    assert hung.connections, "the cache never reached the hung Redis"
    for conn in hung.settled():
        assert conn.closed_by == "client", "the cache waited for the server instead of its timeout"
        assert conn.ticks_while_hung > 0, "the event loop was blocked while the cache waited"


async def test_async_client_with_a_hung_redis_answers_from_the_api_and_never_blocks_the_loop(
    hung_redis: HungRedis, caplog: pytest.LogCaptureFixture
) -> None:
    import anthropic

    from mockserver import MockServer
    from resilience import AsyncResilientAnthropic, Policy, outcome_of

    cache = RedisCache(url=hung_redis.url)  # the default timeout
    params: dict[str, Any] = {
        "model": "claude-haiku-5-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hung cache"}],
    }
    caplog.set_level(logging.WARNING, logger="resilience.cache")
    ticker = asyncio.create_task(_tick(hung_redis.ticks))
    try:
        with MockServer(seed=1) as server:
            sdk = anthropic.AsyncAnthropic(api_key="k", base_url=server.url, max_retries=0)
            client = AsyncResilientAnthropic(sdk, policy=Policy(cache=cache, log_events=False))
            first = await client.messages.create(**params)
            again = await client.messages.create(**params)
            sent = len(server.journal.entries())
            await sdk.close()
    finally:
        ticker.cancel()
        await _close(cache)
    assert sent == 2  # the cache missed (failed open) both times: the API answered both
    assert first.content and again.content == first.content
    assert outcome_of(first) is not None and not outcome_of(first).cached  # type: ignore[union-attr]
    assert client.policy.counters.snapshot()["cache_hits"] == 0
    text = caplog.text
    assert "redis get failed, treating as a miss" in text
    assert "redis set failed, entry not stored" in text
    assert_every_call_timed_out_without_blocking(hung_redis)


async def test_cached_call_async_fails_open_on_a_hung_redis_and_strict_mode_raises(
    hung_redis: HungRedis,
) -> None:
    import redis

    cache = RedisCache(url=hung_redis.url, timeout_s=0.2)
    strict = RedisCache(url=hung_redis.url, timeout_s=0.2, fail_open=False)
    calls: list[str] = []

    async def network() -> dict[str, Any]:
        calls.append("api")
        return message()

    ticker = asyncio.create_task(_tick(hung_redis.ticks))
    try:
        lookups: list[bool] = []
        params = {"model": "m", "messages": []}
        got = await cached_call_async(cache, params, network, on_lookup=lookups.append)
        with pytest.raises((asyncio.TimeoutError, redis.TimeoutError)):
            await strict.aget("k")
    finally:
        ticker.cancel()
        for c in (cache, strict):
            await _close(c)
    assert got == message() and calls == ["api"] and lookups == [False]
    assert_every_call_timed_out_without_blocking(hung_redis)


def test_sync_get_on_a_hung_redis_is_a_miss_after_the_timeout(hung_redis: HungRedis) -> None:
    cache = RedisCache(url=hung_redis.url, timeout_s=0.2)
    try:
        assert cache.get("k") is None
        cache.set("k", message(), 60)
    finally:
        cache.client.close()
    assert hung_redis.connections
    # the client gave up at its own timeout; the server's backstop did not have to end it
    assert all(c.closed_by == "client" for c in hung_redis.settled())


def test_a_bad_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        RedisCache(url="redis://127.0.0.1:1/0", timeout_s=0)


def test_fail_open_warnings_are_rate_limited_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    from tests.support import FakeClock, free_port

    clock = FakeClock(0.0)
    cache = RedisCache(url=f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2, log_every_s=60.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="resilience.cache")
    try:
        for _ in range(3):
            assert cache.get("k") is None  # refused: a miss each time
        cache.set("k", message(), 60)
        clock.advance(61.0)
        assert cache.get("k") is None
    finally:
        cache.client.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "redis get failed, treating as a miss" in lines[0] and "more since" not in lines[0]
    assert "redis set failed, entry not stored" in lines[1]
    assert lines[2].endswith("(2 more since the last report)")
