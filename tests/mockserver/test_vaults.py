"""Vaults and their credentials (``client.beta.vaults``) through the real SDK, sync and async:
every route, write-only secrets, cursor paging, archiving, the real 404s and 400s, a fault rule
on the family's paths, and reset."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer
from mockserver.wire import vaults as vw

SECRET = "s3cr3t-never-echoed"
OAUTH: dict[str, Any] = {
    "type": "mcp_oauth",
    "access_token": SECRET,
    "mcp_server_url": "https://mcp.test/mcp",
    "refresh": {
        "client_id": "client-1",
        "refresh_token": SECRET,
        "token_endpoint": "https://mcp.test/token",
        "token_endpoint_auth": {"type": "client_secret_post", "client_secret": SECRET},
        "scope": "read",
    },
}
ENV: dict[str, Any] = {
    "type": "environment_variable",
    "secret_name": "API_KEY",
    "secret_value": SECRET,
    "networking": {"type": "limited", "allowed_hosts": ["api.test"]},
}


def test_a_vault_is_made_listed_got_updated_archived_and_deleted() -> None:
    with MockServer() as server:
        vaults = strict_client(server).beta.vaults
        vault = vaults.create(display_name="Team", metadata={"team": "a", "env": "dev"})
        assert vault.id.startswith("vlt_") and vault.type == "vault" and vault.archived_at is None
        assert vault.created_at == vault.updated_at and vault.metadata == {"team": "a", "env": "dev"}
        assert vaults.retrieve(vault.id) == vault
        changed = vaults.update(vault.id, display_name="Team A", metadata={"env": None, "tier": "1"})
        assert changed.display_name == "Team A" and changed.metadata == {"team": "a", "tier": "1"}
        other = vaults.create(display_name="Other")
        assert [v.id for v in vaults.list()] == [other.id, vault.id]  # newest first
        archived = vaults.archive(vault.id)
        assert archived.archived_at is not None and archived.updated_at == archived.archived_at
        assert vaults.archive(vault.id) == archived  # archiving again changes nothing
        assert [v.id for v in vaults.list()] == [other.id]
        assert [v.id for v in vaults.list(include_archived=True)] == [other.id, vault.id]
        assert vaults.delete(vault.id).model_dump() == {"id": vault.id, "type": "vault_deleted"}
        with pytest.raises(anthropic.NotFoundError) as err:
            vaults.retrieve(vault.id)
        assert err.value.body["error"]["message"] == f"Vault not found: {vault.id}"  # type: ignore[index]
        for call in (vaults.delete, vaults.archive, lambda i: vaults.update(i, display_name="x")):
            with pytest.raises(anthropic.NotFoundError):
                call(vault.id)


def test_vaults_list_in_cursor_pages() -> None:
    with MockServer() as server:
        vaults = strict_client(server).beta.vaults
        made = [vaults.create(display_name=f"v{i}").id for i in range(5)]
        first = vaults.list(limit=2)
        assert len(first.data) == 2 and first.next_page is not None and first.has_next_page()
        assert [v.id for v in vaults.list(limit=2)] == list(reversed(made))  # auto-paging
        with pytest.raises(anthropic.BadRequestError):
            vaults.list(limit=101)


def test_a_create_without_its_required_field_is_the_400_naming_it() -> None:
    with MockServer() as server:
        client = strict_client(server)
        with pytest.raises(anthropic.BadRequestError) as err:
            client.post("/v1/vaults", body={"metadata": {}}, cast_to=object)
        assert err.value.body["error"] == {  # type: ignore[index]
            "type": "invalid_request_error",
            "message": "display_name: Field required",
        }
        vault = client.beta.vaults.create(display_name="v")
        with pytest.raises(anthropic.BadRequestError) as err:
            client.beta.vaults.credentials.create(vault.id, auth={"type": "static_bearer", "token": "t"})  # type: ignore[arg-type]
        assert "mcp_server_url" in err.value.message
        with pytest.raises(anthropic.BadRequestError):
            client.beta.vaults.create(display_name="v", metadata={f"k{i}": "v" for i in range(17)})


def test_credentials_never_answer_a_secret() -> None:
    with MockServer() as server:
        client = strict_client(server)
        vault = client.beta.vaults.create(display_name="v")
        creds = client.beta.vaults.credentials
        oauth = creds.create(vault.id, auth=OAUTH, display_name="Linear")  # type: ignore[arg-type]
        bearer = creds.create(
            vault.id, auth={"type": "static_bearer", "token": SECRET, "mcp_server_url": "https://b.test"}
        )
        env = creds.create(vault.id, auth=ENV, metadata={"k": "v"})  # type: ignore[arg-type]
        assert (
            oauth.id.startswith("vcrd_") and oauth.type == "vault_credential" and oauth.vault_id == vault.id
        )
        assert oauth.auth.type == "mcp_oauth" and oauth.auth.refresh is not None
        assert oauth.auth.refresh.token_endpoint_auth.type == "client_secret_post"
        assert oauth.auth.refresh.scope == "read" and bearer.auth.type == "static_bearer"
        assert env.auth.type == "environment_variable" and env.auth.secret_name == "API_KEY"
        assert env.auth.injection_location.header and env.auth.networking.type == "limited"
        raw = [creds.with_raw_response.retrieve(c.id, vault_id=vault.id).text() for c in (oauth, bearer, env)]
        raw.append(creds.with_raw_response.list(vault.id).text())
        assert all(SECRET not in r for r in raw)
        assert all(SECRET not in json.dumps(c.model_dump(mode="json")) for c in (oauth, bearer, env))


def test_credentials_are_listed_got_updated_archived_validated_and_deleted() -> None:
    with MockServer() as server:
        client = strict_client(server)
        vault = client.beta.vaults.create(display_name="v")
        creds = client.beta.vaults.credentials
        oauth = creds.create(vault.id, auth=OAUTH)  # type: ignore[arg-type]
        env = creds.create(vault.id, auth=ENV)  # type: ignore[arg-type]
        assert [c.id for c in creds.list(vault.id)] == [env.id, oauth.id]
        assert creds.retrieve(oauth.id, vault_id=vault.id) == oauth
        changed = creds.update(
            env.id,
            vault_id=vault.id,
            display_name="Env",
            auth={
                "type": "environment_variable",
                "injection_location": {"body": True},
                "secret_value": "new",
            },
        )
        assert changed.display_name == "Env" and changed.auth.injection_location.body  # type: ignore[union-attr]
        with pytest.raises(anthropic.BadRequestError):  # the type can't change
            creds.update(env.id, vault_id=vault.id, auth={"type": "static_bearer", "token": "t"})
        check = creds.mcp_oauth_validate(oauth.id, vault_id=vault.id)
        assert check.type == "vault_credential_validation" and check.status == "valid"
        assert check.credential_id == oauth.id and check.has_refresh_token
        with pytest.raises(anthropic.BadRequestError):
            creds.mcp_oauth_validate(env.id, vault_id=vault.id)
        archived = creds.archive(env.id, vault_id=vault.id)
        assert archived.archived_at is not None
        assert [c.id for c in creds.list(vault.id)] == [oauth.id]
        assert len(creds.list(vault.id, include_archived=True, limit=1).data) == 1
        assert [c.id for c in creds.list(vault.id, include_archived=True, limit=1)] == [env.id, oauth.id]
        deleted = creds.delete(oauth.id, vault_id=vault.id)
        assert deleted.model_dump() == {"id": oauth.id, "type": "vault_credential_deleted"}
        with pytest.raises(anthropic.NotFoundError) as err:
            creds.retrieve(oauth.id, vault_id=vault.id)
        assert err.value.body["error"]["message"] == f"Credential not found: {oauth.id}"  # type: ignore[index]
        client.beta.vaults.delete(vault.id)  # its credentials go with it
        with pytest.raises(anthropic.NotFoundError):
            creds.retrieve(env.id, vault_id=vault.id)
        with pytest.raises(anthropic.NotFoundError):
            creds.list(vault.id)


def test_the_probe_follows_the_stored_expiry() -> None:
    with MockServer() as server:
        client = strict_client(server)
        vault = client.beta.vaults.create(display_name="v")
        creds = client.beta.vaults.credentials
        later = "2999-01-01T00:00:00Z"
        bare = creds.create(vault.id, auth={**OAUTH, "refresh": None, "expires_at": later})  # type: ignore[arg-type]
        assert bare.auth.expires_at is not None  # type: ignore[union-attr]
        with pytest.raises(anthropic.BadRequestError):  # expires_at must be in the future
            creds.create(vault.id, auth={**OAUTH, "expires_at": "2000-01-01T00:00:00Z"})  # type: ignore[arg-type]
        refreshing = creds.create(vault.id, auth={**OAUTH, "expires_at": later})  # type: ignore[arg-type]
    past = 32_503_680_000.0  # 3000-01-01: both tokens have expired
    invalid = vw.validation(bare.model_dump(mode="json"), past)
    assert invalid["status"] == "invalid" and invalid["refresh"] == {
        "status": "no_refresh_token",
        "http_response": None,
    }
    assert invalid["mcp_probe"]["http_response"]["status_code"] == 401
    unknown = vw.validation(refreshing.model_dump(mode="json"), past)
    assert unknown["status"] == "unknown" and unknown["refresh"]["status"] == "succeeded"
    assert unknown["has_refresh_token"] and unknown["mcp_probe"] is None


def test_the_async_client_covers_the_family() -> None:
    async def run(server: MockServer) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        vaults = client.beta.vaults
        vault = await vaults.create(display_name="v")
        assert (await vaults.retrieve(vault.id)).id == vault.id
        assert (await vaults.update(vault.id, display_name="w")).display_name == "w"
        assert [v.id async for v in vaults.list()] == [vault.id]
        cred = await vaults.credentials.create(vault.id, auth=OAUTH)  # type: ignore[arg-type]
        assert (await vaults.credentials.retrieve(cred.id, vault_id=vault.id)).id == cred.id
        assert (
            await vaults.credentials.update(cred.id, vault_id=vault.id, display_name="c")
        ).display_name == "c"
        assert [c.id async for c in vaults.credentials.list(vault.id)] == [cred.id]
        assert (await vaults.credentials.mcp_oauth_validate(cred.id, vault_id=vault.id)).status == "valid"
        assert (await vaults.credentials.archive(cred.id, vault_id=vault.id)).archived_at is not None
        assert (await vaults.credentials.delete(cred.id, vault_id=vault.id)).id == cred.id
        assert (await vaults.archive(vault.id)).archived_at is not None
        assert (await vaults.delete(vault.id)).type == "vault_deleted"
        with pytest.raises(anthropic.NotFoundError):
            await vaults.retrieve(vault.id)

    with MockServer() as server:
        asyncio.run(run(server))


def test_a_rule_on_the_vaults_path_is_retried_by_the_sdk_and_a_refusal_keeps_nothing() -> None:
    scenario = {
        "name": "vaults-flaky",
        "description": "the first vaults call is refused",
        "rules": [
            {
                "match": {"path": "/v1/vaults*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        vault = strict_client(server, 2).beta.vaults.create(display_name="v")
        entries = [e for e in server.journal.entries() if e.path == "/v1/vaults"]
        assert [e.status for e in entries] == [529, 200]
        assert [e.retry_count for e in entries] == [0, 1]
        assert [v.id for v in strict_client(server).beta.vaults.list()] == [vault.id]  # one vault, not two
    down = {
        "name": "vaults-down",
        "description": "refused",
        "rules": [{"match": {"path": "/v1/vaults*"}, "fault": 529}],
    }
    with MockServer(scenario=down) as server, pytest.raises(anthropic.OverloadedError):
        strict_client(server).beta.vaults.list()


def test_reset_forgets_every_vault() -> None:
    with MockServer() as server:
        client = strict_client(server)
        vault = client.beta.vaults.create(display_name="v")
        client.beta.vaults.credentials.create(vault.id, auth=ENV)  # type: ignore[arg-type]
        server.reset()
        assert client.beta.vaults.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            client.beta.vaults.credentials.list(vault.id)
