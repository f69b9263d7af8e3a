"""Memory stores, memories and memory versions (``client.beta.memory_stores``) through the real
SDK, sync and async: every route, the versioning (every write a version, redaction blanks one),
views, prefixes and depth, preconditions, archived stores, cursor paging, the real 404s, 400s
and 409s, a fault rule on the family's paths, and reset."""

from __future__ import annotations

import asyncio
import hashlib

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer


def test_a_store_is_made_listed_got_updated_archived_and_deleted() -> None:
    with MockServer() as server:
        stores = strict_client(server).beta.memory_stores
        store = stores.create(name="User 1", description="Prefs", metadata={"user": "u1"})
        assert store.id.startswith("memstore_") and store.type == "memory_store"
        assert store.archived_at is None and store.created_at == store.updated_at
        assert stores.create(name="bare").description == ""
        assert stores.retrieve(store.id) == store
        changed = stores.update(store.id, name="User one", description="", metadata={"user": None, "k": "v"})
        assert changed.name == "User one" and changed.description == "" and changed.metadata == {"k": "v"}
        assert [s.name for s in stores.list()] == ["bare", "User one"]  # newest first
        assert [s.id for s in stores.list(created_at_lte=store.created_at)] == [store.id]
        archived = stores.archive(store.id)
        assert archived.archived_at is not None and stores.archive(store.id) == archived
        assert [s.name for s in stores.list()] == ["bare"]
        assert len(stores.list(include_archived=True).data) == 2
        with pytest.raises(anthropic.BadRequestError):  # an archived store can't be updated
            stores.update(store.id, name="x")
        assert stores.delete(store.id).model_dump() == {"id": store.id, "type": "memory_store_deleted"}
        with pytest.raises(anthropic.NotFoundError) as err:
            stores.retrieve(store.id)
        assert err.value.body["error"]["message"] == f"Memory store not found: {store.id}"  # type: ignore[index]
        for call in (stores.delete, stores.archive, lambda i: stores.update(i, name="x")):
            with pytest.raises(anthropic.NotFoundError):
                call(store.id)


def test_a_create_without_its_required_field_is_the_400_naming_it() -> None:
    with MockServer() as server:
        client = strict_client(server)
        with pytest.raises(anthropic.BadRequestError) as err:
            client.post("/v1/memory_stores", body={"description": "d"}, cast_to=object)
        assert err.value.body["error"] == {"type": "invalid_request_error", "message": "name: Field required"}  # type: ignore[index]
        store = client.beta.memory_stores.create(name="s")
        with pytest.raises(anthropic.BadRequestError) as err:
            client.post(f"/v1/memory_stores/{store.id}/memories", body={"content": "x"}, cast_to=object)
        assert err.value.body["error"]["message"] == "path: Field required"  # type: ignore[index]
        for bad in ("notes.md", "/a//b", "/a/../b", "/a\u0000b", "/" + "/".join("x" * 21), "/e\u0301"):
            with pytest.raises(anthropic.BadRequestError):
                client.beta.memory_stores.memories.create(store.id, path=bad, content="x")
        with pytest.raises(anthropic.BadRequestError):
            client.beta.memory_stores.memories.create(store.id, path="/big", content="x" * 102_401)


def test_every_memory_write_makes_a_version() -> None:
    with MockServer() as server:
        client = strict_client(server)
        store = client.beta.memory_stores.create(name="s")
        memories, versions = client.beta.memory_stores.memories, client.beta.memory_stores.memory_versions
        memory = memories.create(store.id, path="/notes/todo.md", content="buy milk")
        assert memory.id.startswith("mem_") and memory.content is None  # create answers view=basic
        assert (
            memory.content_sha256 == hashlib.sha256(b"buy milk").hexdigest()
            and memory.content_size_bytes == 8
        )
        got = memories.retrieve(memory.id, memory_store_id=store.id)
        assert got.content == "buy milk"  # retrieve answers view=full
        assert memories.retrieve(memory.id, memory_store_id=store.id, view="basic").content is None
        same = memories.update(memory.id, memory_store_id=store.id, content="buy milk")
        assert same.memory_version_id == memory.memory_version_id  # nothing changed: no version
        moved = memories.update(
            memory.id,
            memory_store_id=store.id,
            path="/notes/done.md",
            precondition={"type": "content_sha256", "content_sha256": memory.content_sha256},
            view="full",
        )
        assert moved.id == memory.id and moved.path == "/notes/done.md" and moved.content == "buy milk"
        assert moved.memory_version_id != memory.memory_version_id
        with pytest.raises(anthropic.ConflictError) as err:
            memories.update(
                memory.id,
                memory_store_id=store.id,
                content="x",
                precondition={"type": "content_sha256", "content_sha256": "0" * 64},
            )
        assert err.value.body["error"]["type"] == "memory_precondition_failed_error"  # type: ignore[index]
        with pytest.raises(anthropic.ConflictError) as err:
            memories.create(store.id, path="/notes/done.md", content="again")
        assert err.value.body["error"]["type"] == "memory_path_conflict_error"  # type: ignore[index]
        with pytest.raises(anthropic.ConflictError):
            memories.delete(memory.id, memory_store_id=store.id, expected_content_sha256="0" * 64)
        assert memories.delete(memory.id, memory_store_id=store.id).model_dump() == {
            "id": memory.id,
            "type": "memory_deleted",
        }
        with pytest.raises(anthropic.NotFoundError) as gone:
            memories.retrieve(memory.id, memory_store_id=store.id)
        assert gone.value.body["error"]["message"] == f"Memory not found: {memory.id}"  # type: ignore[index]
        history = list(versions.list(store.id, memory_id=memory.id))
        assert [v.operation for v in history] == ["deleted", "modified", "created"]  # newest first
        assert history[0].content_sha256 is None and history[0].path == "/notes/done.md"
        assert history[1].id == moved.memory_version_id and history[1].content is None  # list: basic
        assert all(v.created_by is not None and v.created_by.type == "api_actor" for v in history)
        first = versions.retrieve(memory.memory_version_id, memory_store_id=store.id)
        assert first.content == "buy milk" and first.path == "/notes/todo.md" and first.operation == "created"
        assert [v.id for v in versions.list(store.id, operation="modified")] == [moved.memory_version_id]
        assert versions.list(store.id, session_id="sesn_x").data == []
        key = first.created_by.api_key_id  # type: ignore[union-attr]
        assert len(versions.list(store.id, api_key_id=key).data) == 3


def test_redaction_blanks_a_version_and_keeps_who_wrote_it() -> None:
    with MockServer() as server:
        client = strict_client(server)
        store = client.beta.memory_stores.create(name="s")
        memory = client.beta.memory_stores.memories.create(store.id, path="/secret.md", content="pin 1234")
        versions = client.beta.memory_stores.memory_versions
        redacted = versions.redact(memory.memory_version_id, memory_store_id=store.id)
        assert redacted.redacted_at is not None and redacted.redacted_by is not None
        assert (redacted.content, redacted.path, redacted.content_sha256, redacted.content_size_bytes) == (
            None,
        ) * 4
        assert redacted.created_by is not None and redacted.operation == "created"
        assert versions.retrieve(memory.memory_version_id, memory_store_id=store.id) == redacted
        assert versions.redact(memory.memory_version_id, memory_store_id=store.id) == redacted  # once only
        with pytest.raises(anthropic.NotFoundError) as err:
            versions.redact("memver_nope", memory_store_id=store.id)
        assert err.value.body["error"]["message"] == "Memory version not found: memver_nope"  # type: ignore[index]


def test_prefixes_depth_views_and_paging() -> None:
    with MockServer() as server:
        client = strict_client(server)
        store = client.beta.memory_stores.create(name="s")
        memories = client.beta.memory_stores.memories
        for path in ("/b.md", "/a/one.md", "/a/two.md", "/a/deep/three.md", "/ab/x.md"):
            memories.create(store.id, path=path, content=path)
        everything = list(memories.list(store.id))
        assert [m.path for m in everything] == [
            "/a/deep/three.md",
            "/a/one.md",
            "/a/two.md",
            "/ab/x.md",
            "/b.md",
        ]
        top = list(memories.list(store.id, depth=1))
        assert [(m.type, m.path) for m in top] == [
            ("memory_prefix", "/a/"),
            ("memory_prefix", "/ab/"),
            ("memory", "/b.md"),
        ]
        under = memories.list(store.id, path_prefix="/a/", depth=1, view="full")
        assert [m.path for m in under.data] == ["/a/deep/", "/a/one.md", "/a/two.md"]
        assert under.data[1].content == "/a/one.md"  # type: ignore[union-attr]
        with pytest.raises(anthropic.BadRequestError):
            memories.list(store.id, path_prefix="/a")
        page = memories.list(store.id, limit=2)
        assert len(page.data) == 2 and page.next_page is not None
        assert [m.path for m in memories.list(store.id, limit=2)] == [m.path for m in everything]
        versions = client.beta.memory_stores.memory_versions
        assert len(versions.list(store.id, limit=2).data) == 2
        assert len(list(versions.list(store.id, limit=2))) == 5
        assert len(versions.list(store.id, limit=50, view="full").data) == 5  # full caps a page at 20
        with pytest.raises(anthropic.BadRequestError):
            versions.list(store.id, limit=101)
        for i in range(3):
            client.beta.memory_stores.create(name=f"s{i}")
        assert len(list(client.beta.memory_stores.list(limit=2))) == 4


def test_an_archived_store_keeps_its_memories_readable_and_deletable() -> None:
    with MockServer() as server:
        client = strict_client(server)
        stores, memories = client.beta.memory_stores, client.beta.memory_stores.memories
        store = stores.create(name="s")
        memory = memories.create(store.id, path="/m.md", content="m")
        stores.archive(store.id)
        with pytest.raises(anthropic.BadRequestError):
            memories.create(store.id, path="/n.md", content="n")
        with pytest.raises(anthropic.BadRequestError):
            memories.update(memory.id, memory_store_id=store.id, content="changed")
        assert memories.retrieve(memory.id, memory_store_id=store.id).content == "m"
        assert stores.memory_versions.redact(memory.memory_version_id, memory_store_id=store.id).redacted_at
        assert memories.delete(memory.id, memory_store_id=store.id).type == "memory_deleted"
        stores.delete(store.id)  # its memories and versions go with it
        with pytest.raises(anthropic.NotFoundError):
            stores.memory_versions.retrieve(memory.memory_version_id, memory_store_id=store.id)
        with pytest.raises(anthropic.NotFoundError):
            memories.list(store.id)


def test_the_async_client_covers_the_family() -> None:
    async def run(server: MockServer) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        stores = client.beta.memory_stores
        store = await stores.create(name="s")
        assert (await stores.retrieve(store.id)).id == store.id
        assert (await stores.update(store.id, description="d")).description == "d"
        assert [s.id async for s in stores.list()] == [store.id]
        memory = await stores.memories.create(store.id, path="/m.md", content="m")
        assert (await stores.memories.retrieve(memory.id, memory_store_id=store.id)).content == "m"
        changed = await stores.memories.update(memory.id, memory_store_id=store.id, content="n")
        assert [m.path async for m in stores.memories.list(store.id)] == ["/m.md"]
        assert [v.operation async for v in stores.memory_versions.list(store.id)] == ["modified", "created"]
        version = await stores.memory_versions.retrieve(changed.memory_version_id, memory_store_id=store.id)
        assert version.content == "n"
        redacted = await stores.memory_versions.redact(version.id, memory_store_id=store.id)
        assert redacted.content is None
        assert (await stores.memories.delete(memory.id, memory_store_id=store.id)).id == memory.id
        assert (await stores.archive(store.id)).archived_at is not None
        assert (await stores.delete(store.id)).type == "memory_store_deleted"
        with pytest.raises(anthropic.NotFoundError):
            await stores.retrieve(store.id)

    with MockServer() as server:
        asyncio.run(run(server))


def test_a_rule_on_the_memory_stores_path_is_retried_by_the_sdk_and_a_refusal_keeps_nothing() -> None:
    scenario = {
        "name": "memory-flaky",
        "description": "the first memory write is refused",
        "rules": [
            {
                "match": {"path": "/v1/memory_stores/*/memories"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        client = strict_client(server, 2)
        store = client.beta.memory_stores.create(name="s")
        client.beta.memory_stores.memories.create(store.id, path="/m.md", content="m")
        path = f"/v1/memory_stores/{store.id}/memories"
        entries = [e for e in server.journal.entries() if e.path == path]
        assert [e.status for e in entries] == [529, 200]
        assert [e.retry_count for e in entries] == [0, 1]
        assert len(client.beta.memory_stores.memory_versions.list(store.id).data) == 1  # one write
    down = {
        "name": "memory-down",
        "description": "refused",
        "rules": [{"match": {"path": "/v1/memory_stores*"}, "fault": 529}],
    }
    with MockServer(scenario=down) as server, pytest.raises(anthropic.OverloadedError):
        strict_client(server).beta.memory_stores.list()


def test_reset_forgets_every_store() -> None:
    with MockServer() as server:
        client = strict_client(server)
        store = client.beta.memory_stores.create(name="s")
        client.beta.memory_stores.memories.create(store.id, path="/m.md", content="m")
        server.reset()
        assert client.beta.memory_stores.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            client.beta.memory_stores.memories.list(store.id)
