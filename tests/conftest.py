"""Shared fixtures for the mock-server suites: a scripted fault engine and a fake clock.

The scripted engine implements the FaultEngine protocol with a fixed list of Decisions, so the
server's application of every Decision field can be tested without the real scenario engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported lazily: a conftest failure would break every test module
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


@pytest.fixture
def scripted_engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def user(text: str = "Hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]
