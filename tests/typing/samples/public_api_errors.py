"""Deliberate misuses of the public names: ``mypy --strict`` must report each marked line
(tests/typing/test_public_api_types.py asserts that it does, so the typing test can fail)."""

from __future__ import annotations

import anthropic

from mockserver import MockServer
from resilience import CircuitBreaker, Policy, ResilientAnthropic


def misuses() -> None:
    Policy.default(fallback=42)  # E[arg-type] fallback is a chain or model names
    async_sdk = anthropic.AsyncAnthropic()
    ResilientAnthropic(async_sdk, policy=Policy.default())  # E[arg-type] the sync wrapper wraps a sync client
    port: str = MockServer().port  # E[assignment] port is an int
    CircuitBreaker("m").allow()  # E[call-arg] every breaker call takes now
    CircuitBreaker("m").record("maybe", 0.0)  # E[arg-type] an outcome is one of three literals
    print(port)
