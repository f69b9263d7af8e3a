"""The Managed Agents ``/v1/agents`` routes through the real SDK: create, list, retrieve, update
(versions), archive, the versions list; the 400s, 404s, the beta header, paging, faults, reset."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, error_message, strict_client

from mockserver import MockServer

MODEL = "claude-opus-4-6"
TOOLS: list[Any] = [
    {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": False}]},
    {"type": "mcp_toolset", "mcp_server_name": "docs"},
    {"type": "custom", "name": "lookup", "description": "look up", "input_schema": {"type": "object"}},
]
BETA = {"anthropic-beta": "managed-agents-2026-04-01"}
SERVERS: list[Any] = [{"name": "docs", "type": "url", "url": "https://mcp.example.test/sse"}]


@pytest.fixture
def server() -> Any:
    with MockServer() as running:
        yield running


def test_create_answers_a_whole_agent_at_version_1(server: MockServer) -> None:
    agent = strict_client(server).beta.agents.create(
        model=MODEL,
        name="helper",
        description="helps",
        tools=TOOLS,
        mcp_servers=SERVERS,
        skills=[{"type": "anthropic", "skill_id": "xlsx"}],
        metadata={"team": "a"},
    )
    assert agent.id.startswith("agent_") and agent.type == "agent" and agent.version == 1
    assert agent.archived_at is None and agent.created_at == agent.updated_at
    assert agent.model.id == MODEL and agent.model.speed == "standard" and agent.model.effort is not None
    assert agent.execution_identity.type == "service_account"
    assert agent.skills[0].version == "latest" and agent.metadata == {"team": "a"}
    toolset = agent.tools[0]
    assert toolset.type == "agent_toolset_20260401" and toolset.configs[0].enabled is False
    assert agent.system is None and agent.multiagent is None


def test_update_makes_a_new_version_and_old_versions_stay_readable(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    agent = agents.create(model=MODEL, name="v", system="one", metadata={"a": "1", "b": "2"})
    same = agents.update(agent.id, name="v")  # nothing changes: no new version
    assert same.version == 1
    two = agents.update(agent.id, system="two", metadata={"a": None, "c": "3"}, version=1)
    assert two.version == 2 and two.system == "two" and two.metadata == {"b": "2", "c": "3"}
    assert agents.retrieve(agent.id).version == 2
    assert agents.retrieve(agent.id, version=1).system == "one"
    assert [v.version for v in agents.versions.list(agent.id)] == [2, 1]
    with pytest.raises(anthropic.ConflictError):  # a stale version is refused
        agents.update(agent.id, system="three", version=1)
    with pytest.raises(anthropic.NotFoundError):
        agents.retrieve(agent.id, version=9)


def test_archive_hides_an_agent_from_the_list_and_refuses_updates(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    kept, gone = agents.create(model=MODEL, name="kept"), agents.create(model=MODEL, name="gone")
    archived = agents.archive(gone.id)
    assert archived.archived_at is not None and agents.archive(gone.id).archived_at == archived.archived_at
    assert [a.id for a in agents.list()] == [kept.id]
    assert [a.id for a in agents.list(include_archived=True)] == [gone.id, kept.id]
    assert agents.retrieve(gone.id).archived_at is not None
    with pytest.raises(anthropic.BadRequestError) as err:
        agents.update(gone.id, name="back")
    assert "archived" in error_message(err)


def test_list_pages_through_every_agent_newest_first_and_filters_by_creation(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    made = [agents.create(model=MODEL, name=f"a{i}").id for i in range(5)]
    first = agents.list(limit=2)
    assert len(first.data) == 2 and first.next_page
    assert [a.id for a in agents.list(limit=2)] == list(reversed(made))  # auto-paging
    assert len(agents.list(created_at_gte="2999-01-01T00:00:00Z").data) == 0
    assert len(agents.list(created_at_lte="2999-01-01T00:00:00Z").data) == 5
    with pytest.raises(anthropic.BadRequestError):
        agents.list(limit=101)


def test_versions_page_through_more_than_one_page(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    agent = agents.create(model=MODEL, name="n")
    for i in range(4):
        agents.update(agent.id, system=f"s{i}")
    assert [v.version for v in agents.versions.list(agent.id, limit=2)] == [5, 4, 3, 2, 1]


def test_create_without_a_required_field_is_the_400_naming_it(server: MockServer) -> None:
    client = strict_client(server)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.post("/v1/agents", body={"model": MODEL}, cast_to=object, options={"headers": BETA})
    assert error_message(err) == "name: Field required"
    with pytest.raises(anthropic.BadRequestError) as err:  # a server no toolset references
        client.beta.agents.create(model=MODEL, name="x", mcp_servers=SERVERS)
    assert "mcp_servers" in error_message(err)


def test_the_beta_header_is_required(server: MockServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        strict_client(server).get("/v1/agents", cast_to=object)
    assert "managed-agents-2026-04-01" in error_message(err)


def test_unknown_agents_are_the_real_404_on_every_route(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    for call in (
        lambda: agents.retrieve("agent_nope"),
        lambda: agents.update("agent_nope", name="x"),
        lambda: agents.archive("agent_nope"),
        lambda: agents.versions.list("agent_nope"),
    ):
        with pytest.raises(anthropic.NotFoundError) as err:
            call()
        assert error_message(err) == "Agent not found: agent_nope"


def test_the_async_sdk_sees_the_same_agents(server: MockServer) -> None:
    async def run() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        ) as client:
            agent = await client.beta.agents.create(model=MODEL, name="async")
            await client.beta.agents.update(agent.id, description="d")
            assert (await client.beta.agents.retrieve(agent.id)).version == 2
            assert [a.id async for a in client.beta.agents.list()] == [agent.id]
            assert len([v async for v in client.beta.agents.versions.list(agent.id)]) == 2
            assert (await client.beta.agents.archive(agent.id)).archived_at is not None
            with pytest.raises(anthropic.NotFoundError):
                await client.beta.agents.retrieve("agent_nope")

    asyncio.run(run())


def test_a_rule_on_the_agents_path_fails_them_and_the_sdk_retries(server: MockServer) -> None:
    scenario = {
        "name": "agents-flaky",
        "description": "agents fail twice, then always",
        "rules": [
            {
                "match": {"path": "/v1/agents*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as flaky:
        agent = strict_client(flaky, retries=2).beta.agents.create(model=MODEL, name="retried")
        entries = [e for e in flaky.journal.entries() if e.path == "/v1/agents"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [a.id for a in strict_client(flaky).beta.agents.list()] == [agent.id]  # one agent, not two
    always = {
        "name": "agents-down",
        "description": "agents down",
        "rules": [{"match": {"path": "/v1/agents*"}, "fault": 529}],
    }
    with MockServer(scenario=always) as down, pytest.raises(anthropic.OverloadedError):
        strict_client(down, retries=1).beta.agents.list()


def test_reset_forgets_every_agent(server: MockServer) -> None:
    agents = strict_client(server).beta.agents
    agent = agents.create(model=MODEL, name="temp")
    server.reset()
    assert agents.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        agents.retrieve(agent.id)
