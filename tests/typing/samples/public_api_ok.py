"""A user's program over the public names, written to type-check under ``mypy --strict``
(tests/typing/test_public_api_types.py checks it; it is never run nor collected by pytest)."""

from __future__ import annotations

import random
from typing import assert_type

import anthropic
from aiohttp import web
from anthropic.types import Message

import scenarios
from mockserver import AsyncMockServer, Journal, JournalEntry, MockServer, ServerConfig, create_app
from mockserver.conformance import CheckResult, Verdict, calls, check_caps, logical_requests, parse_entries
from resilience import (
    AIMDLimit,
    AsyncResilientAnthropic,
    BreakerState,
    CallOutcome,
    CircuitBreaker,
    FullJitter,
    Policy,
    ResilientAnthropic,
    RetryBudget,
    outcome_of,
)


def sync_client(server: MockServer) -> Message:
    assert_type(server.url, str)
    assert_type(server.journal, Journal)
    client = ResilientAnthropic(
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0),
        policy=Policy.default(fallback=["claude-sonnet-5-5", "claude-haiku-5-5"], seed=1),
    )
    message = client.messages.create(
        model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert_type(message, Message)
    outcome = outcome_of(message)
    assert_type(outcome, CallOutcome | None)
    if outcome is not None:
        assert_type(outcome.model, str)
        assert_type(outcome.attempts, int)
    return message


async def async_client() -> Message:
    async with AsyncMockServer(seed=1, scenario="flaky-5xx") as server:
        assert_type(server, AsyncMockServer)
        client = AsyncResilientAnthropic(
            anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0),
            policy=Policy.default(),
        )
        message = await client.messages.create(
            model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        return assert_type(message, Message)


def judged(entries: list[JournalEntry]) -> bool:
    result = check_caps(parse_entries(entries), max_attempts=4)
    assert_type(result, CheckResult)
    assert_type(result.verdict, Verdict)
    assert_type(result.passed, bool)
    return len(calls(entries)) == len(logical_requests(entries))


def pieces(now: float) -> float:
    breaker = CircuitBreaker("claude-sonnet-5-5", failure_ratio=0.5, open_s=15.0)
    assert_type(breaker.allow(now), bool)
    assert_type(breaker.state, BreakerState)
    breaker.record("failure", now)
    budget = RetryBudget(ratio=0.1, floor=10.0)
    assert_type(budget.try_retry(), bool)
    limit = AIMDLimit(initial=16.0)
    limit.on_overload(began=now, now=now)
    assert_type(limit.limit, float)
    return FullJitter(base=0.5, cap=8.0).delay(1, None, random.Random(1))


def server_pieces() -> None:
    assert_type(create_app(ServerConfig(), scenario="major-outage"), web.Application)
    with MockServer(scenario=scenarios.path("major-outage"), seed=3) as server:
        assert_type(server, MockServer)
        sync_client(server)
    assert_type(scenarios.names(), list[str])
    assert_type(scenarios.load("major-outage").name, str)
