"""The Managed Agents sessions beta through the real SDK (sync and async, strict validation):
sessions, their events (a user message answered by the mock's agent), the event streams read to
the end, resources and threads; the real 404s; paging; faults on these routes, mid-stream too."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer

HELLO: Any = [{"type": "user.message", "content": [{"type": "text", "text": "Hello there"}]}]
ANSWER = ["user.message", "session.status_running", "agent.message", "session.status_idle"]


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def _platform(client: anthropic.Anthropic) -> tuple[str, str]:
    """A stored agent and a stored (cloud) environment for the session to be made from."""
    agent = client.beta.agents.create(name="helper", model="claude-opus-4-6", system="Be brief.")
    return agent.id, client.beta.environments.create(name="sandbox").id


def _session(client: anthropic.Anthropic, refs: tuple[str, str] | None = None, **extra: Any) -> Any:
    agent_id, env_id = refs or _platform(client)
    return client.beta.sessions.create(agent=agent_id, environment_id=env_id, **extra)


# ---------------------------------------------------------------- sessions


def test_a_session_is_made_idle_from_an_agent_reference_and_sent_with_the_beta_header(
    server: MockServer,
) -> None:
    client = strict_client(server)
    agent_id, env_id = _platform(client)
    for text in ("two", "three"):
        client.beta.agents.update(agent_id, system=text)
    ref: Any = {"type": "agent_with_overrides", "id": agent_id, "version": 3, "model": "claude-haiku-4-5"}
    s = client.beta.sessions.create(
        agent=ref, environment_id=env_id, title="T", metadata={"k": "v"}, vault_ids=["vlt_1"]
    )
    assert s.id.startswith("sesn_") and s.type == "session" and s.status == "idle"
    assert (s.agent.id, s.agent.version, s.agent.model.id) == (agent_id, 3, "claude-haiku-4-5")
    assert s.agent.system == "three" and s.environment_id == env_id
    assert s.title == "T" and s.metadata == {"k": "v"} and s.vault_ids == ["vlt_1"] and s.archived_at is None
    [entry] = [e for e in server.journal.entries() if e.path == "/v1/sessions" and e.method == "POST"][-1:]
    assert entry.status == 200
    raw = client.beta.sessions.with_raw_response.retrieve(s.id)
    assert raw.http_request.headers["anthropic-beta"] == "managed-agents-2026-04-01"
    assert raw.parse().id == s.id


def test_a_session_is_updated_archived_listed_and_deleted(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client, metadata={"a": "1", "b": "2"})
    u = client.beta.sessions.update(s.id, title="new", metadata={"a": None, "c": "3"})
    assert u.title == "new" and u.metadata == {"b": "2", "c": "3"}
    assert client.beta.sessions.retrieve(s.id).title == "new"
    a = client.beta.sessions.archive(s.id)
    assert a.archived_at is not None
    assert s.id not in [x.id for x in client.beta.sessions.list(limit=1000)]
    assert s.id in [x.id for x in client.beta.sessions.list(include_archived=True, limit=1000)]
    gone = client.beta.sessions.delete(s.id)
    assert (gone.id, gone.type) == (s.id, "session_deleted")
    for call in (
        client.beta.sessions.retrieve,
        client.beta.sessions.events.list,
        client.beta.sessions.threads.list,
    ):
        with pytest.raises(anthropic.NotFoundError) as err:
            call(s.id)
        assert err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_sessions_are_listed_newest_first_in_bidirectional_pages() -> None:
    with MockServer() as fresh:
        client = strict_client(fresh)
        refs = _platform(client)
        sessions = [_session(client, refs) for _ in range(5)]
        made = [s.id for s in sessions]
        first_at = sessions[0].created_at
        assert list(client.beta.sessions.list(created_at_lt=first_at)) == []
        assert len(list(client.beta.sessions.list(created_at_gte=first_at))) == 5
        first = client.beta.sessions.list(limit=2)
        assert [s.id for s in first.data] == made[::-1][:2] and first.prev_page is None
        assert [s.id for s in client.beta.sessions.list(limit=2)] == made[::-1]  # auto-paging
        assert [s.id for s in client.beta.sessions.list(order="asc", limit=10)] == made
        second = client.beta.sessions.list(limit=2, page=first.next_page or "")
        assert second.prev_page is not None
        back = client.beta.sessions.list(limit=2, page=second.prev_page or "")
        assert [s.id for s in back.data] == [s.id for s in first.data]
        assert [s.id for s in client.beta.sessions.list(statuses=["running"])] == []
        assert len(list(client.beta.sessions.list(agent_id=refs[0], statuses=["idle"]))) == 5
        assert list(client.beta.sessions.list(agent_id=refs[0], agent_version=2)) == []


def test_a_bad_create_body_is_the_400(server: MockServer) -> None:
    client = strict_client(server)
    refs = _platform(client)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent={"type": "agent"}, environment_id=refs[1])  # type: ignore[arg-type]
    for bad in ({"resources": 3}, {"initial_events": [{"type": "nope"}]}, {"metadata": {"k": 1}}):
        with pytest.raises(anthropic.BadRequestError):
            _session(client, refs, extra_body=bad)


# ---------------------------------------------------------------- events


def test_a_user_message_is_answered_by_the_agent_and_the_session_ends_idle(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client)
    sent = client.beta.sessions.events.send(s.id, events=HELLO)
    assert sent.data is not None and [e.type for e in sent.data] == ["user.message"]
    assert sent.data[0].id.startswith("sevt_") and sent.data[0].processed_at is not None
    events = list(client.beta.sessions.events.list(s.id))
    assert [e.type for e in events] == ANSWER
    message = events[2]
    assert message.type == "agent.message" and message.content[0].text  # type: ignore[union-attr]
    idle = events[3]
    assert idle.type == "session.status_idle" and idle.stop_reason.type == "end_turn"
    after = client.beta.sessions.retrieve(s.id)
    assert after.status == "idle" and (after.usage.output_tokens or 0) > 0
    again = _session(client)
    client.beta.sessions.events.send(again.id, events=HELLO)
    twin = list(client.beta.sessions.events.list(again.id, types=["agent.message"]))
    assert [e.content for e in twin] == [message.content]  # type: ignore[union-attr] # deterministic


def test_events_are_paged_and_ordered_and_initial_events_count(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client, initial_events=HELLO)
    client.beta.sessions.events.send(
        s.id, events=[{"type": "system.message", "content": [{"type": "text", "text": "note"}]}]
    )
    page = client.beta.sessions.events.list(s.id, limit=2)
    assert [e.type for e in page.data] == ANSWER[:2] and page.next_page
    assert [e.type for e in client.beta.sessions.events.list(s.id, limit=2)] == [*ANSWER, "system.message"]
    newest = client.beta.sessions.events.list(s.id, order="desc", limit=1).data
    assert [e.type for e in newest] == ["system.message"]
    last_at = newest[0].processed_at
    assert last_at is not None
    assert list(client.beta.sessions.events.list(s.id, created_at_gt=last_at)) == []
    assert len(list(client.beta.sessions.events.list(s.id, created_at_lte=last_at))) == 5


def test_unknown_or_unanswerable_events_are_the_400_and_store_nothing(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client)
    bad: Any = [HELLO[0], {"type": "user.tool_confirmation", "tool_use_id": "sevt_x", "result": "allow"}]
    with pytest.raises(anthropic.BadRequestError) as err:
        client.beta.sessions.events.send(s.id, events=bad)
    assert "tool_use_id" in err.value.message
    assert list(client.beta.sessions.events.list(s.id)) == []
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.events.send("sesn_nope", events=HELLO)


def test_the_event_stream_is_read_to_the_end_by_the_sdk(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client)
    client.beta.sessions.events.send(s.id, events=HELLO)
    with client.beta.sessions.events.stream(s.id) as stream:
        streamed = list(stream)
    assert [e.type for e in streamed] == ANSWER
    listed = list(client.beta.sessions.events.list(s.id))
    assert [e.model_dump() for e in streamed] == [e.model_dump() for e in listed]
    [entry] = [e for e in server.journal.entries() if e.path == f"/v1/sessions/{s.id}/events/stream"]
    assert entry.status == 200
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.events.stream("sesn_nope")


# ---------------------------------------------------------------- resources and threads


def test_session_resources_are_added_listed_retrieved_updated_and_deleted(server: MockServer) -> None:
    client = strict_client(server)
    repo: Any = {"type": "github_repository", "url": "https://example.test/o/r", "authorization_token": "t"}
    s = _session(client, resources=[repo])
    [mounted] = s.resources
    assert mounted.type == "github_repository" and mounted.id.startswith("sesrsc_")
    added = client.beta.sessions.resources.add(s.id, type="file", file_id="file_1")
    assert added.mount_path == "/mnt/session/uploads/file_1" and added.id.startswith("sesrsc_")
    assert [r.id for r in client.beta.sessions.resources.list(s.id)] == [mounted.id, added.id]  # type: ignore[union-attr]
    got = client.beta.sessions.resources.retrieve(added.id, session_id=s.id)
    assert got.type == "file" and got.id == added.id
    rotated = client.beta.sessions.resources.update(mounted.id, session_id=s.id, authorization_token="t2")
    assert rotated.type == "github_repository"
    gone = client.beta.sessions.resources.delete(added.id, session_id=s.id)
    assert (gone.id, gone.type) == (added.id, "session_resource_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.resources.retrieve(added.id, session_id=s.id)
    assert [r.type for r in client.beta.sessions.retrieve(s.id).resources] == ["github_repository"]


def test_a_session_has_its_primary_thread_with_its_events_and_stream(server: MockServer) -> None:
    client = strict_client(server)
    s = _session(client)
    client.beta.sessions.events.send(s.id, events=HELLO)
    [thread] = list(client.beta.sessions.threads.list(s.id))
    assert thread.id.startswith("sthr_") and thread.session_id == s.id and thread.status == "idle"
    assert client.beta.sessions.threads.retrieve(thread.id, session_id=s.id).id == thread.id
    assert [e.type for e in client.beta.sessions.threads.events.list(thread.id, session_id=s.id)] == ANSWER
    with client.beta.sessions.threads.events.stream(thread.id, session_id=s.id) as stream:
        assert [e.type for e in stream] == ANSWER
    assert client.beta.sessions.threads.archive(thread.id, session_id=s.id).archived_at is not None
    assert list(client.beta.sessions.threads.list(s.id, statuses=["running"])) == []
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.threads.retrieve("sthr_nope", session_id=s.id)


def test_the_async_sdk_walks_the_same_routes(server: MockServer) -> None:
    async def run() -> list[str]:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        agent = await client.beta.agents.create(name="async", model="claude-opus-4-6")
        env = await client.beta.environments.create(name="async-env")
        s = await client.beta.sessions.create(agent=agent.id, environment_id=env.id)
        await client.beta.sessions.events.send(s.id, events=HELLO)
        listed = [e.type async for e in client.beta.sessions.events.list(s.id)]
        stream = await client.beta.sessions.events.stream(s.id)
        streamed: list[str] = [e.type async for e in stream]
        assert listed == streamed
        assert [x.id async for x in client.beta.sessions.list(limit=1000)].count(s.id) == 1
        await client.beta.sessions.update(s.id, title="t")
        await client.beta.sessions.archive(s.id)
        await client.beta.sessions.delete(s.id)
        with pytest.raises(anthropic.NotFoundError):
            await client.beta.sessions.retrieve(s.id)
        await client.close()
        return streamed

    assert asyncio.run(run()) == ANSWER


# ---------------------------------------------------------------- faults and reset


def test_a_529_on_create_is_retried_by_the_sdk_and_makes_one_session() -> None:
    scenario = {
        "name": "sessions-busy",
        "description": "session create is refused once",
        "rules": [
            {
                "match": {"path": "/v1/sessions", "method": "POST"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as busy:
        client = strict_client(busy, 2)
        refs = _platform(client)
        s = _session(client, refs)
        entries = [e for e in busy.journal.entries() if e.path == "/v1/sessions"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [x.id for x in client.beta.sessions.list()] == [s.id]  # the refusal made nothing
        with pytest.raises(anthropic.OverloadedError):
            strict_client(busy, 0).beta.sessions.create(
                agent=refs[0], environment_id=refs[1], extra_headers={"x-busysignal-fault": "529"}
            )


def test_a_mid_stream_error_event_reaches_the_sdk_as_its_error() -> None:
    scenario = {
        "name": "session-stream-breaks",
        "description": "the session event stream fails after two events",
        "rules": [
            {
                "match": {"path": "/v1/sessions/*/events/stream"},
                "fault": {
                    "stream": {"kind": "error_event", "after_events": 2, "error_type": "overloaded_error"}
                },
            }
        ],
    }
    with MockServer(scenario=scenario) as broken:
        client = strict_client(broken, 2)
        s = _session(client)
        client.beta.sessions.events.send(s.id, events=HELLO)  # not a stream: untouched
        seen: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as err:
            for ev in client.beta.sessions.events.stream(s.id):
                seen.append(ev.type)
        assert seen == ANSWER[:2] and err.value.status_code == 200
        assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        [entry] = [e for e in broken.journal.entries() if e.path.endswith("/events/stream")]
        assert entry.fault == "stream_error_event"  # one request: a mid-stream error is not retried


def test_reset_clears_sessions_and_their_children() -> None:
    with MockServer() as fresh:
        client = strict_client(fresh)
        s = _session(client)
        client.beta.sessions.events.send(s.id, events=HELLO)
        fresh.reset()
        assert list(client.beta.sessions.list()) == []
        with pytest.raises(anthropic.NotFoundError):
            client.beta.sessions.events.list(s.id)
