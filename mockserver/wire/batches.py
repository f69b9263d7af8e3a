"""Message Batches: a store whose batches progress over (injected) time.

Pure bookkeeping: the server passes ``now`` (monotonic seconds) and a ``process`` callback
that turns one item into its result line (generation + the fault engine's decision), so
tests drive time explicitly. Items finish spread evenly over ``processing_s``; a cancel
stops the ones not finished yet, which end as ``canceled``.

As the API does, a batch not ended 24 h after its creation ends with its unfinished items
``expired``, and an ended batch is gone (404) 29 days after it ended. The store reads the time for
that from its ``clock`` (the server's injected clock, so tests scale time), and keeps at most
``max_batches``, dropping the oldest ended ones (then the oldest) when a new one comes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mockserver.wire.errors import ApiError, bounded_list, invalid, not_found

BATCH_TTL_S = 24 * 3600.0  # a batch not ended this long after its creation expires
RESULTS_KEPT_S = 29 * 24 * 3600.0  # an ended batch (and its results) is kept this long, then gone
MAX_BATCHES = 10_000  # kept at most; past it the oldest ended batches go first
MAX_BATCH_REQUESTS = 100_000
_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def rfc3339(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(slots=True)
class BatchItem:
    custom_id: str
    params: Any
    finish_at: float  # monotonic time at which this item is done
    result: dict[str, Any] | None = None  # the "result" object of its results line


@dataclass(slots=True)
class Batch:
    id: str
    created: float  # monotonic
    created_wall: float
    processing_s: float
    items: list[BatchItem]
    headers: dict[str, str] = field(default_factory=dict)  # request headers of the create call
    api_key_id: str = ""
    loopback: bool = False  # the create call came from a loopback peer (the override header's gate)
    status: str = "in_progress"
    cancel_at: float | None = None  # monotonic time of the cancel request
    ended_at: float | None = None  # monotonic
    counts: dict[str, int] = field(default_factory=dict)

    def wall(self, monotonic_t: float) -> str:
        return rfc3339(self.created_wall + (monotonic_t - self.created))

    def to_dict(self, results_url: str | None) -> dict[str, Any]:
        n = len(self.items)
        ended = self.status == "ended"
        counts = {"processing": 0 if ended else n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            counts.update(self.counts)
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": counts,
            "created_at": rfc3339(self.created_wall),
            "expires_at": rfc3339(self.created_wall + BATCH_TTL_S),
            "ended_at": self.wall(self.ended_at) if self.ended_at is not None else None,
            "cancel_initiated_at": self.wall(self.cancel_at) if self.cancel_at is not None else None,
            "archived_at": None,
            "results_url": results_url if ended else None,
        }


ProcessItem = Callable[[Batch, BatchItem, float], dict[str, Any]]


def parse_create_body(body: Any) -> list[tuple[str, Any]]:
    """The (custom_id, params) pairs of a create body; params are validated when processed."""
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    for key in body:
        if key != "requests":
            raise invalid(f"{key}: Extra inputs are not permitted")
    if body.get("requests") is None:
        raise invalid("requests: Field required")
    requests = bounded_list(
        body["requests"],
        "requests",
        most=MAX_BATCH_REQUESTS,
        empty="List should have at least 1 item after validation, not 0",
        too_many=f"List should have at most {MAX_BATCH_REQUESTS} items",
    )
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(requests):
        if not isinstance(item, dict):
            raise invalid(f"requests.{i}: Input should be a valid dictionary")
        for key in item:
            if key not in ("custom_id", "params"):
                raise invalid(f"requests.{i}.{key}: Extra inputs are not permitted")
        cid = item.get("custom_id")
        if cid is None:
            raise invalid(f"requests.{i}.custom_id: Field required")
        if not isinstance(cid, str) or not _CUSTOM_ID.fullmatch(cid):
            raise invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if cid in seen:
            raise invalid(f"requests: custom_id '{cid}' is not unique")
        seen.add(cid)
        if "params" not in item:
            raise invalid(f"requests.{i}.params: Field required")
        if not isinstance(item["params"], dict):
            raise invalid(f"requests.{i}.params: Input should be a valid dictionary")
        out.append((cid, item["params"]))
    return out


class BatchStore:
    """Batches by id, newest first in listings."""

    def __init__(
        self,
        *,
        processing_s: float = 0.0,
        cancel_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        if max_batches < 1:
            raise ValueError(f"max_batches must be >= 1, got {max_batches}")
        self.processing_s = processing_s
        self.cancel_s = cancel_s
        self.clock = clock
        self.max_batches = max_batches
        self._batches: dict[str, Batch] = {}

    def clear(self) -> None:
        """Forget every batch (the control plane's reset)."""
        self._batches.clear()

    def purge(self, now: float) -> int:
        """Forget the batches ended more than RESULTS_KEPT_S ago; returns how many went."""
        gone = [
            b.id
            for b in self._batches.values()
            if b.ended_at is not None and now - b.ended_at >= RESULTS_KEPT_S
        ]
        for batch_id in gone:
            del self._batches[batch_id]
        return len(gone)

    def _make_room(self, now: float) -> None:
        self.purge(now)
        excess = len(self._batches) - self.max_batches + 1
        if excess > 0:  # the oldest ended ones first, then the oldest (dicts keep creation order)
            ended = [b.id for b in self._batches.values() if b.status == "ended"]
            others = [b.id for b in self._batches.values() if b.status != "ended"]
            for batch_id in (ended + others)[:excess]:
                del self._batches[batch_id]

    def create(
        self,
        batch_id: str,
        requests: list[tuple[str, Any]],
        now: float,
        wall: float,
        *,
        headers: dict[str, str] | None = None,
        api_key_id: str = "",
        loopback: bool = False,
    ) -> Batch:
        self._make_room(now)
        n = len(requests)
        items = [
            BatchItem(cid, params, now + self.processing_s * (i + 1) / n)
            for i, (cid, params) in enumerate(requests)
        ]
        batch = Batch(
            batch_id, now, wall, self.processing_s, items, dict(headers or {}), api_key_id, loopback=loopback
        )
        self._batches[batch_id] = batch
        return batch

    def get(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if (
            batch is not None
            and batch.ended_at is not None
            and self.clock() - batch.ended_at >= RESULTS_KEPT_S
        ):
            del self._batches[batch_id]
            batch = None
        if batch is None:
            raise not_found(f"message_batch: {batch_id} not found")
        return batch

    def advance(self, batch: Batch, now: float, process: ProcessItem) -> Batch:
        """Bring ``batch`` up to ``now``: finish due items, end the batch when all are done."""
        if batch.status == "ended":
            return batch
        expires = batch.created + BATCH_TTL_S
        horizon = min(now, expires) if batch.cancel_at is None else min(now, expires, batch.cancel_at)
        for item in batch.items:
            if item.result is None and item.finish_at <= horizon:
                item.result = process(batch, item, item.finish_at)
        cancel_done = None if batch.cancel_at is None else batch.cancel_at + self.cancel_s
        if batch.status == "in_progress" and all(item.result is not None for item in batch.items):
            self._end(batch, max(batch.created + batch.processing_s, batch.created))
        elif cancel_done is not None and now >= cancel_done and cancel_done <= expires:
            self._end_rest(batch, "canceled", cancel_done)
        elif now >= expires:  # not ended within 24 h: what is left expires
            self._end_rest(batch, "expired", expires)
        return batch

    def _end_rest(self, batch: Batch, kind: str, at: float) -> None:
        """End ``batch`` at ``at``, its unfinished items ending as ``kind`` (canceled, expired)."""
        for item in batch.items:
            if item.result is None:
                item.result = {"type": kind}
        self._end(batch, at)

    def _end(self, batch: Batch, at: float) -> None:
        batch.status = "ended"
        batch.ended_at = at
        counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in batch.items:
            kind = item.result["type"] if item.result is not None else "expired"
            counts[kind] = counts.get(kind, 0) + 1
        batch.counts = counts

    def cancel(self, batch: Batch, now: float) -> Batch:
        if batch.status == "in_progress":
            batch.status = "canceling"
            batch.cancel_at = now
        return batch

    def delete(self, batch: Batch) -> None:
        if batch.status != "ended":
            raise ApiError(
                400,
                "invalid_request_error",
                f"Batch {batch.id} cannot be deleted while it is {batch.status}; cancel it first.",
            )
        del self._batches[batch.id]

    def listing(self) -> list[Batch]:
        self.purge(self.clock())
        return sorted(self._batches.values(), key=lambda b: (b.created, b.id), reverse=True)

    def results_lines(self, batch: Batch) -> list[dict[str, Any]]:
        if batch.status != "ended":
            raise invalid(f"Batch {batch.id} has not ended yet; results are available once it has ended.")
        return [{"custom_id": item.custom_id, "result": item.result} for item in batch.items]

    def __len__(self) -> int:
        return len(self._batches)
