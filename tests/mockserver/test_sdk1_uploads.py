"""Files, Skills (and their versions) and User Profiles, GA and beta, through the installed SDK
(sync and async, strict validation): every route the SDK has, and the real 404 for an unknown
or deleted id on each.

Runs under both majors (``make sdk1`` runs it against the newest 1.x, whose beta resources send
``...?beta=true`` and its GA ``models`` ``betas``); the calls here have one shape in both.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from tests.mockserver.sdk_both import MAJOR, MODES, both_clients, close, done, every, not_found, read

from mockserver import MockServer

ENROLL: Any = {"type": "enroll_end_user"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


@pytest.fixture(params=MODES)
async def sdk(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[Any]:
    client = both_clients(server, request.param)
    yield client
    await close(client)


def _skill_files(name: str = "pdf-tools", description: str = "Reads PDFs") -> list[tuple[str, bytes, str]]:
    md = f"---\nname: {name}\ndescription: {description}\n---\n# {name}\n".encode()
    return [(f"{name}/SKILL.md", md, "text/markdown"), (f"{name}/run.py", b"print(1)\n", "text/x-python")]


# ---------------------------------------------------------------- files


async def test_a_file_is_uploaded_listed_got_downloaded_and_deleted_ga_and_beta(sdk: Any) -> None:
    for files, data in ((sdk.files, b"ga bytes \x00\xff"), (sdk.beta.files, b"beta bytes \r\n")):
        meta = await done(files.upload(file=("notes/a.bin", data, "application/octet-stream")))
        assert meta.id.startswith("file_") and meta.filename == "a.bin" and meta.size_bytes == len(data)
        assert meta.id in [f.id for f in await every(files.list(limit=2))]
        assert (await done(files.retrieve_metadata(meta.id))).id == meta.id
        assert await read(await done(files.download(meta.id))) == data
        assert (await done(files.delete(meta.id))).type == "file_deleted"
        for call in (files.retrieve_metadata, files.download, files.delete):
            await not_found(lambda c=call, i=meta.id: c(i), meta.id)


async def test_a_beta_upload_may_expire_and_lists_by_scope(sdk: Any) -> None:
    meta = await done(sdk.beta.files.upload(file=("r.json", b"{}"), expires_in_seconds=3600))
    assert meta.mime_type == "application/json" and meta.expires_at is not None
    assert (await done(sdk.beta.files.list(scope_id="sesn_none"))).data == []
    with pytest.raises(anthropic.BadRequestError):
        await done(sdk.files.list(page="page_garbage"))


# ---------------------------------------------------------------- skills and versions


async def test_a_skill_and_its_versions_are_made_listed_got_and_deleted_ga_and_beta(sdk: Any) -> None:
    for skills in (sdk.skills, sdk.beta.skills):
        skill = await done(skills.create(files=_skill_files(), display_name="PDF"))
        assert skill.id.startswith("skill_") and skill.display_name == "PDF" and skill.type == "skill"
        assert skill.id in [s.id for s in await every(skills.list(limit=1))]
        assert (await done(skills.retrieve(skill.id))).latest_version_id == skill.latest_version_id
        versions = skills.versions
        second = await done(versions.create(skill.id, files=_skill_files(description="Reads more")))
        assert second.skill_id == skill.id and second.description == "Reads more"
        listed = [v.id for v in await every(versions.list(skill.id, limit=1))]
        assert listed == [second.id, skill.latest_version_id]
        assert (await done(versions.retrieve("latest", skill_id=skill.id))).id == second.id
        assert (await done(versions.delete(second.id, skill_id=skill.id))).type == "skill_version_deleted"
        await not_found(lambda v=versions, i=second.id, s=skill.id: v.retrieve(i, skill_id=s), second.id)
        assert (await done(skills.delete(skill.id))).type == "skill_deleted"
        for call in (skills.retrieve, skills.delete, versions.list):
            await not_found(lambda c=call, s=skill: c(s.id), skill.id)


async def test_the_beta_client_downloads_a_version_as_a_zip(sdk: Any) -> None:
    skill = await done(sdk.beta.skills.create(files=_skill_files("zipped")))
    content = await read(
        await done(sdk.beta.skills.versions.download(skill.latest_version_id, skill_id=skill.id))
    )
    assert sorted(zipfile.ZipFile(io.BytesIO(content)).namelist()) == ["zipped/SKILL.md", "zipped/run.py"]
    await not_found(
        lambda: sdk.beta.skills.versions.download("skillver_nope", skill_id=skill.id), "skillver_nope"
    )


# ---------------------------------------------------------------- user profiles


async def test_a_profile_is_made_listed_got_updated_and_deleted_ga_and_beta(sdk: Any) -> None:
    for profiles in (sdk.user_profiles, sdk.beta.user_profiles):
        made = await done(profiles.create(name="Acme", metadata={"tier": "gold"}))
        assert made.id.startswith("uprof_") and made.type == "user_profile" and made.name == "Acme"
        assert made.id in [p.id for p in await every(profiles.list(limit=1))]
        assert (await done(profiles.retrieve(made.id))).metadata == {"tier": "gold"}
        changed = await done(profiles.update(made.id, name="Acme Ltd", metadata={"tier": "", "k": "v"}))
        assert changed.name == "Acme Ltd" and changed.metadata == {"k": "v"}
        link = await done(profiles.action_urls.create(made.id, action=ENROLL))
        assert link.type == "user_profile_action_url" and made.id in link.url
        assert (await done(profiles.delete(made.id))).type == "user_profile_deleted"
        for call in (profiles.retrieve, profiles.delete):
            await not_found(lambda c=call, m=made: c(m.id), made.id)
        await not_found(lambda p=profiles, m=made: p.action_urls.create(m.id, action=ENROLL), made.id)


async def test_the_beta_client_makes_an_enrollment_url_and_the_legacy_fields(sdk: Any) -> None:
    made = await done(sdk.beta.user_profiles.create(external_id="cust-1"))
    assert made.external_id == "cust-1" and made.access_type == "application"
    enroll = await done(sdk.beta.user_profiles.create_enrollment_url(made.id))
    assert enroll.type == "enrollment_url" and enroll.url.endswith(f"/{made.id}/enrollment")
    await not_found(lambda: sdk.beta.user_profiles.create_enrollment_url("uprof_missing"), "uprof_missing")
    with pytest.raises(anthropic.BadRequestError):  # the GA details are not the legacy beta's
        await done(sdk.beta.user_profiles.create(external_user_details={"country": "FR"}))
    if MAJOR >= 2:  # 1.x's GA list has no enforcement_status filter
        kept = await every(sdk.user_profiles.list(enforcement_status=["unrestricted"]))
        assert made.id in [p.id for p in kept]
