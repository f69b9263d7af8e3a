"""The work items of a self-hosted environment (``/v1/environments/{id}/work``) and their life.

A work item is queued when a session needs a sandbox (:func:`enqueue_work`, called by whatever
makes sessions). A worker **polls**: the oldest queued item nobody holds is handed out (with its
``secret``) and is *pending* until acknowledged; one polled but not acknowledged within
``reclaim_older_than_ms`` (5000 by default) can be handed out again. **ack** moves it from
``queued`` to ``starting`` (off the queue); the first **heartbeat** claims the lease
(``expected_last_heartbeat="NO_HEARTBEAT"``) and makes it ``active``; each later heartbeat must
echo the last one (else the 412), and extends the lease. **stop** makes it ``stopping`` (``force``:
``stopped`` at once); the worker's next heartbeat on a ``stopping`` item ends it (``stopped``,
lease not extended). The stored record wraps the API object with what the queue needs (when it
was polled, by whom); only :func:`public` objects leave the mock.

Hand-written: a five-state machine over dicts, nothing a queue library would fit without a broker.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from mockserver.wire import managed
from mockserver.wire.environments import KIND, NOUN
from mockserver.wire.errors import ApiError, invalid
from mockserver.wire.resources import Collection, Obj, Resources, timestamp

ID_PREFIX = "work_"
RECLAIM_MS = 5000  # the documented default of reclaim_older_than_ms
DEFAULT_TTL = 30  # seconds a heartbeat's lease lasts when no desired_ttl_seconds is given
POLLING_WINDOW = 30.0  # workers_polling counts the workers seen this many seconds back
NO_HEARTBEAT = "NO_HEARTBEAT"


def work_key(environment_id: str) -> Hashable:
    return ("work", environment_id)


def workers_key(environment_id: str) -> Hashable:
    return ("work_worker", environment_id)


def queue(resources: Resources, environment_id: str) -> Collection:
    """The work records of one environment (made empty on first use)."""
    return resources.collection(work_key(environment_id), "Work")


def enqueue_work(
    resources: Resources,
    work_id: str,
    environment_id: str,
    session_id: str,
    now: float,
    *,
    secret: str = "",
    metadata: dict[str, str] | None = None,
) -> Obj:
    """Queue a work item for ``session_id`` in the environment (the 404 when it is unknown);
    answers the API object. ``now`` is wall-clock epoch seconds."""
    resources.collection(KIND, NOUN).get(environment_id)
    work: Obj = {
        "id": work_id,
        "type": "work",
        "acknowledged_at": None,
        "created_at": timestamp(now),
        "data": {"id": session_id, "type": "session"},
        "environment_id": environment_id,
        "latest_heartbeat_at": None,
        "metadata": dict(metadata or {}),
        "secret": None,
        "started_at": None,
        "state": "queued",
        "stop_requested_at": None,
        "stopped_at": None,
    }
    record = {"id": work_id, "work": work, "secret": secret or f"wsec_{work_id}", "polled_at": None}
    queue(resources, environment_id).add(record)
    return work


def live_work(resources: Resources, environment_id: str, session_id: str) -> bool:
    """Whether a work item of ``session_id`` in the environment is not yet stopped."""
    existing = resources.existing(work_key(environment_id))
    records = existing.oldest_first() if existing is not None else []
    return any(r["work"]["data"]["id"] == session_id and r["work"]["state"] != "stopped" for r in records)


def public(record: Obj) -> Obj:
    """The API object of a record (its secret withheld: only a poll carries it)."""
    return dict(record["work"])


def poll(
    resources: Resources, environment_id: str, clock: float, reclaim_ms: int | None, worker: str | None
) -> Obj | None:
    """The work a poll hands out (oldest first), with its secret, or None when there is none."""
    if worker:
        resources.collection(workers_key(environment_id), "Worker").add({"id": worker, "seen": clock})
    reclaim = (RECLAIM_MS if reclaim_ms is None else reclaim_ms) / 1000.0
    for record in queue(resources, environment_id).oldest_first():
        if record["work"]["state"] != "queued":
            continue
        polled = record["polled_at"]
        if polled is None or clock - polled >= reclaim:
            record["polled_at"] = clock
            return {**record["work"], "secret": record["secret"]}
    return None


def _wrong_state(work: Obj, action: str) -> ApiError:
    return invalid(f"Work {work['id']} is {work['state']} and cannot be {action}.")


def ack(record: Obj, now: float) -> Obj:
    work = record["work"]
    if work["state"] != "queued":
        raise _wrong_state(work, "acknowledged")
    work.update(state="starting", acknowledged_at=timestamp(now))
    return public(record)


def heartbeat(record: Obj, now: float, ttl_raw: str | None, expected: str | None) -> Obj:
    """The heartbeat answer; the 412 when ``expected`` is not the stored heartbeat."""
    work = record["work"]
    ttl = DEFAULT_TTL if ttl_raw is None else _positive(ttl_raw, "desired_ttl_seconds")
    if work["state"] == "queued":
        raise _wrong_state(work, "heartbeated before it is acknowledged")
    stored = work["latest_heartbeat_at"]
    if work["state"] in ("starting", "active"):
        if expected is not None and expected != (stored or NO_HEARTBEAT):
            raise ApiError(
                412,
                "invalid_request_error",
                f"expected_last_heartbeat {expected!r} does not match the stored heartbeat"
                f" {stored or NO_HEARTBEAT!r}",
            )
        stamp = timestamp(now)
        if work["started_at"] is None:
            work["started_at"] = stamp
        work.update(state="active", latest_heartbeat_at=stamp)
        return _beat(work, True, ttl)
    if work["state"] == "stopping":
        work.update(state="stopped", stopped_at=timestamp(now))
    return _beat(work, False, ttl)


def _beat(work: Obj, extended: bool, ttl: int) -> Obj:
    return {
        "last_heartbeat": work["latest_heartbeat_at"] or "",
        "lease_extended": extended,
        "state": work["state"],
        "ttl_seconds": ttl,
        "type": "work_heartbeat",
    }


def _positive(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise invalid(f"{name}: Input should be an integer greater than or equal to 1")
    return int(raw)


def stop(record: Obj, body: Any, now: float) -> Obj:
    work = record["work"]
    body = managed.body_dict(body or {}, frozenset(("force",)))
    force = body.get("force")
    if force is not None and not isinstance(force, bool):
        raise invalid("force: Input should be a valid boolean")
    if work["state"] == "stopped":
        return public(record)
    stamp = timestamp(now)
    if work["stop_requested_at"] is None:
        work["stop_requested_at"] = stamp
    work["state"] = "stopping"
    if force or work["acknowledged_at"] is None:  # nothing runs yet: nothing to shut down
        work.update(state="stopped", stopped_at=stamp)
    return public(record)


def update(record: Obj, body: Any) -> Obj:
    body = managed.body_dict(body, frozenset(("metadata",)))
    if "metadata" not in body:
        raise invalid("metadata: Field required")
    record["work"]["metadata"] = managed.metadata(body["metadata"], record["work"]["metadata"])
    return public(record)


def stats(resources: Resources, environment_id: str, clock: float, reclaim_ms: int = RECLAIM_MS) -> Obj:
    """The queue's depth (queued, nobody holds it), pending (polled, not acknowledged), oldest."""
    queued = [r for r in queue(resources, environment_id).oldest_first() if r["work"]["state"] == "queued"]
    held = [r for r in queued if r["polled_at"] is not None and clock - r["polled_at"] < reclaim_ms / 1000.0]
    workers = resources.existing(workers_key(environment_id))
    seen = [w for w in workers.oldest_first() if clock - w["seen"] <= POLLING_WINDOW] if workers else []
    return {
        "depth": len(queued) - len(held),
        "oldest_queued_at": queued[0]["work"]["created_at"] if queued else None,
        "pending": len(held),
        "type": "work_queue_stats",
        "workers_polling": len(seen),
    }
