"""The Messages-side families beyond ``messages.create`` through the installed SDK (sync and async,
strict validation): models and token counting, GA and beta; the beta Messages route; message
batches, GA and beta, on the server's fake clock; each with a real error of its own.

Runs under both majors (``make sdk1`` runs it against the newest 1.x). The 1.x beta resources
send their calls to ``...?beta=true`` (and batches with the ``message-batches-2024-09-24`` beta
header); 2.x drops both: the mock answers either the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from tests.mockserver.sdk_both import MAJOR, MODES, both_clients, close, done, every, not_found
from tests.support import FakeClock, error_message, user

from mockserver import MockServer
from mockserver.config import ServerConfig

MODEL = "claude-opus-4-6"


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock: FakeClock) -> Iterator[MockServer]:
    config = ServerConfig(clock=clock, batch_processing_s=60.0, batch_cancel_s=5.0)
    with MockServer(config) as running:
        yield running


@pytest.fixture(params=MODES)
async def sdk(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[Any]:
    client = both_clients(server, request.param)
    yield client
    await close(client)


def _item(custom_id: str, model: str = MODEL) -> Any:
    return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 10, "messages": user(custom_id)}}


# ---------------------------------------------------------------- models


async def test_models_are_listed_and_got_and_an_unknown_one_is_the_404(sdk: Any, server: MockServer) -> None:
    ids = [m.id for m in server.config.catalogue.models]
    for models in (sdk.models, sdk.beta.models):
        first = await done(models.list(limit=2))
        assert [m.id for m in first.data] == ids[:2] and first.has_more
        assert [m.id for m in await every(models.list(limit=3))] == ids  # every page
        got = await done(models.retrieve(MODEL))
        assert got.id == MODEL and got.type == "model" and got.display_name
        await not_found(lambda m=models: m.retrieve("claude-nonexistent"), "claude-nonexistent")
    if MAJOR == 1:  # 1.x's GA models resource also takes ``betas`` (sent as the anthropic-beta header)
        assert (await done(sdk.models.retrieve(MODEL, betas=["context-1m-2025-08-07"]))).id == MODEL
        with pytest.raises(anthropic.BadRequestError) as err:
            await done(sdk.models.list(betas=["no-such-beta-2020-01-01"]))
        assert "no-such-beta-2020-01-01" in error_message(err)


# ---------------------------------------------------------------- token counting


async def test_tokens_are_counted_and_an_unknown_model_is_the_404(sdk: Any) -> None:
    counted = await done(sdk.messages.count_tokens(model=MODEL, messages=user("count me")))
    beta = await done(sdk.beta.messages.count_tokens(model=MODEL, messages=user("count me")))
    assert counted.input_tokens > 0 and beta.input_tokens == counted.input_tokens
    for count in (sdk.messages.count_tokens, sdk.beta.messages.count_tokens):
        await not_found(lambda c=count: c(model="claude-nope", messages=user()), "claude-nope")
    with pytest.raises(anthropic.BadRequestError) as err:
        await done(sdk.beta.messages.count_tokens(model=MODEL, messages=[]))
    assert "messages" in error_message(err)


# ---------------------------------------------------------------- the beta Messages route


async def test_the_beta_messages_route_answers_json_and_a_stream(sdk: Any, server: MockServer) -> None:
    raw = await done(sdk.beta.messages.with_raw_response.create(model=MODEL, max_tokens=20, messages=user()))
    assert ("beta=true" in str(raw.http_request.url)) == (MAJOR == 1)  # the 1.x wire shape
    message = await done(raw.parse())
    assert message.type == "message" and message.content[0].type == "text" and message.usage.output_tokens
    stream = await done(sdk.beta.messages.create(model=MODEL, max_tokens=20, messages=user(), stream=True))
    kinds = [event.type for event in await every(stream)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_delta" in kinds
    await not_found(
        lambda: sdk.beta.messages.create(model="claude-nope", max_tokens=5, messages=user()), "claude-nope"
    )
    last = server.journal.entries()[-3:]
    assert [(e.path, e.status) for e in last] == [("/v1/messages", 200)] * 2 + [("/v1/messages", 404)]


# ---------------------------------------------------------------- message batches


async def test_a_ga_batch_ends_on_the_clock_its_results_are_read_and_it_is_deleted(
    sdk: Any, clock: FakeClock
) -> None:
    batches = sdk.messages.batches
    batch = await done(batches.create(requests=[_item("a"), _item("b", "claude-unknown")]))
    assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress"
    assert batch.id in [b.id for b in await every(batches.list())]
    clock.advance(60.0)
    ended = await done(batches.retrieve(batch.id))
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 1
    results = {r.custom_id: r.result for r in await every(batches.results(batch.id))}
    assert results["a"].type == "succeeded" and results["a"].message.content
    assert results["b"].type == "errored" and results["b"].error.error.type == "not_found_error"
    assert (await done(batches.delete(batch.id))).type == "message_batch_deleted"
    await not_found(lambda: batches.retrieve(batch.id), batch.id)


async def test_a_beta_batch_is_canceled_read_and_deleted(sdk: Any, clock: FakeClock) -> None:
    batches = sdk.beta.messages.batches
    raw = await done(batches.with_raw_response.create(requests=[_item(f"r{i}") for i in range(4)]))
    if MAJOR == 1:  # 1.x names the batches beta on every beta batch call
        assert "message-batches-2024-09-24" in raw.http_request.headers["anthropic-beta"]
    batch = await done(raw.parse())
    assert batch.type == "message_batch" and batch.request_counts.processing == 4
    clock.advance(31.0)  # two of the four items are done
    canceling = await done(batches.cancel(batch.id))
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    clock.advance(5.0)
    assert (await done(batches.retrieve(batch.id))).processing_status == "ended"
    assert batch.id in [b.id for b in await every(batches.list(limit=1))]
    kinds = sorted(r.result.type for r in await every(batches.results(batch.id)))
    assert kinds == ["canceled", "canceled", "succeeded", "succeeded"]
    assert (await done(batches.delete(batch.id))).id == batch.id
    for call in (batches.retrieve, batches.cancel, batches.delete):
        await not_found(lambda c=call: c(batch.id), batch.id)


async def test_a_batch_not_yet_ended_cannot_be_deleted_or_read(sdk: Any) -> None:
    for batches in (sdk.messages.batches, sdk.beta.messages.batches):
        batch = await done(batches.create(requests=[_item("x")]))
        with pytest.raises(anthropic.BadRequestError) as err:
            await done(batches.delete(batch.id))
        refused = f"Batch {batch.id} cannot be deleted while it is in_progress; cancel it first."
        assert error_message(err) == refused
        with pytest.raises(anthropic.AnthropicError):  # the SDK's own: no results_url yet
            await every(batches.results(batch.id))
