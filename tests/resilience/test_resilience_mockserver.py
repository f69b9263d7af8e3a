"""The resilient wrapper against the mock server's built-in scenarios, judged from the server's
journal: one model overloaded (the fallback answers), a major outage (give up within the
deadline, within the budget), a mid-stream overload (retried transparently). Real sockets on
127.0.0.1, millisecond policy bases, a fixed scenario seed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from mockserver import MockServer
from resilience import (
    AsyncResilientAnthropic,
    FallbackChain,
    FullJitter,
    Policy,
    ResilientAnthropic,
    Retry,
    RetryBudget,
    outcome_of,
)
from resilience.testing import FakeClock

LARGE = "claude-opus-4-6"
SMALL = "claude-haiku-4-5"


def prompt(i: int) -> list[anthropic.types.MessageParam]:
    return [{"role": "user", "content": f"question number {i}"}]


def fast(**kwargs: Any) -> Policy:
    kwargs.setdefault(
        "retry", Retry(max_attempts=3, backoff=FullJitter(base=0.002, cap=0.01), deadline_s=10.0)
    )
    kwargs.setdefault("log_events", False)
    return Policy(seed=7, **kwargs)


def entries(server: MockServer) -> list[dict[str, Any]]:
    return [e.to_dict() for e in server.journal.entries()]


@pytest.fixture
def overloaded_server() -> Iterator[MockServer]:
    with MockServer(scenario="one-model-overloaded", seed=11) as server:
        yield server


def test_one_model_overloaded_is_answered_by_the_fallback_model(overloaded_server: MockServer) -> None:
    sdk = anthropic.Anthropic(api_key="k", base_url=overloaded_server.url, max_retries=0)
    client = ResilientAnthropic(sdk, policy=fast(fallback=FallbackChain([LARGE, SMALL])))
    answered: list[str] = []
    for i in range(6):
        message = client.messages.create(model=LARGE, max_tokens=16, messages=prompt(i))
        outcome = outcome_of(message)
        assert outcome is not None and outcome.model == message.model
        answered.append(message.model)
    assert SMALL in answered  # with 529s nine times in ten, the small model answers most calls

    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries(overloaded_server):
        calls[entry["prompt_digest"]].append(entry)
    assert len(calls) == 6
    for attempts in calls.values():
        models = [e["model"] for e in attempts]
        # the large model is tried first, the small one only after the large one's retries
        # were spent on 529s, and nothing is sent after the first success
        assert models[0] == LARGE
        if SMALL in models:
            first_small = models.index(SMALL)
            assert first_small == 3 and all(e["status"] == 529 for e in attempts[:first_small])
            assert models[first_small:] == [SMALL]
        assert [e["status"] for e in attempts].count(200) == 1 and attempts[-1]["status"] == 200


async def test_async_client_falls_back_the_same_way(overloaded_server: MockServer) -> None:
    sdk = anthropic.AsyncAnthropic(api_key="k", base_url=overloaded_server.url, max_retries=0)
    client = AsyncResilientAnthropic(sdk, policy=fast(fallback=[LARGE, SMALL]))
    models = [
        (await client.messages.create(model=LARGE, max_tokens=16, messages=prompt(i))).model for i in range(4)
    ]
    assert set(models) <= {LARGE, SMALL} and SMALL in models
    await client.close()


def test_a_major_outage_ends_in_a_clean_give_up_within_deadline_and_budget() -> None:
    deadline = 50.0
    ratio, floor, max_attempts, calls = 0.1, 3, 4, 12
    # the policy's time moves only by the waits it sleeps (free: nothing really sleeps, so they
    # are long enough for the deadline to bind, and what is left of it, the attempts' timeout,
    # stays above 13 s), and the outage window never closes: the deadline is judged on what the
    # policy decided, not on how long this machine's round trips took
    clock = FakeClock()
    waited: list[float] = []  # per call: the policy's time from its first attempt to its last
    with MockServer(scenario="major-outage", seed=3, clock=lambda: 1000.0) as server:
        sdk = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        policy = fast(
            retry=Retry(
                max_attempts=max_attempts, backoff=FullJitter(base=100, cap=400), deadline_s=deadline
            ),
            budget=RetryBudget(ratio=ratio, floor=floor),
            clock=clock,
        )
        client = ResilientAnthropic(sdk, policy=policy)
        for i in range(calls):
            start = clock.monotonic()
            with pytest.raises(anthropic.APIStatusError) as caught:
                client.messages.create(model=SMALL, max_tokens=16, messages=prompt(i))
            assert caught.value.status_code == 529
            waited.append(clock.monotonic() - start)
        journal = entries(server)
    by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in journal:
        assert entry["status"] == 529
        by_call[entry["logical_id"]].append(entry)
    assert len(by_call) == calls
    for attempts in by_call.values():
        assert len(attempts) <= max_attempts
    # every retry started inside the call's deadline (on the policy's clock, which only its waits move)
    assert len(clock.sleeps) == len(journal) - calls  # one wait before each retry, none after the last
    assert all(w < deadline for w in waited), waited
    retries = len(journal) - calls
    assert retries <= ratio * calls + floor  # no retry storm: the budget holds
    assert retries >= 1  # ... and the policy did retry while the budget allowed


def _texts(server_url: str, policy: Policy, n: int) -> list[str]:
    sdk = anthropic.Anthropic(api_key="k", base_url=server_url, max_retries=0)
    client = ResilientAnthropic(sdk, policy=policy)
    texts = []
    for i in range(n):
        stream = client.messages.create(model=SMALL, max_tokens=24, messages=prompt(i), stream=True)
        texts.append("".join(e.delta.text for e in stream if e.type == "content_block_delta"))  # type: ignore[union-attr]
    return texts


def test_a_mid_stream_overload_is_retried_transparently() -> None:
    n = 16
    with MockServer(seed=5) as clean:  # same seed: the same deterministic completions
        expected = _texts(clean.url, fast(), n)
    with MockServer(scenario="mid-stream-overload", seed=5) as server:
        policy = fast(retry=Retry(max_attempts=5, backoff=FullJitter(base=0.002, cap=0.01), deadline_s=20.0))
        policy.stream_resume = True
        got = _texts(server.url, policy, n)
        journal = entries(server)
    assert got == expected  # every stream complete, and exactly the text a healthy server gives
    faults = [e["fault"] for e in journal]
    assert faults.count("stream_error_event") >= 1  # the scenario did strike (not a vacuous pass)
    assert policy.counters.snapshot()["stream_interruptions"] >= 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    "fault", [529, 500, 503, 429, "reset", "close_after_headers", "truncated_body", "garbage"]
)
def test_every_transient_fault_is_retried_to_a_complete_answer(fault: int | str, stream: bool) -> None:
    scenario = {
        "name": "two-faults-then-ok",
        "description": "each logical request fails twice, then passes",
        "rules": [
            {
                "id": "twice",
                "match": {"path": "/v1/messages"},
                "trigger": {"sequence": [fault, fault, "ok"], "scope": "logical"},
            }
        ],
    }
    with MockServer(scenario=scenario, seed=1) as server:
        sdk = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        # stream_resume: a truncated stream body is cut after output reached the caller; the
        # mock's completions are deterministic, so the retry replays it and the stream goes on
        client = ResilientAnthropic(sdk, policy=fast(stream_resume=True))
        if stream:
            events = list(client.messages.create(model=SMALL, max_tokens=16, messages=prompt(0), stream=True))
            assert events[-1].type == "message_stop"
        else:
            message = client.messages.create(model=SMALL, max_tokens=16, messages=prompt(0))
            assert message.stop_reason is not None
        journal = entries(server)
    assert [e["retry_count"] for e in journal] == [0, 1, 2]  # one logical request, three attempts
    assert len({e["logical_id"] for e in journal}) == 1
    assert journal[-1]["status"] == 200 and journal[-1]["fault"] is None
