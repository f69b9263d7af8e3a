"""The managed-agents families through the installed SDK (sync and async, strict validation):
agents and their versions, environments and their work queue, deployments and their runs,
dreams, sessions with their events (listed and streamed), resources and threads; every route
the SDK has, and the real 404 for an unknown id on each family.

Runs under both majors (``make sdk1`` runs it against the newest 1.x, whose beta resources send
every call to ``...?beta=true``); the calls here have one shape in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from tests.mockserver.sdk_both import MODES, both_clients, close, done, every, not_found
from tests.support import FakeClock, error_message

from mockserver import MockServer
from mockserver.wire.work import enqueue_work

MODEL = "claude-opus-4-6"
HELLO: Any = [{"type": "user.message", "content": [{"type": "text", "text": "Hello there"}]}]
ANSWER = ["user.message", "session.status_running", "agent.message", "session.status_idle"]
INPUTS: Any = [
    {"type": "memory_store", "memory_store_id": "memstore_in"},
    {"type": "sessions", "session_ids": ["sesn_a"]},
]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(clock=FakeClock()) as running:  # dreams advance only when told
        yield running


@pytest.fixture(params=MODES)
async def sdk(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[Any]:
    client = both_clients(server, request.param)
    yield client
    await close(client)


async def _platform(sdk: Any) -> tuple[str, str]:
    agent = await done(sdk.beta.agents.create(model=MODEL, name="helper", system="Be brief."))
    env = await done(sdk.beta.environments.create(name="sandbox"))
    return agent.id, env.id


# ---------------------------------------------------------------- agents


async def test_an_agent_is_made_versioned_listed_and_archived(sdk: Any) -> None:
    agents = sdk.beta.agents
    agent = await done(agents.create(model=MODEL, name="v", system="one"))
    assert agent.id.startswith("agent_") and agent.type == "agent" and agent.version == 1
    two = await done(agents.update(agent.id, system="two", version=1))
    assert two.version == 2 and (await done(agents.retrieve(agent.id, version=1))).system == "one"
    assert [v.version for v in await every(agents.versions.list(agent.id, limit=1))] == [2, 1]
    assert agent.id in [a.id for a in await every(agents.list())]
    with pytest.raises(anthropic.ConflictError):  # a stale version is refused
        await done(agents.update(agent.id, system="three", version=1))
    assert (await done(agents.archive(agent.id))).archived_at is not None
    for call in (agents.retrieve, agents.archive, agents.versions.list):
        message = await not_found(lambda c=call: c("agent_nope"), "agent_nope")
        assert message == "Agent not found: agent_nope"


# ---------------------------------------------------------------- environments and work


async def test_an_environment_is_made_updated_archived_and_deleted(sdk: Any) -> None:
    envs = sdk.beta.environments
    env = await done(envs.create(name="cloud", metadata={"a": "1"}))
    assert env.id.startswith("env_") and env.type == "environment" and env.config.type == "cloud"
    changed = await done(envs.update(env.id, description="d", metadata={"a": None, "b": "2"}))
    assert changed.description == "d" and changed.metadata == {"b": "2"}
    assert (await done(envs.retrieve(env.id))) == changed
    assert env.id in [e.id for e in await every(envs.list(limit=1))]
    assert (await done(envs.archive(env.id))).archived_at is not None
    assert (await done(envs.delete(env.id))).type == "environment_deleted"
    for call in (envs.retrieve, envs.archive, envs.delete):
        await not_found(lambda c=call: c(env.id), env.id)


async def test_a_work_item_is_polled_acked_heartbeated_updated_and_stopped(
    sdk: Any, server: MockServer
) -> None:
    env = await done(sdk.beta.environments.create(name="sh", config={"type": "self_hosted"}))
    work = sdk.beta.environments.work
    assert await done(work.poll(env.id)) is None
    state = server.state
    ident = "work_" + state.ids.next_suffix()
    enqueue_work(state.resources, ident, env.id, "sesn_1", state.config.wall_clock())
    assert (await done(work.stats(env.id))).depth == 1
    assert [w.id for w in await every(work.list(env.id))] == [ident]
    polled = await done(work.poll(env.id, anthropic_worker_id="w1"))
    assert polled is not None and polled.id == ident and polled.secret
    assert (await done(work.retrieve(ident, environment_id=env.id))).secret is None
    assert (await done(work.ack(ident, environment_id=env.id))).state == "starting"
    beat = await done(work.heartbeat(ident, environment_id=env.id, expected_last_heartbeat="NO_HEARTBEAT"))
    assert beat.state == "active" and beat.lease_extended
    assert (await done(work.update(ident, environment_id=env.id, metadata={"k": "v"}))).metadata == {"k": "v"}
    assert (await done(work.stop(ident, environment_id=env.id, force=True))).state == "stopped"
    message = await not_found(lambda: work.retrieve("work_nope", environment_id=env.id), "work_nope")
    assert message == "Work not found: work_nope"
    await not_found(lambda: work.stats("env_nope"), "env_nope")


# ---------------------------------------------------------------- deployments and runs


async def test_a_deployment_is_made_paused_run_and_archived_and_its_runs_read(sdk: Any) -> None:
    agent_id, env_id = await _platform(sdk)
    deps = sdk.beta.deployments
    depl = await done(deps.create(agent=agent_id, environment_id=env_id, initial_events=HELLO, name="d"))
    assert depl.id.startswith("depl_") and depl.status == "active" and depl.agent.version == 1
    assert (await done(deps.update(depl.id, description="x"))).description == "x"
    assert (await done(deps.retrieve(depl.id))).description == "x"
    assert (await done(deps.pause(depl.id))).status == "paused"
    assert depl.id in [d.id for d in await every(deps.list(status="paused"))]
    assert (await done(deps.unpause(depl.id))).status == "active"
    run = await done(deps.run(depl.id))
    assert run.type == "deployment_run" and run.deployment_id == depl.id and run.session_id
    runs = sdk.beta.deployment_runs
    assert (await done(runs.retrieve(run.id))) == run
    assert [r.id for r in await every(runs.list(deployment_id=depl.id))] == [run.id]
    assert (await done(deps.archive(depl.id))).archived_at is not None
    for call in (deps.retrieve, deps.pause, deps.run):
        await not_found(lambda c=call: c("depl_nope"), "depl_nope")
    assert await not_found(lambda: runs.retrieve("drun_nope")) == "Deployment run not found: drun_nope"


# ---------------------------------------------------------------- dreams


async def test_a_dream_is_made_listed_canceled_and_archived(sdk: Any) -> None:
    dreams = sdk.beta.dreams
    dream = await done(dreams.create(inputs=INPUTS, model=MODEL, instructions="tidy up"))
    assert dream.id.startswith("drm_") and dream.type == "dream" and dream.status == "pending"
    assert (await done(dreams.retrieve(dream.id))).status == "pending"
    assert dream.id in [d.id for d in await every(dreams.list(statuses=["pending"]))]
    with pytest.raises(anthropic.BadRequestError) as err:  # pending: cancel it first
        await done(dreams.archive(dream.id))
    assert "cancel" in error_message(err)
    assert (await done(dreams.cancel(dream.id))).status == "canceled"
    assert (await done(dreams.archive(dream.id))).archived_at is not None
    for call in (dreams.retrieve, dreams.archive, dreams.cancel):
        assert await not_found(lambda c=call: c("drm_nope")) == "Dream not found: drm_nope"


# ---------------------------------------------------------------- sessions


async def test_a_session_is_made_updated_archived_listed_and_deleted(sdk: Any) -> None:
    agent_id, env_id = await _platform(sdk)
    sessions = sdk.beta.sessions
    made = await done(sessions.create(agent=agent_id, environment_id=env_id, title="T"))
    assert made.id.startswith("sesn_") and made.type == "session" and made.status == "idle"
    assert (await done(sessions.update(made.id, title="new"))).title == "new"
    assert (await done(sessions.retrieve(made.id))).title == "new"
    assert made.id in [s.id for s in await every(sessions.list(agent_id=agent_id))]
    assert (await done(sessions.archive(made.id))).archived_at is not None
    assert (await done(sessions.delete(made.id))).type == "session_deleted"
    for call in (sessions.retrieve, sessions.delete, sessions.events.list, sessions.threads.list):
        await not_found(lambda c=call: c(made.id), made.id)


async def test_a_message_sent_is_answered_and_its_events_listed_and_streamed(sdk: Any) -> None:
    agent_id, env_id = await _platform(sdk)
    made = await done(sdk.beta.sessions.create(agent=agent_id, environment_id=env_id))
    events = sdk.beta.sessions.events
    sent = await done(events.send(made.id, events=HELLO))
    assert [e.type for e in sent.data] == ["user.message"]
    listed = await every(events.list(made.id, limit=2))
    assert [e.type for e in listed] == ANSWER
    streamed = await every(events.stream(made.id))
    assert [e.model_dump() for e in streamed] == [e.model_dump() for e in listed]
    await not_found(lambda: events.send("sesn_nope", events=HELLO), "sesn_nope")
    await not_found(lambda: every(events.stream("sesn_nope")), "sesn_nope")


async def test_a_session_resource_is_added_listed_got_updated_and_deleted(sdk: Any) -> None:
    agent_id, env_id = await _platform(sdk)
    repo: Any = {"type": "github_repository", "url": "https://example.test/o/r", "authorization_token": "t"}
    made = await done(sdk.beta.sessions.create(agent=agent_id, environment_id=env_id, resources=[repo]))
    resources = sdk.beta.sessions.resources
    added = await done(resources.add(made.id, type="file", file_id="file_1"))
    assert added.id.startswith("sesrsc_") and added.mount_path == "/mnt/session/uploads/file_1"
    assert [r.id for r in await every(resources.list(made.id))] == [made.resources[0].id, added.id]
    assert (await done(resources.retrieve(added.id, session_id=made.id))).type == "file"
    rotated = await done(resources.update(made.resources[0].id, session_id=made.id, authorization_token="t2"))
    assert rotated.type == "github_repository"
    assert (await done(resources.delete(added.id, session_id=made.id))).type == "session_resource_deleted"
    await not_found(lambda: resources.retrieve(added.id, session_id=made.id), added.id)


async def test_a_sessions_thread_is_listed_got_read_streamed_and_archived(sdk: Any) -> None:
    agent_id, env_id = await _platform(sdk)
    made = await done(sdk.beta.sessions.create(agent=agent_id, environment_id=env_id))
    await done(sdk.beta.sessions.events.send(made.id, events=HELLO))
    threads = sdk.beta.sessions.threads
    [thread] = await every(threads.list(made.id))
    assert thread.id.startswith("sthr_") and thread.session_id == made.id
    assert (await done(threads.retrieve(thread.id, session_id=made.id))).id == thread.id
    assert [e.type for e in await every(threads.events.list(thread.id, session_id=made.id))] == ANSWER
    assert [e.type for e in await every(threads.events.stream(thread.id, session_id=made.id))] == ANSWER
    assert (await done(threads.archive(thread.id, session_id=made.id))).archived_at is not None
    message = await not_found(lambda: threads.retrieve("sthr_nope", session_id=made.id))
    assert message == "Session thread not found: sthr_nope"
