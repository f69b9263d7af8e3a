"""The Managed Agents ``/v1/environments`` routes and their work queue through the real SDK:
environment CRUD and archive, then a work item's life (queued by ``enqueue_work``, polled, acked,
heartbeated, stopped), the 400s, 404s, 412, paging, faults and reset."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from anthropic.types.beta import BetaEnvironmentArchivedError, BetaInvalidConfigTypeChangeError
from tests.support import TEST_KEY, error_message, strict_client

from mockserver import MockServer
from mockserver.wire.work import enqueue_work


@pytest.fixture
def server() -> Any:
    with MockServer() as running:
        yield running


def _enqueue(server: MockServer, env_id: str, n: int = 1) -> list[str]:
    state = server.state
    made = []
    for i in range(n):
        ident = "work_" + state.ids.next_suffix()
        enqueue_work(state.resources, ident, env_id, f"sesn_{i}", state.config.wall_clock())
        made.append(ident)
    return made


def test_environment_crud_and_archive(server: MockServer) -> None:
    envs = strict_client(server).beta.environments
    env = envs.create(name="cloud", metadata={"a": "1", "b": "2"})
    assert env.id.startswith("env_") and env.type == "environment" and env.scope == "organization"
    assert env.config.type == "cloud" and env.config.networking.type == "unrestricted"
    assert env.config.packages.pip == [] and env.archived_at is None and env.description is None
    limited: Any = {
        "type": "cloud",
        "networking": {"type": "limited", "allowed_hosts": ["x.test"]},
        "packages": {"pip": ["rich"]},
    }
    changed = envs.update(env.id, description="", metadata={"a": None, "b": "", "c": "3"}, config=limited)
    assert changed.description == "" and changed.metadata == {"c": "3"}
    assert changed.config.type == "cloud" and changed.config.networking.type == "limited"
    assert changed.config.packages.pip == ["rich"] and envs.retrieve(env.id) == changed
    with pytest.raises(BetaInvalidConfigTypeChangeError) as changed_type:  # a config keeps its type
        envs.update(env.id, config={"type": "self_hosted"})
    assert changed_type.value.error_code == "invalid_config_type_change"
    archived = envs.archive(env.id)
    assert archived.archived_at is not None and envs.list().data == []
    assert [e.id for e in envs.list(include_archived=True)] == [env.id]
    with pytest.raises(BetaEnvironmentArchivedError) as err:
        envs.update(env.id, name="again")
    assert "archived" in error_message(err) and err.value.error_code == "environment_archived"
    gone = envs.delete(env.id)
    assert gone.id == env.id and gone.type == "environment_deleted"
    with pytest.raises(anthropic.NotFoundError):
        envs.retrieve(env.id)


def test_list_pages_and_the_create_400(server: MockServer) -> None:
    envs = strict_client(server).beta.environments
    made = [envs.create(name=f"e{i}").id for i in range(5)]
    assert len(envs.list(limit=2).data) == 2
    assert [e.id for e in envs.list(limit=2)] == list(reversed(made))
    with pytest.raises(anthropic.BadRequestError) as err:
        strict_client(server).post(
            "/v1/environments",
            body={"description": "no name"},
            cast_to=object,
            options={"headers": {"anthropic-beta": "managed-agents-2026-04-01"}},
        )
    assert error_message(err) == "name: Field required"


def test_unknown_environments_and_work_are_the_real_404(server: MockServer) -> None:
    client = strict_client(server)
    envs, work = client.beta.environments, client.beta.environments.work
    for call in (
        lambda: envs.retrieve("env_nope"),
        lambda: envs.update("env_nope", name="x"),
        lambda: envs.delete("env_nope"),
        lambda: envs.archive("env_nope"),
        lambda: work.list("env_nope"),
        lambda: work.poll("env_nope"),
        lambda: work.stats("env_nope"),
    ):
        with pytest.raises(anthropic.NotFoundError) as err:
            call()
        assert error_message(err) == "Environment not found: env_nope"
    env = envs.create(name="sh", config={"type": "self_hosted"})
    with pytest.raises(anthropic.NotFoundError) as err:
        work.retrieve("work_nope", environment_id=env.id)
    assert error_message(err) == "Work not found: work_nope"


def test_a_work_item_is_polled_acked_heartbeated_and_stopped(server: MockServer) -> None:
    client = strict_client(server)
    env = client.beta.environments.create(name="sh", config={"type": "self_hosted"})
    work = client.beta.environments.work
    assert work.poll(env.id) is None
    first, second = _enqueue(server, env.id, 2)
    stats = work.stats(env.id)
    assert stats.depth == 2 and stats.pending == 0 and stats.oldest_queued_at is not None
    polled = work.poll(env.id, anthropic_worker_id="w1")
    assert polled is not None and polled.id == first and polled.secret and polled.state == "queued"
    assert work.retrieve(first, environment_id=env.id).secret is None
    held = work.stats(env.id)
    assert (held.depth, held.pending, held.workers_polling) == (1, 1, 1)
    assert work.poll(env.id, reclaim_older_than_ms=60_000).id == second  # type: ignore[union-attr]
    acked = work.ack(first, environment_id=env.id)
    assert acked.state == "starting" and acked.acknowledged_at is not None
    with pytest.raises(anthropic.BadRequestError):
        work.ack(first, environment_id=env.id)
    beat = work.heartbeat(first, environment_id=env.id, expected_last_heartbeat="NO_HEARTBEAT")
    assert beat.state == "active" and beat.lease_extended and beat.last_heartbeat
    with pytest.raises(anthropic.PreconditionFailedError):
        work.heartbeat(first, environment_id=env.id, expected_last_heartbeat="NO_HEARTBEAT")
    again = work.heartbeat(
        first, environment_id=env.id, expected_last_heartbeat=beat.last_heartbeat, desired_ttl_seconds=9
    )
    assert again.ttl_seconds == 9 and again.lease_extended
    stopping = work.stop(first, environment_id=env.id)
    assert stopping.state == "stopping" and stopping.stop_requested_at is not None
    ended = work.heartbeat(first, environment_id=env.id)
    assert ended.state == "stopped" and not ended.lease_extended
    assert work.stop(second, environment_id=env.id, force=True).state == "stopped"
    updated = work.update(first, environment_id=env.id, metadata={"k": "v"})
    assert updated.metadata == {"k": "v"}


def test_work_lists_page_newest_first_and_go_with_their_environment(server: MockServer) -> None:
    client = strict_client(server)
    env = client.beta.environments.create(name="sh", config={"type": "self_hosted"})
    made = _enqueue(server, env.id, 5)
    assert [w.id for w in client.beta.environments.work.list(env.id, limit=2)] == list(reversed(made))
    client.beta.environments.delete(env.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.work.retrieve(made[0], environment_id=env.id)


def test_the_async_sdk_runs_the_same_routes(server: MockServer) -> None:
    async def run() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        ) as client:
            envs = client.beta.environments
            env = await envs.create(name="a", config={"type": "self_hosted"})
            assert (await envs.update(env.id, name="b")).name == "b"
            assert [e.id async for e in envs.list()] == [env.id]
            [ident] = _enqueue(server, env.id)
            assert (await envs.work.poll(env.id, block_ms=1)).id == ident  # type: ignore[union-attr]
            assert (await envs.work.ack(ident, environment_id=env.id)).state == "starting"
            assert [w.id async for w in envs.work.list(env.id)] == [ident]
            assert (await envs.archive(env.id)).archived_at is not None
            assert (await envs.delete(env.id)).type == "environment_deleted"
            with pytest.raises(anthropic.NotFoundError):
                await envs.retrieve(env.id)

    asyncio.run(run())


def test_a_rule_on_the_environments_path_fails_them_and_the_sdk_retries() -> None:
    scenario = {
        "name": "env-flaky",
        "description": "environments fail once",
        "rules": [
            {
                "match": {"path": "/v1/environments*"},
                "trigger": {"sequence": [{"error": {"status": 503, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as flaky:
        env = strict_client(flaky, retries=2).beta.environments.create(name="retried")
        entries = [e for e in flaky.journal.entries() if e.path == "/v1/environments"]
        assert [e.status for e in entries] == [503, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [e.id for e in strict_client(flaky).beta.environments.list()] == [env.id]


def test_reset_forgets_environments_and_their_work(server: MockServer) -> None:
    client = strict_client(server)
    env = client.beta.environments.create(name="sh", config={"type": "self_hosted"})
    _enqueue(server, env.id)
    server.reset()
    assert client.beta.environments.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.work.stats(env.id)
