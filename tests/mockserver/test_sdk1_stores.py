"""Vaults and their credentials, memory stores with their memories and memory versions, MCP
tunnels and their CA certificates, through the installed SDK (sync and async, strict
validation): every route the SDK has, and the real 404 for an unknown id on each family.

Runs under both majors (``make sdk1`` runs it against the newest 1.x, whose beta resources send
every call to ``...?beta=true``); the calls here have one shape in both.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from tests.mockserver.sdk_both import MODES, both_clients, close, done, every, not_found
from tests.mockserver.test_tunnels import CA_FINGERPRINT, CA_PEM
from tests.support import error_message

from mockserver import MockServer

SECRET = "s3cr3t-never-echoed"
OAUTH: Any = {
    "type": "mcp_oauth",
    "access_token": SECRET,
    "mcp_server_url": "https://mcp.test/mcp",
    "refresh": {
        "client_id": "client-1",
        "refresh_token": SECRET,
        "token_endpoint": "https://mcp.test/token",
        "token_endpoint_auth": {"type": "client_secret_post", "client_secret": SECRET},
    },
}
BEARER: Any = {"type": "static_bearer", "token": SECRET, "mcp_server_url": "https://b.test"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


@pytest.fixture(params=MODES)
async def sdk(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[Any]:
    client = both_clients(server, request.param)
    yield client
    await close(client)


# ---------------------------------------------------------------- vaults and credentials


async def test_a_vault_is_made_listed_got_updated_archived_and_deleted(sdk: Any) -> None:
    vaults = sdk.beta.vaults
    vault = await done(vaults.create(display_name="Team", metadata={"team": "a"}))
    assert vault.id.startswith("vlt_") and vault.type == "vault" and vault.archived_at is None
    assert (await done(vaults.retrieve(vault.id))) == vault
    changed = await done(vaults.update(vault.id, display_name="Team A", metadata={"team": None}))
    assert changed.display_name == "Team A" and changed.metadata == {}
    assert vault.id in [v.id for v in await every(vaults.list(limit=1))]
    assert (await done(vaults.archive(vault.id))).archived_at is not None
    assert vault.id in [v.id for v in await every(vaults.list(include_archived=True))]
    assert (await done(vaults.delete(vault.id))).type == "vault_deleted"
    for call in (vaults.retrieve, vaults.archive, vaults.delete):
        assert await not_found(lambda c=call: c(vault.id)) == f"Vault not found: {vault.id}"


async def test_a_credential_is_made_listed_got_updated_validated_archived_and_deleted(sdk: Any) -> None:
    vault = await done(sdk.beta.vaults.create(display_name="v"))
    creds = sdk.beta.vaults.credentials
    oauth = await done(creds.create(vault.id, auth=OAUTH, display_name="Linear"))
    bearer = await done(creds.create(vault.id, auth=BEARER))
    assert oauth.id.startswith("vcrd_") and oauth.type == "vault_credential" and oauth.vault_id == vault.id
    assert oauth.auth.type == "mcp_oauth" and SECRET not in str(oauth.model_dump())
    assert [c.id for c in await every(creds.list(vault.id, limit=1))] == [bearer.id, oauth.id]
    assert (await done(creds.retrieve(oauth.id, vault_id=vault.id))) == oauth
    renamed = await done(creds.update(bearer.id, vault_id=vault.id, display_name="B"))
    assert renamed.display_name == "B"
    check = await done(creds.mcp_oauth_validate(oauth.id, vault_id=vault.id))
    assert check.type == "vault_credential_validation" and check.credential_id == oauth.id
    assert (await done(creds.archive(bearer.id, vault_id=vault.id))).archived_at is not None
    assert (await done(creds.delete(oauth.id, vault_id=vault.id))).type == "vault_credential_deleted"
    message = await not_found(lambda: creds.retrieve(oauth.id, vault_id=vault.id))
    assert message == f"Credential not found: {oauth.id}"
    await not_found(lambda: creds.list("vlt_nope"), "vlt_nope")


# ---------------------------------------------------------------- memory stores


async def test_a_memory_store_is_made_listed_got_updated_archived_and_deleted(sdk: Any) -> None:
    stores = sdk.beta.memory_stores
    store = await done(stores.create(name="User 1", description="Prefs", metadata={"u": "1"}))
    assert store.id.startswith("memstore_") and store.type == "memory_store"
    assert (await done(stores.retrieve(store.id))) == store
    changed = await done(stores.update(store.id, name="User one", metadata={"u": None}))
    assert changed.name == "User one" and changed.metadata == {}
    assert store.id in [s.id for s in await every(stores.list(limit=1))]
    assert (await done(stores.archive(store.id))).archived_at is not None
    with pytest.raises(anthropic.BadRequestError):  # an archived store can't be updated
        await done(stores.update(store.id, name="x"))
    assert (await done(stores.delete(store.id))).type == "memory_store_deleted"
    for call in (stores.retrieve, stores.archive, stores.delete):
        assert await not_found(lambda c=call: c(store.id)) == f"Memory store not found: {store.id}"


async def test_memories_are_written_read_listed_and_deleted_and_their_versions_redacted(sdk: Any) -> None:
    store = await done(sdk.beta.memory_stores.create(name="s"))
    memories, versions = sdk.beta.memory_stores.memories, sdk.beta.memory_stores.memory_versions
    memory = await done(memories.create(store.id, path="/notes/todo.md", content="buy milk"))
    assert memory.id.startswith("mem_") and memory.content_sha256 == hashlib.sha256(b"buy milk").hexdigest()
    assert (await done(memories.retrieve(memory.id, memory_store_id=store.id))).content == "buy milk"
    moved = await done(memories.update(memory.id, memory_store_id=store.id, path="/notes/done.md"))
    assert moved.path == "/notes/done.md" and moved.memory_version_id != memory.memory_version_id
    assert [m.id for m in await every(memories.list(store.id, path_prefix="/notes/"))] == [memory.id]
    history = await every(versions.list(store.id, memory_id=memory.id, limit=1))
    assert {v.id for v in history} == {memory.memory_version_id, moved.memory_version_id}
    first = await done(versions.retrieve(memory.memory_version_id, memory_store_id=store.id))
    assert first.id == memory.memory_version_id
    redacted = await done(versions.redact(memory.memory_version_id, memory_store_id=store.id))
    assert redacted.redacted_at is not None
    with pytest.raises(anthropic.ConflictError):  # the content is not what the caller expected
        await done(memories.delete(memory.id, memory_store_id=store.id, expected_content_sha256="0" * 64))
    assert (await done(memories.delete(memory.id, memory_store_id=store.id))).id == memory.id
    await not_found(lambda: memories.retrieve(memory.id, memory_store_id=store.id), memory.id)
    await not_found(lambda: versions.retrieve("memver_nope", memory_store_id=store.id), "memver_nope")


# ---------------------------------------------------------------- tunnels and certificates


async def test_a_tunnel_is_made_listed_got_its_token_revealed_and_rotated_and_archived(sdk: Any) -> None:
    tunnels = sdk.beta.tunnels
    tunnel = await done(tunnels.create(display_name="office"))
    assert tunnel.id.startswith("tnl_") and tunnel.type == "tunnel" and tunnel.display_name == "office"
    assert (await done(tunnels.retrieve(tunnel.id))) == tunnel
    assert tunnel.id in [t.id for t in await every(tunnels.list(limit=1))]
    token = await done(tunnels.reveal_token(tunnel.id))
    assert token.type == "tunnel_token" and token.tunnel_token
    rotated = await done(tunnels.rotate_token(tunnel.id, reason="leaked"))
    assert rotated.tunnel_token != token.tunnel_token
    assert (await done(tunnels.reveal_token(tunnel.id))) == rotated
    assert (await done(tunnels.archive(tunnel.id))).archived_at is not None
    for call in (tunnels.retrieve, tunnels.archive, tunnels.reveal_token, tunnels.rotate_token):
        assert await not_found(lambda c=call: c("tnl_missing")) == "Tunnel not found: tnl_missing"


async def test_a_certificate_is_registered_listed_got_and_archived(sdk: Any) -> None:
    tunnel = await done(sdk.beta.tunnels.create())
    certs = sdk.beta.tunnels.certificates
    cert = await done(certs.create(tunnel.id, ca_certificate_pem=CA_PEM))
    assert cert.id.startswith("tcrt_") and cert.type == "tunnel_certificate" and cert.tunnel_id == tunnel.id
    assert cert.fingerprint == CA_FINGERPRINT
    assert (await done(certs.retrieve(cert.id, tunnel_id=tunnel.id))) == cert
    assert [c.id for c in await every(certs.list(tunnel.id))] == [cert.id]
    assert (await done(certs.archive(cert.id, tunnel_id=tunnel.id))).archived_at is not None
    assert (await done(certs.list(tunnel.id))).data == []
    message = await not_found(lambda: certs.retrieve("tcrt_missing", tunnel_id=tunnel.id))
    assert message == "Tunnel certificate not found: tcrt_missing"
    with pytest.raises(anthropic.BadRequestError) as err:
        await done(certs.create(tunnel.id, ca_certificate_pem="not a pem"))
    assert "ca_certificate_pem" in error_message(err)
