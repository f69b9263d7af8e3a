"""Finding the documents of a Celery run that were lost, and nobody will ever answer.

The Redis transport has one window it does not cover: a task message a worker has popped from
the queue but not yet recorded as unacknowledged is lost if the worker dies in between (see
:mod:`resilience.runner.via_celery`). Such a document has no result and no task anywhere, and a
follower would wait for it forever.

:class:`LostWatch` is the pure core, on times the caller gives it: a document is *lost* once it
has had no result and no task message in the broker (queued, or held unacknowledged by a
worker, which includes a countdown being waited out) for longer than ``lost_after_s``. That
bound is at least the visibility timeout, after which the broker itself would have handed out
again anything it still held, so a document waiting in a backlog, retried slowly or held by a
dead worker is never called lost. A lost document is queued again once (results are written
with ``HSETNX``, so a duplicate answer cannot give it two results); if it is lost again, the
follower is told to stop resubmitting and say so.

:func:`broker_doc_ids` is the shell: the documents of a run that have a task message in the
broker's Redis, read from the Kombu Redis transport's queue lists and its unacked hash.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LostVerdict", "LostWatch", "broker_doc_ids", "task_doc"]

# Kombu's Redis transport keeps a queue's priorities 3, 6 and 9 under "QUEUE\x06\x16P"
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


@dataclass(frozen=True, slots=True)
class LostVerdict:
    resubmit: tuple[str, ...] = ()  # lost for the first time: queue again, once
    given_up: tuple[str, ...] = ()  # lost again after being queued again: say so, stop resubmitting


@dataclass
class LostWatch:
    """When each unfinished document of a run was last known to be alive (submitted, queued
    again, or seen in the broker), and which were already queued again."""

    lost_after_s: float
    last_alive: dict[str, float] = field(default_factory=dict)
    resubmitted: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lost_after_s) and self.lost_after_s > 0):
            raise ValueError(f"lost_after_s must be a positive number of seconds, got {self.lost_after_s!r}")

    @classmethod
    def start(cls, doc_ids: Iterable[str], now: float, *, lost_after_s: float) -> LostWatch:
        return cls(lost_after_s, {d: now for d in doc_ids})

    def observe(self, *, done: Iterable[str], in_broker: Iterable[str], now: float) -> LostVerdict:
        """Update from what the results and the broker hold at ``now``; what to do about the
        documents that are lost."""
        for doc_id in done:
            self.last_alive.pop(doc_id, None)
        for doc_id in in_broker:
            if doc_id in self.last_alive:
                self.last_alive[doc_id] = now
        lost = sorted(d for d, t in self.last_alive.items() if now - t > self.lost_after_s)
        resubmit = tuple(d for d in lost if d not in self.resubmitted)
        given_up = tuple(d for d in lost if d in self.resubmitted and d not in self.given_up)
        for doc_id in resubmit:
            self.resubmitted.add(doc_id)
            self.last_alive[doc_id] = now  # its new task is in the queue from now on
        self.given_up.update(given_up)
        return LostVerdict(resubmit, given_up)


def task_doc(raw: bytes | str) -> tuple[str, str] | None:
    """(run_id, doc_id) of a ``process_document`` task message as the Redis transport stores
    it; None for any other message."""
    try:
        message = json.loads(raw)
        body: Any = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = json.loads(body)
        return str(kwargs["run_id"]), str(kwargs["doc_id"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def broker_doc_ids(
    broker: Any, run_id: str, *, queue: str = "celery", unacked_key: str = "unacked"
) -> set[str]:
    """Documents of ``run_id`` with a task message in the broker: in ``queue`` (any priority)
    or in the unacknowledged hash (running, or waiting out a countdown in a worker)."""
    raws: list[Any] = []
    for key in [queue, *(f"{queue}{_PRIORITY_SEP}{p}" for p in _PRIORITY_STEPS)]:
        raws.extend(broker.lrange(key, 0, -1))
    for value in broker.hvals(unacked_key):
        try:
            raws.append(json.dumps(json.loads(value)[0]))
        except (ValueError, TypeError, IndexError, KeyError):
            continue
    ids: set[str] = set()
    for raw in raws:
        item = task_doc(raw)
        if item is not None and item[0] == run_id:
            ids.add(item[1])
    return ids
