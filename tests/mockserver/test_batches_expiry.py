"""Message Batches expire as the API's do (24 h to end, results kept 29 days), and are capped."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, FakeClock, user

from mockserver import MockServer, ServerConfig
from mockserver.wire.batches import BATCH_TTL_S, RESULTS_KEPT_S, Batch, BatchItem, BatchStore
from mockserver.wire.errors import ApiError

HOUR = 3600.0
DAY = 24 * HOUR


def done(batch: Batch, item: BatchItem, now: float) -> dict[str, Any]:
    return {"type": "succeeded", "at": now}


def store(clock: FakeClock, *, processing_s: float = 0.0, **kw: Any) -> BatchStore:
    return BatchStore(processing_s=processing_s, clock=clock, **kw)


def test_a_batch_not_ended_in_24_hours_expires_what_is_left(fake_clock: FakeClock) -> None:
    s = store(fake_clock, processing_s=2 * DAY, cancel_s=0.0)
    t0 = fake_clock.now
    b = s.create("b1", [("a", {}), ("b", {}), ("c", {})], t0, 0.0)  # items at 16 h, 32 h, 48 h
    assert s.advance(b, t0 + 23 * HOUR, done).status == "in_progress"
    s.advance(b, t0 + 25 * HOUR, done)
    assert b.status == "ended" and b.ended_at == t0 + BATCH_TTL_S
    assert [line["result"]["type"] for line in s.results_lines(b)] == ["succeeded", "expired", "expired"]
    assert b.to_dict(None)["request_counts"] == {
        "processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 2,
    }  # fmt: skip


def test_a_cancel_that_ended_before_the_expiry_stays_a_cancel(fake_clock: FakeClock) -> None:
    s = store(fake_clock, processing_s=2 * DAY, cancel_s=60.0)
    t0 = fake_clock.now
    b = s.create("b1", [("a", {}), ("b", {})], t0, 0.0)
    s.cancel(b, t0 + HOUR)
    s.advance(b, t0 + 30 * HOUR, done)  # first looked at after the 24 h
    assert b.ended_at == t0 + HOUR + 60.0
    assert [line["result"]["type"] for line in s.results_lines(b)] == ["canceled", "canceled"]


def test_an_ended_batch_is_gone_29_days_after_it_ended(fake_clock: FakeClock) -> None:
    s = store(fake_clock)
    b = s.advance(s.create("old", [("a", {})], fake_clock.now, 0.0), fake_clock.now, done)
    ended = b.ended_at
    assert ended is not None
    fake_clock.now = ended + RESULTS_KEPT_S - 1.0
    assert s.get("old") is b and [x.id for x in s.listing()] == ["old"]
    fake_clock.now = ended + RESULTS_KEPT_S
    with pytest.raises(ApiError) as err:
        s.get("old")
    assert err.value.status == 404
    assert s.listing() == [] and len(s) == 0


def test_past_the_cap_the_oldest_ended_batch_goes_first(fake_clock: FakeClock) -> None:
    s = store(fake_clock, processing_s=HOUR, max_batches=3)
    now = fake_clock.now
    s.create("running", [("a", {})], now, 0.0)
    for name in ("ended1", "ended2"):
        s.advance(s.create(name, [("a", {})], now, 0.0), now + 2 * HOUR, done)
    s.create("new", [("a", {})], now + 3, 0.0)
    assert sorted(b.id for b in s.listing()) == ["ended2", "new", "running"]
    with pytest.raises(ValueError, match="max_batches"):
        BatchStore(max_batches=0)


def test_the_server_expires_batches_on_its_injected_clock(fake_clock: FakeClock) -> None:
    with MockServer(ServerConfig(clock=fake_clock, batch_processing_s=2 * DAY)) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key=TEST_KEY, _strict_response_validation=True)
        reqs: Any = [
            {"custom_id": "a", "params": {"model": "claude-opus-5", "max_tokens": 5, "messages": user()}}
        ]
        batch = client.messages.batches.create(requests=reqs)
        fake_clock.advance(BATCH_TTL_S)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.expired == 1
        assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["expired"]
        fake_clock.advance(RESULTS_KEPT_S)
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        assert list(client.messages.batches.list()) == []
