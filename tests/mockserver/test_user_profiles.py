"""User profiles, GA (``client.user_profiles``) and beta (``client.beta.user_profiles``, the same
routes under a ``user-profiles-*`` beta header that picks the answer's shape), through the real
SDK: create, list in cursor pages and in name order, get, update, delete, action and enrollment
URLs, Google-managed data controls, the real 404s and 400s, and faults on the family's paths."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer


def test_a_beta_profile_is_made_got_updated_and_deleted_in_the_legacy_shape() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = client.beta.user_profiles.create(name="Acme", external_id="cust-1", metadata={"tier": "gold"})
        assert made.id.startswith("uprof_") and made.type == "user_profile"
        assert made.access_type == "application" and made.trust_grants == {}
        assert made.external_id == "cust-1" and made.external_user_details is None
        assert made.created_at == made.updated_at
        assert client.beta.user_profiles.retrieve(made.id) == made
        changed = client.beta.user_profiles.update(
            made.id, metadata={"tier": "", "region": "eu"}, name="Acme Ltd"
        )
        assert changed.metadata == {"region": "eu"} and changed.name == "Acme Ltd"
        assert changed.updated_at > made.updated_at and changed.external_id == "cust-1"
        deleted = client.beta.user_profiles.delete(made.id)
        assert deleted.model_dump() == {"id": made.id, "type": "user_profile_deleted"}
        with pytest.raises(anthropic.NotFoundError) as err:
            client.beta.user_profiles.retrieve(made.id)
        assert err.value.body["error"]["message"] == f"User profile not found: {made.id}"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            client.beta.user_profiles.delete(made.id)


def test_the_ga_shape_carries_the_details_and_the_enforcement_fields() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = client.user_profiles.create(
            name="Bob",
            external_user_details={
                "reference_id": "r-9",
                "country": "FR",
                "onboarded_at": "2025-01-02T03:04:05Z",
            },
        )
        assert made.external_user_details.reference_id == "r-9" and made.external_user_details.country == "FR"
        assert made.external_user_details.onboarded_at is not None
        assert made.enforcement_status == "unrestricted" and made.enforcement_actions == []
        assert made.programs.cyber is None and made.programs.efs is None
        legacy = client.beta.user_profiles.retrieve(made.id)  # the same record, the legacy shape
        assert (
            legacy.external_id == "r-9"
            and legacy.external_user_onboarded_at == made.external_user_details.onboarded_at
        )
        updated = client.user_profiles.update(made.id, external_user_details={"account_status": "suspended"})
        assert updated.external_user_details.account_status == "suspended"
        assert updated.external_user_details.reference_id == "r-9"
        assert [p.id for p in client.user_profiles.list(enforcement_status=["unrestricted"])] == [made.id]
        assert client.user_profiles.list(enforcement_status=["banned"]).data == []
        assert client.user_profiles.delete(made.id).type == "user_profile_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.user_profiles.update(made.id, name="x")


def test_bodies_the_api_refuses_are_400s_naming_the_field() -> None:
    with MockServer() as server:
        client = strict_client(server)
        with pytest.raises(anthropic.BadRequestError) as err:
            client.user_profiles.create(name="x" * 256)
        assert err.value.body["error"]["message"].startswith("name:")  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError):
            client.beta.user_profiles.create(
                external_user_details={"country": "FR"}
            )  # not under the legacy beta
        with pytest.raises(anthropic.BadRequestError):
            client.user_profiles.create(metadata={"k": ""})
        with pytest.raises(anthropic.BadRequestError):
            client.user_profiles.create(extra_body={"external_id": "legacy-only"})
        made = client.user_profiles.create()
        with pytest.raises(anthropic.BadRequestError) as err:
            client.post(f"/v1/user_profiles/{made.id}/action_urls", body={}, cast_to=object)
        answer = err.value.body
        assert isinstance(answer, dict)
        assert answer["error"] == {"type": "invalid_request_error", "message": "action: Field required"}
        assert client.user_profiles.list().data == [made]  # nothing else was kept


def test_profiles_list_in_cursor_pages_and_in_name_order() -> None:
    with MockServer() as server:
        client = strict_client(server)
        names = ["carol", "Alice", None, "bob"]
        made = [client.user_profiles.create(name=n) for n in names]
        first = client.user_profiles.list(limit=3)
        assert [p.id for p in first.data] == [p.id for p in reversed(made)][:3] and first.next_page
        assert [p.id for p in client.user_profiles.list(limit=3)] == [
            p.id for p in reversed(made)
        ]  # auto-paged
        assert [p.name for p in client.user_profiles.list(order_by="name", order="asc")] == [
            "Alice",
            "bob",
            "carol",
            None,
        ]
        assert [p.name for p in client.user_profiles.list(order_by="name")] == ["carol", "bob", "Alice", None]
        assert [p.id for p in client.beta.user_profiles.list(order="asc", limit=2)] == [p.id for p in made]
        with pytest.raises(anthropic.BadRequestError):
            client.user_profiles.list(limit=101)


def test_links_are_the_mocks_own_and_expire_a_day_later() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = client.user_profiles.create()
        action = client.user_profiles.action_urls.create(made.id, action={"type": "enroll_end_user"})
        assert action.type == "user_profile_action_url"
        assert action.url == f"{server.url}/busysignal/user_profiles/{made.id}/enroll_end_user"
        beta = client.beta.user_profiles.action_urls.create(made.id, action={"type": "enroll_end_user"})
        assert beta.url == action.url and (beta.expires_at - made.created_at).total_seconds() >= 86_400
        enroll = client.beta.user_profiles.create_enrollment_url(made.id)
        assert enroll.type == "enrollment_url" and enroll.url.endswith(f"/{made.id}/enrollment")
        with pytest.raises(anthropic.NotFoundError):
            client.beta.user_profiles.create_enrollment_url("uprof_missing")
        with pytest.raises(anthropic.NotFoundError):
            client.user_profiles.action_urls.create("uprof_missing", action={"type": "enroll_end_user"})


def test_data_controls_start_off_and_keep_what_is_set() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = client.beta.user_profiles.create()
        controls = client.beta.user_profiles.providers.google.data_controls
        first = controls.retrieve(made.id)
        assert (
            first.user_profile_id == made.id
            and first.cmek.type == "disabled"
            and first.storage.type == "disabled"
        )
        on = controls.update(
            made.id,
            cmek={"type": "enabled", "external_key_ids": {"us": "ekey_us", "eu": "ekey_eu"}},
            storage={"type": "enabled", "buckets": {"us": {"project_number": "42", "bucket_name": "logs"}}},
        )
        assert on.cmek.type == "enabled" and on.cmek.external_key_ids == {"us": "ekey_us", "eu": "ekey_eu"}
        assert on.cmek.status["us"].type == "pending"
        assert on.storage.type == "enabled" and on.storage.buckets["us"].bucket_name == "logs"
        assert on.bucket_label_value == first.bucket_label_value and on.updated_at > first.updated_at
        less = controls.update(made.id, cmek={"type": "enabled", "external_key_ids": {"eu": None}})
        assert less.cmek.type == "enabled" and less.cmek.external_key_ids == {"us": "ekey_us"}
        assert less.storage == on.storage  # left out: kept
        with pytest.raises(anthropic.BadRequestError):
            controls.update(made.id, cmek={"type": "enabled", "external_key_ids": {"us": None}})
        with pytest.raises(anthropic.BadRequestError):
            controls.update(made.id)
        assert controls.update(made.id, storage={"type": "disabled"}).storage.type == "disabled"
        with pytest.raises(anthropic.NotFoundError):
            controls.retrieve("uprof_missing")
        with pytest.raises(anthropic.BadRequestError) as err:  # the endpoint's beta is required
            client.get(f"/v1/user_profiles/{made.id}/providers/google/data_controls", cast_to=object)
        assert "google-managed-data-controls-2026-09-01" in str(err.value)


def test_the_async_sdk_makes_lists_and_gets_profiles() -> None:
    async def run(url: str) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        made = await client.beta.user_profiles.create(name="async")
        assert (await client.user_profiles.retrieve(made.id)).name == "async"
        assert [p.id async for p in client.beta.user_profiles.list()] == [made.id]
        url_made = await client.user_profiles.action_urls.create(made.id, action={"type": "enroll_end_user"})
        assert made.id in url_made.url
        assert (
            await client.beta.user_profiles.providers.google.data_controls.retrieve(made.id)
        ).cmek.type == "disabled"
        assert (await client.beta.user_profiles.delete(made.id)).id == made.id
        with pytest.raises(anthropic.NotFoundError):
            await client.user_profiles.retrieve(made.id)

    with MockServer() as server:
        asyncio.run(run(server.url))


def test_a_rule_on_the_profiles_path_is_retried_and_a_refusal_keeps_nothing() -> None:
    scenario = {
        "name": "profiles-flaky",
        "description": "the first profiles call is refused",
        "rules": [
            {
                "match": {"path": "/v1/user_profiles*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        made = strict_client(server, 2).user_profiles.create(name="once")
        entries = [e for e in server.journal.entries() if e.path == "/v1/user_profiles"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [p.id for p in strict_client(server).user_profiles.list()] == [made.id]  # one profile, not two


def test_reset_forgets_the_profiles() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = client.user_profiles.create()
        server.reset()
        assert client.user_profiles.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            client.user_profiles.retrieve(made.id)
