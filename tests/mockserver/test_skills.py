"""Skills and their versions, GA (``client.skills``) and beta (``client.beta.skills``, the same
routes with an ``anthropic-beta`` header), through the real SDK: multipart uploads, cursor
paging, a version's content as a zip, the real 404s, and faults on the family's paths."""

from __future__ import annotations

import asyncio
import io
import zipfile

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer
from mockserver.wire import skills as sk
from mockserver.wire.resources import Resources


def _md(name: str, description: str) -> bytes:
    return f"---\nname: {name}\ndescription: {description}\n---\n# {name}\n".encode()


def _files(name: str = "pdf-tools", description: str = "Reads PDFs") -> list[tuple[str, bytes, str]]:
    return [
        (f"{name}/SKILL.md", _md(name, description), "text/markdown"),
        (f"{name}/scripts/run.py", b"print('hi')\n", "text/x-python"),
    ]


def test_a_skill_is_made_from_an_upload_listed_got_and_deleted() -> None:
    with MockServer() as server:
        client = strict_client(server)
        skill = client.skills.create(files=_files())
        assert skill.id.startswith("skill_") and skill.type == "skill"
        assert skill.display_name == "pdf-tools" and skill.source.type == "custom"
        assert skill.latest_version_id.startswith("skillver_")
        assert skill.created_at == skill.updated_at
        named = client.skills.create(files=_files("other", "x"), display_name="Other tools")
        assert named.display_name == "Other tools"
        assert [s.id for s in client.skills.list()] == [named.id, skill.id]  # newest first
        assert client.skills.list(source="anthropic").data == []
        assert client.skills.retrieve(skill.id) == skill
        assert client.skills.delete(skill.id).model_dump() == {"id": skill.id, "type": "skill_deleted"}
        with pytest.raises(anthropic.NotFoundError) as err:
            client.skills.retrieve(skill.id)
        assert err.value.body["error"]["message"] == f"Skill not found: {skill.id}"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            client.skills.delete(skill.id)


def test_versions_are_added_listed_got_by_id_or_latest_and_deleted() -> None:
    with MockServer() as server:
        client = strict_client(server)
        skill = client.skills.create(files=_files())
        first = client.skills.versions.retrieve("latest", skill_id=skill.id)
        assert first.id == skill.latest_version_id and first.description == "Reads PDFs"
        second = client.skills.versions.create(skill.id, files=_files(description="Reads and writes PDFs"))
        assert second.skill_id == skill.id and second.name == "pdf-tools" and second.type == "skill_version"
        again = client.skills.retrieve(skill.id)
        assert again.latest_version_id == second.id and again.updated_at == second.created_at
        assert [v.id for v in client.skills.versions.list(skill.id)] == [second.id, first.id]
        assert client.skills.versions.retrieve(first.id, skill_id=skill.id) == first
        deleted = client.skills.versions.delete(second.id, skill_id=skill.id)
        assert deleted.model_dump() == {"id": second.id, "type": "skill_version_deleted"}
        assert client.skills.retrieve(skill.id).latest_version_id == first.id
        with pytest.raises(anthropic.NotFoundError):
            client.skills.versions.retrieve(second.id, skill_id=skill.id)


def test_versions_list_in_cursor_pages() -> None:
    with MockServer() as server:
        client = strict_client(server)
        skill = client.skills.create(files=_files())
        made = [client.skills.versions.create(skill.id, files=_files()).id for _ in range(3)]
        newest_first = [*made[::-1], skill.latest_version_id]
        first = client.skills.versions.list(skill.id, limit=2)
        assert [v.id for v in first.data] == newest_first[:2] and first.next_page
        second = client.skills.versions.list(skill.id, limit=2, page=first.next_page)
        assert [v.id for v in second.data] == newest_first[2:] and second.next_page is None
        assert [v.id for v in client.skills.versions.list(skill.id, limit=3)] == newest_first  # auto-paging


def test_unknown_ids_are_the_real_404() -> None:
    with MockServer() as server:
        client = strict_client(server)
        with pytest.raises(anthropic.NotFoundError):
            client.skills.versions.list("skill_nope")
        with pytest.raises(anthropic.NotFoundError):
            client.skills.versions.create("skill_nope", files=_files())
        with pytest.raises(anthropic.NotFoundError):
            client.skills.versions.retrieve("latest", skill_id="skill_nope")
        skill = client.skills.create(files=_files())
        with pytest.raises(anthropic.NotFoundError) as err:
            client.skills.versions.delete("skillver_nope", skill_id=skill.id)
        assert err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            client.skills.versions.delete("latest", skill_id=skill.id)  # delete names a version by id
        with pytest.raises(anthropic.NotFoundError):
            client.beta.skills.versions.download("skillver_nope", skill_id=skill.id)


def test_an_upload_without_skill_md_or_in_two_directories_or_renamed_is_the_400() -> None:
    with MockServer() as server:
        client = strict_client(server)
        with pytest.raises(anthropic.BadRequestError):
            client.skills.create(files=[("pdf-tools/README.md", b"x", "text/markdown")])
        with pytest.raises(anthropic.BadRequestError):
            client.skills.create(files=[*_files(), ("elsewhere/x.txt", b"x", "text/plain")])
        with pytest.raises(anthropic.BadRequestError):
            client.skills.create(files=[("SKILL.md", _md("a", "b"), "text/markdown")])
        with pytest.raises(anthropic.BadRequestError):
            client.skills.create(files=_files(), display_name="x" * 256)
        skill = client.skills.create(files=_files())
        with pytest.raises(anthropic.BadRequestError):
            client.skills.versions.create(skill.id, files=_files("renamed", "y"))
        assert [s.id for s in client.skills.list()] == [skill.id]  # nothing refused was kept


def test_the_beta_client_downloads_a_version_as_a_zip_and_addresses_by_epoch() -> None:
    with MockServer() as server:
        client = strict_client(server)
        skill = client.beta.skills.create(files=_files(), betas=["skills-2025-10-02"])
        assert skill.display_name == "pdf-tools"
        version = client.beta.skills.versions.retrieve("latest", skill_id=skill.id)
        content = client.beta.skills.versions.download(version.id, skill_id=skill.id)
        archive = zipfile.ZipFile(io.BytesIO(content.read()))
        assert sorted(archive.namelist()) == ["pdf-tools/SKILL.md", "pdf-tools/scripts/run.py"]
        assert archive.read("pdf-tools/SKILL.md") == _md("pdf-tools", "Reads PDFs")
        epoch = str(round(version.created_at.timestamp() * 1_000_000))
        by_epoch = client.beta.skills.versions.retrieve(epoch, skill_id=skill.id, betas=["skills-2025-10-02"])
        assert by_epoch.id == version.id
        with pytest.raises(anthropic.NotFoundError):  # without the beta an epoch is no version id
            client.beta.skills.versions.retrieve(epoch, skill_id=skill.id)
        assert client.beta.skills.delete(skill.id).type == "skill_deleted"


def test_the_async_client_covers_the_family() -> None:
    async def run(server: MockServer) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        skill = await client.skills.create(files=_files())
        version = await client.skills.versions.create(skill.id, files=_files())
        assert [s.id async for s in client.skills.list()] == [skill.id]
        assert (await client.skills.versions.retrieve(version.id, skill_id=skill.id)).id == version.id
        assert len((await client.skills.versions.list(skill.id)).data) == 2
        assert (await client.skills.versions.delete(version.id, skill_id=skill.id)).id == version.id
        assert (await client.beta.skills.retrieve(skill.id)).id == skill.id
        assert (await client.skills.delete(skill.id)).id == skill.id
        with pytest.raises(anthropic.NotFoundError):
            await client.skills.retrieve(skill.id)

    with MockServer() as server:
        asyncio.run(run(server))


def test_kept_content_is_bounded_and_the_oldest_is_forgotten() -> None:
    resources = Resources()
    for i in range(3):
        sk.keep_content(resources, f"v{i}", bytes(10), most_bytes=25)
    assert sk.content_of(resources, "v2") == bytes(10)
    with pytest.raises(Exception) as err:
        sk.content_of(resources, "v0")
    assert "v0" in str(err.value)


def test_a_rule_on_the_skills_path_is_retried_by_the_sdk_and_a_refusal_keeps_nothing() -> None:
    scenario = {
        "name": "skills-flaky",
        "description": "the first skills call is refused",
        "rules": [
            {
                "match": {"path": "/v1/skills*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        skill = strict_client(server, 2).skills.create(files=_files())
        entries = [e for e in server.journal.entries() if e.path == "/v1/skills"]
        assert [e.status for e in entries] == [529, 200]
        assert [e.retry_count for e in entries] == [0, 1]
        assert [s.id for s in strict_client(server).skills.list()] == [skill.id]  # one skill, not two


def test_without_retries_the_overload_reaches_the_caller() -> None:
    scenario = {
        "name": "skills-down",
        "description": "skills refused",
        "rules": [{"match": {"path": "/v1/skills*"}, "fault": 529}],
    }
    with MockServer(scenario=scenario) as server, pytest.raises(anthropic.OverloadedError):
        strict_client(server).skills.list()


def test_an_upload_past_the_body_limit_is_the_413_and_keeps_nothing() -> None:
    with MockServer(max_body_bytes=64 * 1024) as server:
        client = strict_client(server)
        big = [*_files(), ("pdf-tools/data.bin", bytes(80 * 1024), "application/octet-stream")]
        with pytest.raises(anthropic.APIStatusError) as err:
            client.skills.create(files=big)
        assert err.value.status_code == 413
        assert client.skills.list().data == []
