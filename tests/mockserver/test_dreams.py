"""The Dreams routes through the real SDK: a dream's life on the server's (fake) clock, cancel and
archive and the states they refuse, the list filters, the 400s, 404s, faults and reset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, error_message, strict_client

from mockserver import MockServer

MODEL = "claude-opus-4-6"
INPUTS: Any = [
    {"type": "memory_store", "memory_store_id": "memstore_in"},
    {"type": "sessions", "session_ids": ["sesn_a", "sesn_b"]},
]


class Clock:
    """The scenario clock the server reads, moved by the test (no waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Any:
    with MockServer(clock=clock) as running:
        yield running


def test_a_dream_goes_pending_running_completed(server: MockServer, clock: Clock) -> None:
    dreams = strict_client(server).beta.dreams
    dream = dreams.create(inputs=INPUTS, model=MODEL, instructions="tidy up")
    assert dream.id.startswith("drm_") and dream.type == "dream" and dream.status == "pending"
    assert dream.outputs == [] and dream.usage.input_tokens == 0 and dream.ended_at is None
    assert dream.model.id == MODEL and dream.output_behavior.type == "create_new"
    clock.now += 1.0
    assert dreams.retrieve(dream.id).status == "running"
    clock.now += 5.0
    done = dreams.retrieve(dream.id)
    assert done.status == "completed" and done.ended_at is not None and done.usage.input_tokens > 0
    assert done.outputs[0].type == "memory_store" and done.outputs[0].memory_store_id != "memstore_in"
    with pytest.raises(anthropic.BadRequestError):  # a completed dream cannot be canceled
        dreams.cancel(dream.id)
    archived = dreams.archive(dream.id)
    assert archived.archived_at is not None and dreams.archive(dream.id).archived_at == archived.archived_at
    assert dreams.list().data == [] and [d.id for d in dreams.list(include_archived=True)] == [dream.id]
    assert dreams.retrieve(dream.id).archived_at is not None


def test_cancel_then_archive_and_the_states_they_refuse(server: MockServer) -> None:
    dreams = strict_client(server).beta.dreams
    dream = dreams.create(
        inputs=INPUTS,
        model={"id": MODEL},
        output_behavior={"type": "update_existing", "memory_store_id": "memstore_in"},
    )
    with pytest.raises(anthropic.BadRequestError) as err:  # pending: cancel it first
        dreams.archive(dream.id)
    assert "cancel" in error_message(err)
    canceled = dreams.cancel(dream.id)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert dreams.cancel(dream.id) == canceled
    assert dreams.archive(dream.id).archived_at is not None


def test_list_filters_by_status_and_pages(server: MockServer, clock: Clock) -> None:
    dreams = strict_client(server).beta.dreams
    old = dreams.create(inputs=INPUTS, model=MODEL)
    clock.now += 10.0
    fresh = [dreams.create(inputs=INPUTS, model=MODEL).id for _ in range(3)]
    assert [d.id for d in dreams.list(statuses=["completed"])] == [old.id]
    assert [d.id for d in dreams.list(statuses=["pending", "running"], limit=2)] == list(reversed(fresh))
    assert [d.id for d in dreams.list(limit=2)] == [*reversed(fresh), old.id]
    assert dreams.list(created_at_gt="2999-01-01T00:00:00Z").data == []


def test_create_400s_name_the_field(server: MockServer) -> None:
    client = strict_client(server)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.post(
            "/v1/dreams",
            body={"inputs": INPUTS},
            cast_to=object,
            options={"headers": {"anthropic-beta": "dreaming-2026-04-21"}},
        )
    assert error_message(err) == "model: Field required"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.dreams.create(inputs=INPUTS[:1], model=MODEL)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.dreams.create(inputs=INPUTS, model={"id": MODEL, "speed": "fast"})


def test_unknown_dreams_are_the_real_404(server: MockServer) -> None:
    dreams = strict_client(server).beta.dreams
    calls: list[Callable[[str], object]] = [dreams.retrieve, dreams.archive, dreams.cancel]
    for call in calls:
        with pytest.raises(anthropic.NotFoundError) as err:
            call("drm_nope")
        assert error_message(err) == "Dream not found: drm_nope"


def test_the_async_sdk_runs_the_same_routes(server: MockServer) -> None:
    async def run() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        ) as client:
            dream = await client.beta.dreams.create(inputs=INPUTS, model=MODEL)
            assert (await client.beta.dreams.retrieve(dream.id)).status == "pending"
            assert [d.id async for d in client.beta.dreams.list()] == [dream.id]
            assert (await client.beta.dreams.cancel(dream.id)).status == "canceled"
            assert (await client.beta.dreams.archive(dream.id)).archived_at is not None
            with pytest.raises(anthropic.NotFoundError):
                await client.beta.dreams.retrieve("drm_nope")

    asyncio.run(run())


def test_a_rule_on_the_dreams_path_fails_them_and_the_sdk_retries() -> None:
    scenario = {
        "name": "dreams-flaky",
        "description": "dreams fail once",
        "rules": [
            {
                "match": {"path": "/v1/dreams*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as flaky:
        dream = strict_client(flaky, retries=2).beta.dreams.create(inputs=INPUTS, model=MODEL)
        entries = [e for e in flaky.journal.entries() if e.path == "/v1/dreams"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [d.id for d in strict_client(flaky).beta.dreams.list()] == [dream.id]


def test_reset_forgets_every_dream(server: MockServer) -> None:
    dreams = strict_client(server).beta.dreams
    dream = dreams.create(inputs=INPUTS, model=MODEL)
    server.reset()
    assert dreams.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        dreams.retrieve(dream.id)
