"""The Managed Agents sessions routes (``/v1/sessions``): sessions, their events and event stream,
their resources and their threads, as payload routes judged by the fault engine.

The objects and the agent's answers are pure (:mod:`mockserver.wire.sessions`,
:mod:`mockserver.wire.session_events`); here they are kept in the server's resources: the sessions
under ``"session"``, each session's events under ``("session_event", id)`` and threads under
``("session_thread", id)``, dropped with the session. The two streams answer ``Streamed`` so the
engine's stream faults (a mid-stream error event, a cut, a stall) apply to them.

Every route checks the family's beta header first (:func:`mockserver.web.managed.beta_checked`).
A session on a self-hosted environment is work for that environment's workers: a work item is
queued when the session is made and when a dormant session (none of its work items is live any
more) receives a ``user.message``, as the SDK's work object documents; a cloud environment runs its
sessions itself, so it has no queue. :func:`start_session` is also how a deployment's run makes
its session.
"""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import Exchange, Route
from mockserver.web.managed import beta_checked, body_limit
from mockserver.web.payload import Streamed, payload_route
from mockserver.wire import environments, paths, work
from mockserver.wire import session_events as sev
from mockserver.wire import sessions as ws
from mockserver.wire.errors import invalid, not_found
from mockserver.wire.paging import cursor_page
from mockserver.wire.request_text import parse_json
from mockserver.wire.resources import Collection, Obj, missing_message

ROUTE = "sessions"


def _ident(obj: Obj) -> str:
    return str(obj["id"])


def _sessions(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection("session", "Session")


def _session(exchange: Exchange) -> Obj:
    return _sessions(exchange).get(exchange.request.match_info["session_id"])


def _events(exchange: Exchange, session_id: str) -> Collection:
    return exchange.state.resources.collection(("session_event", session_id), "Event")


def _threads(exchange: Exchange, session_id: str) -> Collection:
    return exchange.state.resources.collection(("session_thread", session_id), "Session thread")


def _thread(exchange: Exchange) -> Obj:
    session = _session(exchange)
    thread_id = exchange.request.match_info["thread_id"]
    found = _threads(exchange, session["id"]).find(thread_id)
    if found is None:
        raise not_found(missing_message("Session thread", thread_id))
    return found


def _new_id(exchange: Exchange, prefix: str) -> str:
    return prefix + exchange.state.ids.next_suffix()


def _now(exchange: Exchange) -> float:
    return exchange.state.config.wall_clock()


def _sync_threads(exchange: Exchange, session: Obj) -> None:
    for thread in _threads(exchange, session["id"]):
        thread["status"], thread["updated_at"] = session["status"], session["updated_at"]


def _record(exchange: Exchange, session: Obj, sent: list[dict[str, Any]]) -> None:
    """Store the sent events and the agent's answers; the session's status follows."""
    state, now = exchange.state, _now(exchange)
    history = sev.process(session, sent, state.config.seed, lambda: _new_id(exchange, "sevt_"), now)
    events = _events(exchange, session["id"])
    for ev in history:
        events.add(ev)
    ws.touch(session, now)
    _sync_threads(exchange, session)


def _queue_work(exchange: Exchange, session: Obj) -> None:
    """Queue the session's work item when its environment is self-hosted and no work item of
    the session is live (an environment deleted since keeps no queue: nothing is queued)."""
    resources, env_id = exchange.state.resources, str(session["environment_id"])
    env = resources.collection(environments.KIND, environments.NOUN).find(env_id)
    if env is None or env["config"]["type"] != "self_hosted":
        return
    if work.live_work(resources, env_id, str(session["id"])):
        return
    work.enqueue_work(
        resources, _new_id(exchange, work.ID_PREFIX), env_id, str(session["id"]), _now(exchange)
    )


# ---------------------------------------------------------------- sessions


def start_session(exchange: Exchange, body: Any, deployment_id: str | None = None) -> Obj:
    """A new stored session from a create body (its agent and environment resolved, its initial
    events answered, its work queued), or the 400/404 that refuses it, storing nothing."""
    now = _now(exchange)
    given = body.get("resources") if isinstance(body, dict) else None
    resource_ids = [_new_id(exchange, "sesrsc_") for _ in (given if isinstance(given, list) else [])]
    session = ws.new_session(body, _new_id(exchange, "sesn_"), resource_ids, now, exchange.state.resources)
    session["deployment_id"] = deployment_id
    initial = body.get("initial_events") or []  # a dict: new_session said 400 otherwise
    sent = sev.sent_events({"events": initial}, lambda: _new_id(exchange, "sevt_"), now) if initial else []
    _sessions(exchange).add(session)
    _threads(exchange, session["id"]).add(ws.thread_object(session, _new_id(exchange, "sthr_"), now))
    _queue_work(exchange, session)
    if sent:
        _record(exchange, session, sent)
    return session


async def _create(exchange: Exchange, raw: bytes) -> Any:
    return ws.public(start_session(exchange, parse_json(raw)))


async def _list(exchange: Exchange, raw: bytes) -> Any:
    query = exchange.request.query
    keep = ws.session_filter(query)
    chosen = ws.ordered([s for s in _sessions(exchange).oldest_first() if keep(s)], query, "desc")
    answer = cursor_page(chosen, _ident, query, bidirectional=True)
    answer["data"] = [ws.public(s) for s in answer["data"]]
    return answer


async def _retrieve(exchange: Exchange, raw: bytes) -> Any:
    return ws.public(_session(exchange))


async def _update(exchange: Exchange, raw: bytes) -> Any:
    session = _session(exchange)
    ws.update_session(session, parse_json(raw), _now(exchange))
    return ws.public(session)


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    session = _sessions(exchange).remove(exchange.request.match_info["session_id"])
    resources = exchange.state.resources
    resources.drop(("session_event", session["id"]))
    resources.drop(("session_thread", session["id"]))
    return {"id": session["id"], "type": "session_deleted"}


async def _archive(exchange: Exchange, raw: bytes) -> Any:
    session = _session(exchange)
    ws.archive(session, _now(exchange))
    return ws.public(session)


# ---------------------------------------------------------------- events


async def _events_send(exchange: Exchange, raw: bytes) -> Any:
    session = _session(exchange)
    if session["archived_at"] is not None:
        raise invalid("Cannot send events to an archived session")
    sent = sev.sent_events(parse_json(raw), lambda: _new_id(exchange, "sevt_"), _now(exchange))
    if any(ev["type"] == "user.message" for ev in sent):
        _queue_work(exchange, session)
    _record(exchange, session, sent)
    return {"data": sent}


def _event_page(exchange: Exchange, session_id: str) -> Any:
    query = exchange.request.query
    keep = sev.event_filter(query)
    chosen = ws.ordered([e for e in _events(exchange, session_id).oldest_first() if keep(e)], query, "asc")
    return cursor_page(chosen, _ident, query)


async def _events_list(exchange: Exchange, raw: bytes) -> Any:
    return _event_page(exchange, _session(exchange)["id"])


def _streamed(exchange: Exchange, session_id: str) -> Streamed:
    events, tokens = sev.stream_events(_events(exchange, session_id).oldest_first())
    return Streamed(events, tokens)


async def _events_stream(exchange: Exchange, raw: bytes) -> Any:
    return _streamed(exchange, _session(exchange)["id"])


# ---------------------------------------------------------------- resources


async def _resources_add(exchange: Exchange, raw: bytes) -> Any:
    session = _session(exchange)
    body = parse_json(raw)
    if not isinstance(body, dict) or body.get("type") != "file":
        raise invalid("type: Input should be 'file'")
    now = _now(exchange)
    res = ws.resource_object(body, _new_id(exchange, "sesrsc_"), now)
    session["resources"].append(res)
    ws.touch(session, now)
    return dict(res)


async def _resources_list(exchange: Exchange, raw: bytes) -> Any:
    return cursor_page(list(_session(exchange)["resources"]), _ident_or_store, exchange.request.query)


def _ident_or_store(res: Obj) -> str:
    return str(res.get("id") or res.get("memory_store_id"))


async def _resources_retrieve(exchange: Exchange, raw: bytes) -> Any:
    return ws.find_resource(_session(exchange), exchange.request.match_info["resource_id"])


async def _resources_update(exchange: Exchange, raw: bytes) -> Any:
    rid = exchange.request.match_info["resource_id"]
    return ws.update_resource(_session(exchange), rid, parse_json(raw), _now(exchange))


async def _resources_delete(exchange: Exchange, raw: bytes) -> Any:
    rid = exchange.request.match_info["resource_id"]
    ws.remove_resource(_session(exchange), rid, _now(exchange))
    return {"id": rid, "type": "session_resource_deleted"}


# ---------------------------------------------------------------- threads


async def _threads_list(exchange: Exchange, raw: bytes) -> Any:
    query = exchange.request.query
    statuses = ws.wanted_statuses(query)
    threads = _threads(exchange, _session(exchange)["id"]).oldest_first()
    chosen = [t for t in threads if statuses is None or t["status"] in statuses]
    return cursor_page(chosen, _ident, query)


async def _thread_retrieve(exchange: Exchange, raw: bytes) -> Any:
    return _thread(exchange)


async def _thread_archive(exchange: Exchange, raw: bytes) -> Any:
    thread = _thread(exchange)
    ws.archive(thread, _now(exchange))
    return thread


async def _thread_events_list(exchange: Exchange, raw: bytes) -> Any:
    return _event_page(exchange, _thread(exchange)["session_id"])  # the primary thread: all events


async def _thread_stream(exchange: Exchange, raw: bytes) -> Any:
    return _streamed(exchange, _thread(exchange)["session_id"])


def _route(inner: Any, *, body: bool = False, stream: bool = False) -> Route:
    """A sessions route: the family's beta header checked before ``inner`` runs."""

    async def checked(exchange: Exchange, raw: bytes) -> Any:
        beta_checked(exchange)
        return await inner(exchange, raw)

    return payload_route(ROUTE, checked, body_limit=body_limit if body else None, stream=stream)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.SESSIONS, _route(_create, body=True)),
    ("GET", paths.SESSIONS, _route(_list)),
    ("GET", paths.SESSION, _route(_retrieve)),
    ("POST", paths.SESSION, _route(_update, body=True)),
    ("DELETE", paths.SESSION, _route(_delete)),
    ("POST", paths.SESSION_ARCHIVE, _route(_archive, body=True)),
    ("POST", paths.SESSION_EVENTS, _route(_events_send, body=True)),
    ("GET", paths.SESSION_EVENTS, _route(_events_list)),
    ("GET", paths.SESSION_EVENTS_STREAM, _route(_events_stream, stream=True)),
    ("POST", paths.SESSION_RESOURCES, _route(_resources_add, body=True)),
    ("GET", paths.SESSION_RESOURCES, _route(_resources_list)),
    ("GET", paths.SESSION_RESOURCE, _route(_resources_retrieve)),
    ("POST", paths.SESSION_RESOURCE, _route(_resources_update, body=True)),
    ("DELETE", paths.SESSION_RESOURCE, _route(_resources_delete)),
    ("GET", paths.SESSION_THREADS, _route(_threads_list)),
    ("GET", paths.SESSION_THREAD, _route(_thread_retrieve)),
    ("POST", paths.SESSION_THREAD_ARCHIVE, _route(_thread_archive, body=True)),
    ("GET", paths.SESSION_THREAD_EVENTS, _route(_thread_events_list)),
    ("GET", paths.SESSION_THREAD_STREAM, _route(_thread_stream, stream=True)),
)
