"""Hypothesis, end to end: generated per-model fault scripts against the bundled client on the
mock; the journal must show exactly the attempts, waits and model choices the policy promises.

The policy under test has millisecond-scale equal-jitter backoff (so every wait it asks for has a
lower and an upper bound; the journal's gaps, which also hold this machine's speed, only a lower
one), a two-model fallback chain and nothing stateful across calls (no budget, breaker or
throttle), so that each generated call can be predicted exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mockserver.conformance import parse_entries
from mockserver.journal import JournalEntry
from mockserver.web.server import MockServer
from resilience import EqualJitter, Policy, ResilientAnthropic
from resilience.policy import Retry
from resilience.testing import SystemClock

PRIMARY, FALLBACK = "claude-opus-5-5", "claude-haiku-5-5"
MAX_ATTEMPTS = 3
BASE_S, MULTIPLIER, CAP_S = 0.05, 2.0, 0.2
RETRY_AFTER_MS = 40.0

# item → (scenario form, expected (status, fault) in the journal, retryable)
ITEMS: dict[str, tuple[Any, tuple[int | None, str | None], bool]] = {
    "ok": ("ok", (200, None), True),
    "529": (529, (529, "http_error"), True),
    "429+retry-after": (
        {"error": {"status": 429, "retry_after_ms": RETRY_AFTER_MS}},
        (429, "http_error"),
        True,
    ),
    # a 429 without retry-after (the mock's 429 says retry-after: 1 unless told otherwise)
    "429": ({"error": {"status": 429, "retry_after_s": None}}, (429, "http_error"), True),
    "500": (500, (500, "http_error"), True),
    "502": (502, (502, "http_error"), True),
    "503": (503, (503, "http_error"), True),
    "reset": ("reset", (None, "reset"), True),
    "mid-stream": ({"stream": {"kind": "error_event", "after_events": 2}}, (200, "stream_error_event"), True),
    "400": (400, (400, "http_error"), False),
}
COMMON = ["ok", "529", "429+retry-after", "429", "500", "502", "503", "reset"]


@dataclass(frozen=True)
class Expected:
    model: str
    item: str


def predict(scripts: dict[str, list[str]]) -> list[Expected]:
    """What the policy promises: per model in chain order, attempts until success, a failure it
    does not retry, or MAX_ATTEMPTS; fall back only after retryable failures ran out."""
    out: list[Expected] = []
    for model in (PRIMARY, FALLBACK):
        script = scripts[model]
        for n in range(MAX_ATTEMPTS):
            item = script[n] if n < len(script) else "ok"
            out.append(Expected(model, item))
            if item == "ok":
                return out
            if not ITEMS[item][2]:
                return out  # a caller error: no retry, no fallback
    return out


def delay_bounds(item: str, attempts_on_model: int) -> tuple[float, float]:
    if item == "429+retry-after":
        return RETRY_AFTER_MS / 1000, RETRY_AFTER_MS / 1000
    envelope = min(CAP_S, BASE_S * MULTIPLIER ** (attempts_on_model - 1))
    return envelope / 2, envelope


@st.composite
def fault_scripts(draw: st.DrawFn) -> tuple[bool, dict[str, list[str]]]:
    stream = draw(st.booleans())
    failures = [i for i in COMMON if i != "ok"] + (["mid-stream"] if stream else [])
    # mostly retryable failures, so that retries and fallbacks are common; now and then a
    # success in the middle of a script or a caller error
    weighted = st.sampled_from(failures * 4 + ["ok", "ok", "400"])
    scripts = {
        PRIMARY: draw(st.lists(weighted, min_size=1, max_size=MAX_ATTEMPTS + 1)),
        FALLBACK: draw(st.lists(weighted, max_size=MAX_ATTEMPTS + 1)),
    }
    return stream, scripts


def scenario_for(scripts: dict[str, list[str]]) -> dict[str, Any]:
    rules = [
        {
            "id": f"script-{model}",
            "match": {"path": "/v1/messages", "model": model},
            "trigger": {"sequence": [ITEMS[i][0] for i in script], "scope": "logical"},
        }
        for model, script in scripts.items()
        if script
    ]
    return {"name": "generated", "description": "a generated per-model fault script", "rules": rules}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


class RecordingClock(SystemClock):
    """The real clock, remembering every wait the policy asks for: what the policy decided,
    where the journal's gaps also hold this machine's speed."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


def _call(server: MockServer, stream: bool) -> list[float]:
    """One call through the policy; the waits it asked for."""
    clock = RecordingClock()
    policy = Policy(
        retry=Retry(
            max_attempts=MAX_ATTEMPTS,
            backoff=EqualJitter(base=BASE_S, multiplier=MULTIPLIER, cap=CAP_S),
            deadline_s=None,
        ),
        fallback=[PRIMARY, FALLBACK],
        log_events=False,
        seed=0,
        clock=clock,
    )
    client = ResilientAnthropic(
        base_url=server.url,
        api_key="sk-ant-e2e",
        timeout=anthropic.Timeout(60.0, connect=30.0),
        policy=policy,
    )
    params: dict[str, Any] = {
        "model": PRIMARY,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": f"e2e {uuid.uuid4().hex}"}],
    }
    try:
        if stream:
            for _ in client.messages.create(stream=True, **params):
                pass
        else:
            client.messages.create(**params)
    except (anthropic.APIError, anthropic.APIConnectionError):
        pass  # an exhausted chain raises; the journal is what is judged
    finally:
        client.close()
    return clock.sleeps


def _judge(entries: list[JournalEntry], expected: list[Expected], sleeps: list[float]) -> None:
    observed = [(e.model, e.status, e.fault) for e in entries]
    wanted = [(x.model, *ITEMS[x.item][1]) for x in expected]
    assert observed == wanted
    # one logical request per model, one call overall
    assert len({e.prompt_digest for e in entries}) == 1
    attempts_on_model = 0
    asked = iter(sleeps)
    for prev, nxt, x in zip(entries, entries[1:], expected, strict=False):
        if prev.model != nxt.model:  # a fallback: immediate, no backoff between models
            attempts_on_model = 0
            continue
        attempts_on_model += 1
        low, high = delay_bounds(x.item, attempts_on_model)
        wait = next(asked, None)  # what the policy asked for before this retry
        assert wait is not None, f"retry {attempts_on_model} on {prev.model} after {x.item}: no wait"
        assert low - 1e-9 <= wait <= high + 1e-9, (
            f"retry {attempts_on_model} after {x.item}: asked {wait:.4f}, not in [{low}, {high}]"
        )
        # and the server saw the client wait it (a lower bound: a client cannot be early)
        assert nxt.start - prev.start >= wait - 0.001, f"retry {attempts_on_model} came early"
    assert next(asked, None) is None  # no wait without a retry on the same model (a fallback is immediate)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=fault_scripts())
def test_attempts_waits_and_models_are_what_the_policy_promises(
    server: MockServer, case: tuple[bool, dict[str, list[str]]]
) -> None:
    stream, scripts = case
    server.set_scenario(scenario_for(scripts))
    server.journal.clear()
    sleeps = _call(server, stream)
    entries = parse_entries(e.to_dict() for e in server.journal.entries())
    expected = predict(scripts)
    event(f"attempts={len(expected)}, fell back={expected[-1].model == FALLBACK}, stream={stream}")
    _judge(entries, expected, sleeps)


def test_prediction_falls_back_only_after_retryable_failures_run_out() -> None:
    assert predict({PRIMARY: ["529", "529", "529"], FALLBACK: []}) == [
        Expected(PRIMARY, "529"),
        Expected(PRIMARY, "529"),
        Expected(PRIMARY, "529"),
        Expected(FALLBACK, "ok"),
    ]
    assert predict({PRIMARY: ["529", "400"], FALLBACK: []}) == [
        Expected(PRIMARY, "529"),
        Expected(PRIMARY, "400"),
    ]
    assert delay_bounds("529", 2) == (0.05, 0.1)
    assert delay_bounds("429+retry-after", 1) == (0.04, 0.04)
