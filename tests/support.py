"""Helpers the suites share, imported as ``from tests.support import ...``: a scripted fault
engine and a fake clock for the mock-server suites, the SDK's own exceptions for error responses
(the resilience suites), a free loopback port, and the test API key. The fixtures built on them
are in tests/conftest.py.

The scripted engine implements the FaultEngine protocol with a fixed list of Decisions, so the
server's application of every Decision field can be tested without the real scenario engine.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: a failure here would break every test module
    import anthropic
    import pytest

    from mockserver import MockServer
    from mockserver.faults import Decision, RequestFacts

TEST_KEY = "sk-test-key"


@dataclass
class Completed:
    facts: RequestFacts
    decision: Decision
    now: float
    status: int
    output_tokens: int
    client_gone: bool


@dataclass
class ScriptedEngine:
    """Returns the scripted decisions in order (then passes), recording every call."""

    script: list[Decision] = field(default_factory=list)
    decided: list[RequestFacts] = field(default_factory=list)
    completed: list[Completed] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)

    def decide(self, facts: RequestFacts, now: float) -> Decision:
        from mockserver.faults import Decision

        self.decided.append(facts)
        return self.script.pop(0) if self.script else Decision()

    def complete(
        self,
        facts: RequestFacts,
        decision: Decision,
        now: float,
        *,
        status: int,
        output_tokens: int,
        client_gone: bool,
    ) -> None:
        self.completed.append(Completed(facts, decision, now, status, output_tokens, client_gone))

    def restart(self, now: float) -> None:
        self.restarts.append(now)

    def push(self, decisions: Iterable[Decision]) -> None:
        self.script.extend(decisions)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def user(text: str = "Hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@functools.cache
def _sdk_client() -> Any:
    import anthropic  # lazily, like everything this module imports from the project's stack

    return anthropic.Anthropic(api_key="test-key", base_url="http://127.0.0.1:9")


def sdk_status_error(
    status: int,
    error_type: str | None,
    headers: dict[str, str] | None = None,
    *,
    request_id: str = "req_x",
    **error_fields: Any,
) -> Exception:
    """The exception the installed SDK raises for this error response: its own choice of class
    for the status, with the body ``{"type": "error", "error": {"type": ..., "message": "m",
    **error_fields}}`` and a ``request-id`` header."""
    import httpx2

    error: dict[str, Any] = {"type": error_type or "api_error", "message": "m", **error_fields}
    response = httpx2.Response(
        status,
        headers={"request-id": request_id, **(headers or {})},
        request=httpx2.Request("POST", "http://127.0.0.1:9/v1/messages"),
    )
    return _sdk_client()._make_status_error(
        f"Error code: {status}", body={"type": "error", "error": error}, response=response
    )


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def assert_machine_catches(machine: type[Any], max_examples: int = 200) -> None:
    """Run a Hypothesis state machine whose object under test was deliberately broken and check
    that it fails: a machine that cannot fail checks nothing. Derandomized (the same examples on
    every run), no shrinking (only the failure matters, not its smallest form)."""
    from hypothesis import HealthCheck, Phase, settings  # the SDK 1.x environment has no Hypothesis
    from hypothesis.stateful import run_state_machine_as_test

    bounded = settings(
        settings.get_profile("busysignal"),  # the suite's (tests/conftest.py)
        max_examples=max_examples,
        stateful_step_count=30,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    try:
        run_state_machine_as_test(machine, settings=bounded)
    except AssertionError:
        return
    raise AssertionError(f"{machine.__name__} ran {max_examples} examples against a broken object and passed")


def strict_client(server: MockServer, retries: int = 0) -> anthropic.Anthropic:
    """The installed SDK's client for a running mock (``server.url``), with strict response
    validation (an object that strays from the SDK's own types fails the test) and ``retries``."""
    import anthropic

    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=retries, _strict_response_validation=True
    )


def error_message(err: pytest.ExceptionInfo[anthropic.APIStatusError]) -> str:
    """The ``error.message`` of the body of an SDK ``APIStatusError`` caught by ``pytest.raises``."""
    body: Any = err.value.body
    return str(body["error"]["message"])
