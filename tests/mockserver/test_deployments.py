"""The Managed Agents ``/v1/deployments`` and ``/v1/deployment_runs`` routes through the real SDK:
create (pinning the agent's version), list filters, update, pause/unpause, archive, manual runs
and their errors, the 400s and 404s, paging, faults and reset."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, error_message, strict_client

from mockserver import MockServer

MODEL = "claude-opus-4-6"
EVENTS: Any = [{"type": "user.message", "content": [{"type": "text", "text": "go"}]}]


@pytest.fixture
def server() -> Any:
    with MockServer() as running:
        yield running


def _setup(client: anthropic.Anthropic) -> tuple[str, str]:
    agent = client.beta.agents.create(model=MODEL, name="a")
    client.beta.agents.update(agent.id, system="v2")
    env = client.beta.environments.create(name="e")
    return agent.id, env.id


def _deploy(client: anthropic.Anthropic, agent: Any, env_id: str, **more: Any) -> Any:
    return client.beta.deployments.create(
        agent=agent, environment_id=env_id, initial_events=EVENTS, name="d", **more
    )


def test_create_pins_the_agent_version_and_answers_a_whole_deployment(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    depl = _deploy(
        client,
        agent_id,
        env_id,
        schedule={"type": "cron", "expression": "0 9 * * 1", "timezone": "UTC"},
        resources=[{"type": "file", "file_id": "file_1"}],
        metadata={"k": "v"},
    )
    assert depl.id.startswith("depl_") and depl.type == "deployment" and depl.status == "active"
    assert (depl.agent.id, depl.agent.version) == (agent_id, 2) and depl.environment_id == env_id
    assert depl.schedule is not None and depl.schedule.expression == "0 9 * * 1"
    assert depl.resources[0].type == "file" and depl.vault_ids == [] and depl.budget is None
    assert depl.paused_reason is None and depl.archived_at is None
    pinned = _deploy(client, {"type": "agent", "id": agent_id, "version": 1}, env_id)
    assert pinned.agent.version == 1 and client.beta.deployments.retrieve(pinned.id) == pinned


def test_update_pause_unpause_archive(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    deps = client.beta.deployments
    depl = _deploy(client, agent_id, env_id, metadata={"a": "1"})
    changed = deps.update(depl.id, description="x", metadata={"a": None, "b": "2"}, schedule=None)
    assert changed.description == "x" and changed.metadata == {"b": "2"}
    paused = deps.pause(depl.id)
    assert (
        paused.status == "paused"
        and paused.paused_reason is not None
        and paused.paused_reason.type == "manual"
    )
    assert [d.id for d in deps.list(status="paused")] == [depl.id] and deps.list(status="active").data == []
    assert deps.unpause(depl.id).status == "active"
    assert deps.archive(depl.id).archived_at is not None
    assert deps.list().data == [] and [d.id for d in deps.list(include_archived=True)] == [depl.id]
    with pytest.raises(anthropic.BadRequestError):
        deps.update(depl.id, name="again")
    with pytest.raises(anthropic.BadRequestError):
        deps.list(include_archived=True, status="active")


def test_runs_make_a_session_or_say_why_not(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    depl = _deploy(client, agent_id, env_id)
    run = client.beta.deployments.run(depl.id)
    assert run.id.startswith("drun_") and run.type == "deployment_run" and run.deployment_id == depl.id
    assert run.session_id is not None and run.error is None and run.trigger_context.type == "manual"
    client.beta.environments.archive(env_id)
    failed = client.beta.deployments.run(depl.id)
    assert failed.session_id is None and failed.error is not None
    assert failed.error.type == "environment_archived_error"
    runs = client.beta.deployment_runs
    assert runs.retrieve(run.id) == run
    assert [r.id for r in runs.list(deployment_id=depl.id)] == [failed.id, run.id]
    assert [r.id for r in runs.list(has_error=True)] == [failed.id]
    assert [r.id for r in runs.list(limit=1)] == [failed.id, run.id]  # two pages
    assert runs.list(trigger_type="schedule").data == [] and runs.list(deployment_id="depl_none").data == []


def test_list_pages_and_filters_by_agent(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    other = client.beta.agents.create(model=MODEL, name="b")
    made = [_deploy(client, agent_id, env_id).id for _ in range(4)]
    lone = _deploy(client, other.id, env_id).id
    assert [d.id for d in client.beta.deployments.list(agent_id=agent_id, limit=3)] == list(reversed(made))
    assert [d.id for d in client.beta.deployments.list(agent_id=other.id)] == [lone]


def test_create_400s_name_the_field(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.post(
            "/v1/deployments",
            body={"agent": agent_id, "environment_id": env_id, "name": "d"},
            cast_to=object,
            options={"headers": {"anthropic-beta": "managed-agents-2026-04-01"}},
        )
    assert error_message(err) == "initial_events: Field required"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.deployments.create(agent=agent_id, environment_id=env_id, initial_events=[], name="d")
    with pytest.raises(anthropic.BadRequestError):
        _deploy(client, {"type": "agent", "id": agent_id, "version": 0}, env_id)
    with pytest.raises(anthropic.NotFoundError):  # a version the agent never had, as for a session
        _deploy(client, {"type": "agent", "id": agent_id, "version": 7}, env_id)


def test_unknown_ids_are_the_real_404(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    deps = client.beta.deployments
    for call in (
        lambda: deps.retrieve("depl_nope"),
        lambda: deps.update("depl_nope", name="x"),
        lambda: deps.archive("depl_nope"),
        lambda: deps.pause("depl_nope"),
        lambda: deps.unpause("depl_nope"),
        lambda: deps.run("depl_nope"),
    ):
        with pytest.raises(anthropic.NotFoundError) as err:
            call()
        assert error_message(err) == "Deployment not found: depl_nope"
    with pytest.raises(anthropic.NotFoundError) as err:
        client.beta.deployment_runs.retrieve("drun_nope")
    assert error_message(err) == "Deployment run not found: drun_nope"
    with pytest.raises(anthropic.NotFoundError) as err:
        _deploy(client, "agent_nope", env_id)
    assert error_message(err) == "Agent not found: agent_nope"
    with pytest.raises(anthropic.NotFoundError):
        _deploy(client, agent_id, "env_nope")


def test_the_async_sdk_runs_the_same_routes(server: MockServer) -> None:
    agent_id, env_id = _setup(strict_client(server))

    async def run() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        ) as client:
            deps = client.beta.deployments
            depl = await deps.create(agent=agent_id, environment_id=env_id, initial_events=EVENTS, name="d")
            assert (await deps.update(depl.id, name="e")).name == "e"
            assert (await deps.pause(depl.id)).status == "paused"
            assert (await deps.unpause(depl.id)).status == "active"
            run = await deps.run(depl.id)
            assert (await client.beta.deployment_runs.retrieve(run.id)).id == run.id
            assert [r.id async for r in client.beta.deployment_runs.list()] == [run.id]
            assert [d.id async for d in deps.list()] == [depl.id]
            assert (await deps.archive(depl.id)).archived_at is not None
            with pytest.raises(anthropic.NotFoundError):
                await deps.retrieve("depl_nope")

    asyncio.run(run())


def test_a_rule_on_the_deployments_path_fails_them_and_the_sdk_retries() -> None:
    scenario = {
        "name": "deployments-flaky",
        "description": "deployments fail once",
        "rules": [
            {
                "match": {"path": "/v1/deployments*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as flaky:
        client = strict_client(flaky, retries=2)
        assert client.beta.deployments.list().data == []
        entries = [e for e in flaky.journal.entries() if e.path == "/v1/deployments"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]


def test_reset_forgets_deployments_and_runs(server: MockServer) -> None:
    client = strict_client(server)
    agent_id, env_id = _setup(client)
    run = client.beta.deployments.run(_deploy(client, agent_id, env_id).id)
    server.reset()
    assert client.beta.deployments.list().data == [] and client.beta.deployment_runs.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        client.beta.deployment_runs.retrieve(run.id)
