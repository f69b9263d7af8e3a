"""The managed-agents families as one platform, through the real SDK (strict validation): a
session resolves its stored agent (at its version, with overrides) and environment; a session on
a self-hosted environment is work its workers poll; a deployment's run makes a real session; one
beta header rule on every route of the family; archiving and deleting leave sessions as they are."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer

BETA = "managed-agents-2026-04-01"
MODEL = "claude-opus-4-6"
HELLO: Any = [{"type": "user.message", "content": [{"type": "text", "text": "Hello"}]}]
NEEDS_BETA = f"This endpoint is in beta: requests must send `{BETA}` in the anthropic-beta header."
SNAPSHOT = (
    "id",
    "description",
    "execution_identity",
    "mcp_servers",
    "model",
    "multiagent",
    "name",
    "skills",
    "system",
    "tools",
    "type",
    "version",
)


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def _error(err: pytest.ExceptionInfo[anthropic.APIStatusError]) -> tuple[str, str]:
    body: Any = err.value.body
    return str(body["error"]["type"]), str(body["error"]["message"])


def _agent(client: anthropic.Anthropic) -> Any:
    tools: Any = [{"type": "agent_toolset_20260401"}]
    agent = client.beta.agents.create(name="coder", model=MODEL, system="one", tools=tools)
    client.beta.agents.update(agent.id, system="two", description="second")
    return agent


# ---------------------------------------------------------------- 1: the agent and environment


def test_the_snapshot_is_the_stored_agent_at_its_version(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    for version in (1, 2):
        s = client.beta.sessions.create(
            agent={"type": "agent", "id": agent.id, "version": version}, environment_id=env.id
        )
        stored = client.beta.agents.retrieve(agent.id, version=version)
        assert s.agent.model_dump(include=set(SNAPSHOT)) == stored.model_dump(include=set(SNAPSHOT))
    latest = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    assert (latest.agent.version, latest.agent.system, latest.agent.description) == (2, "two", "second")
    assert latest.agent.model.id == MODEL and [t.type for t in latest.agent.tools] == [
        "agent_toolset_20260401"
    ]
    client.beta.agents.update(agent.id, system="three")  # a new version: the session keeps its own
    assert client.beta.sessions.retrieve(latest.id).agent.system == "two"


def test_overrides_replace_the_agents_fields_for_the_session_only(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    ref: Any = {
        "type": "agent_with_overrides",
        "id": agent.id,
        "model": "claude-haiku-4-5",
        "system": None,
        "tools": [],
    }
    s = client.beta.sessions.create(agent=ref, environment_id=env.id)
    assert (s.agent.model.id, s.agent.system, s.agent.tools) == ("claude-haiku-4-5", None, [])
    assert (s.agent.version, s.agent.name, s.agent.description) == (2, "coder", "second")
    kept = client.beta.agents.retrieve(agent.id)
    assert (kept.model.id, kept.system, kept.version) == (MODEL, "two", 2)
    bad: Any = {**ref, "tools": [{"type": "nope"}]}  # an override is checked as on the agent
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=bad, environment_id=env.id)


def test_a_session_update_checks_its_tools_as_the_agents_are(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    s = client.beta.sessions.create(
        agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=env.id
    )
    tools: Any = [{"type": "agent_toolset_20260401", "default_config": {"enabled": False}}]
    u = client.beta.sessions.update(s.id, agent={"tools": tools})
    [toolset] = u.agent.tools
    assert toolset.type == "agent_toolset_20260401" and toolset.default_config.enabled is False
    assert (u.agent.version, u.agent.system) == (1, "one")
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(s.id, agent={"tools": [{"type": "nope"}]})  # type: ignore[arg-type]


def test_an_unknown_agent_version_or_environment_is_the_404(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    tries: list[Any] = [
        ("agent_nope", env.id),
        ({"type": "agent", "id": agent.id, "version": 9}, env.id),
        ({"type": "agent_with_overrides", "id": agent.id, "version": 9}, env.id),
        (agent.id, "env_nope"),
    ]
    before = len(list(client.beta.sessions.list(limit=100)))
    for ref, env_id in tries:
        with pytest.raises(anthropic.NotFoundError) as err:
            client.beta.sessions.create(agent=ref, environment_id=env_id)
        assert _error(err)[0] == "not_found_error"
    assert len(list(client.beta.sessions.list(limit=100))) == before  # a refusal stores nothing


def test_an_archived_agent_or_environment_makes_no_new_session(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    s = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    client.beta.agents.archive(agent.id)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    archived = f"agent: Agent {agent.id} is archived and cannot be used to create new sessions."
    assert _error(err) == ("invalid_request_error", archived)
    other = client.beta.agents.create(name="fresh", model=MODEL)
    client.beta.environments.archive(env.id)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.beta.sessions.create(agent=other.id, environment_id=env.id)
    assert f"Environment {env.id} is archived" in _error(err)[1]
    # 5: the existing session is left as it is, and still answers
    sent = client.beta.sessions.events.send(s.id, events=HELLO)
    assert sent.data is not None and client.beta.sessions.retrieve(s.id).agent.id == agent.id


def test_a_deleted_environments_sessions_stay_readable(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="gone", config={"type": "self_hosted"})
    s = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    client.beta.environments.delete(env.id)
    kept = client.beta.sessions.retrieve(s.id)
    assert kept.environment_id == env.id and kept.archived_at is None
    client.beta.sessions.events.send(s.id, events=HELLO)  # nothing to queue on: still answered
    assert [e.type for e in client.beta.sessions.events.list(s.id)][-1] == "session.status_idle"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.work.list(env.id)


# ---------------------------------------------------------------- 2: work for a self-hosted environment


def test_a_self_hosted_session_is_queued_as_work_and_requeued_when_dormant(server: MockServer) -> None:
    client = strict_client(server)
    agent = _agent(client)
    env = client.beta.environments.create(name="mine", config={"type": "self_hosted"})
    s = client.beta.sessions.create(agent=agent.id, environment_id=env.id, initial_events=HELLO)
    [item] = list(client.beta.environments.work.list(env.id))
    assert (item.data.id, item.data.type, item.state) == (s.id, "session", "queued")
    client.beta.sessions.events.send(s.id, events=HELLO)  # its work is live: no second item
    assert len(list(client.beta.environments.work.list(env.id))) == 1
    polled = client.beta.environments.work.poll(env.id)
    assert polled is not None and polled.id == item.id and polled.secret
    client.beta.environments.work.stop(item.id, environment_id=env.id, force=True)
    client.beta.sessions.events.send(s.id, events=HELLO)  # dormant now: new work
    newest = list(client.beta.environments.work.list(env.id))
    assert len(newest) == 2 and newest[0].data.id == s.id and newest[0].state == "queued"
    cloud = client.beta.environments.create(name="cloud")
    t = client.beta.sessions.create(agent=agent.id, environment_id=cloud.id, initial_events=HELLO)
    assert t.status == "idle" and list(client.beta.environments.work.list(cloud.id)) == []


# ---------------------------------------------------------------- 3: a deployment's run


def test_a_deployment_run_makes_a_session_the_sessions_routes_know(server: MockServer) -> None:
    client = strict_client(server)
    agent, env = _agent(client), client.beta.environments.create(name="cloud")
    depl = client.beta.deployments.create(
        agent={"type": "agent", "id": agent.id, "version": 1},
        environment_id=env.id,
        initial_events=HELLO,
        name="nightly",
        vault_ids=["vlt_1"],
    )
    run = client.beta.deployments.run(depl.id)
    assert run.error is None and run.session_id is not None
    s = client.beta.sessions.retrieve(run.session_id)
    assert (s.deployment_id, s.environment_id, s.vault_ids) == (depl.id, env.id, ["vlt_1"])
    assert (s.agent.id, s.agent.version, s.agent.system) == (agent.id, 1, "one")
    assert [e.type for e in client.beta.sessions.events.list(s.id)][:1] == ["user.message"]
    assert run.session_id in [x.id for x in client.beta.sessions.list(agent_id=agent.id, limit=100)]
    client.beta.agents.archive(agent.id)
    refused = client.beta.deployments.run(depl.id)
    assert refused.session_id is None and refused.error is not None
    assert refused.error.type == "agent_archived_error"


def test_a_run_that_mounts_resources_on_a_self_hosted_environment_is_a_run_error(server: MockServer) -> None:
    client = strict_client(server)
    agent = _agent(client)
    env = client.beta.environments.create(name="mine", config={"type": "self_hosted"})
    mounts: Any = [{"type": "file", "file_id": "file_1"}]
    depl = client.beta.deployments.create(
        agent=agent.id, environment_id=env.id, initial_events=HELLO, name="d", resources=mounts
    )
    run = client.beta.deployments.run(depl.id)
    assert run.session_id is None and run.error is not None
    assert run.error.type == "self_hosted_resources_unsupported_error"
    plain = client.beta.deployments.create(
        agent=agent.id, environment_id=env.id, initial_events=HELLO, name="p"
    )
    ok = client.beta.deployments.run(plain.id)
    assert ok.session_id is not None
    assert [w.data.id for w in client.beta.environments.work.list(env.id)] == [ok.session_id]


def test_a_529_on_a_run_is_retried_and_makes_one_session() -> None:
    scenario = {
        "name": "runs-busy",
        "description": "a deployment run is refused once",
        "rules": [{"match": {"path": "/v1/deployments/*/run"}, "trigger": {"sequence": [529, "ok"]}}],
    }
    with MockServer(scenario=scenario) as busy:
        client = strict_client(busy, 2)
        agent, env = _agent(client), client.beta.environments.create(name="cloud")
        depl = client.beta.deployments.create(
            agent=agent.id, environment_id=env.id, initial_events=HELLO, name="d"
        )
        run = client.beta.deployments.run(depl.id)
        entries = [e for e in busy.journal.entries() if e.path.endswith("/run")]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [s.id for s in client.beta.sessions.list()] == [run.session_id]


# ---------------------------------------------------------------- 4: the beta header


def test_every_sessions_route_needs_the_beta_and_the_sdk_sends_it() -> None:
    with MockServer() as fresh:
        client = strict_client(fresh)
        agent, env = _agent(client), client.beta.environments.create(name="cloud")
        s = client.beta.sessions.create(agent=agent.id, environment_id=env.id, initial_events=HELLO)
        [thread] = list(client.beta.sessions.threads.list(s.id))
        client.beta.sessions.threads.events.list(thread.id, session_id=s.id)
        client.beta.sessions.resources.add(s.id, type="file", file_id="file_1")
        list(client.beta.sessions.resources.list(s.id))
        with client.beta.sessions.events.stream(s.id) as stream:
            assert list(stream)
        seen = [e for e in fresh.journal.entries() if e.path.startswith("/v1/sessions")]
        assert len({(e.method, e.path) for e in seen}) == 6 and all(e.status == 200 for e in seen)
        assert all(BETA in e.headers["anthropic-beta"] for e in seen)
        other = {"anthropic-beta": "files-api-2025-04-14"}
        calls: list[Any] = [
            lambda: client.beta.sessions.retrieve(s.id, extra_headers=other),
            lambda: client.beta.sessions.list(extra_headers=other),
            lambda: client.beta.sessions.events.list(s.id, extra_headers=other),
            lambda: client.beta.sessions.threads.list(s.id, extra_headers=other),
            lambda: client.beta.sessions.create(agent=agent.id, environment_id=env.id, extra_headers=other),
            lambda: client.beta.agents.list(extra_headers=other),
        ]
        for call in calls:
            with pytest.raises(anthropic.BadRequestError) as err:
                call()
            assert _error(err) == ("invalid_request_error", NEEDS_BETA)
        with_more = client.beta.sessions.retrieve(s.id, betas=["files-api-2025-04-14"])
        assert with_more.id == s.id  # the SDK joins the betas: the family's is among them


def test_the_async_sdk_runs_a_deployment_and_reads_its_session() -> None:
    async def run(url: str) -> tuple[str | None, str | None]:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        agent = await client.beta.agents.create(name="a", model=MODEL)
        env = await client.beta.environments.create(name="e")
        depl = await client.beta.deployments.create(
            agent=agent.id, environment_id=env.id, initial_events=HELLO, name="d"
        )
        made = await client.beta.deployments.run(depl.id)
        assert made.session_id is not None
        s = await client.beta.sessions.retrieve(made.session_id)
        with pytest.raises(anthropic.NotFoundError):
            await client.beta.sessions.create(agent="agent_nope", environment_id=env.id)
        await client.close()
        return s.deployment_id, depl.id

    with MockServer() as fresh:
        got, want = asyncio.run(run(fresh.url))
    assert got == want
