"""The Skills routes (``/v1/skills`` and its versions, GA and beta alike: the beta client sends
the same routes with an ``anthropic-beta`` header): create from a multipart upload, list, get,
delete, and a version's content as a zip.

The objects and the upload's checks are pure (:mod:`mockserver.wire.skills`); the multipart
body, read whole within the server's body limit, is split by :mod:`mockserver.wire.multipart`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.web.bodies import too_large
from mockserver.web.files import upload_digest
from mockserver.web.lifecycle import BodyLimit, Exchange, Route
from mockserver.web.payload import payload_route
from mockserver.wire import paths
from mockserver.wire import skills as sk
from mockserver.wire.errors import invalid
from mockserver.wire.multipart import MULTIPART_OVERHEAD, form_parts
from mockserver.wire.paging import cursor_page
from mockserver.wire.resources import Collection, Obj

_FILE_FIELDS = frozenset({"files", "files[]"})
# the files of an upload are at most the server's body limit; the multipart framing gets room
_LIMIT: BodyLimit = lambda c: c.max_body_bytes + MULTIPART_OVERHEAD  # noqa: E731


def _read_form(exchange: Exchange, raw: bytes) -> tuple[list[sk.Upload], dict[str, str]]:
    """The uploaded files and the text fields of a multipart body."""
    content_type = exchange.request.headers.get("Content-Type", "")
    files: list[sk.Upload] = []
    fields: dict[str, str] = {}
    for part in form_parts(content_type, raw, expected="the skill's 'files'"):
        if part.name in _FILE_FIELDS and part.filename is not None:
            files.append(sk.Upload(part.filename, part.data))
        elif part.name is not None:
            fields[part.name] = part.data.decode("utf-8", "replace")
    size = sum(len(f.data) for f in files)
    if size > exchange.state.config.max_body_bytes:
        raise too_large(size)
    return files, fields


def _skills(exchange: Exchange) -> Collection:
    return exchange.state.resources.collection((sk.SKILLS,), "Skill")


def _skill(exchange: Exchange) -> Obj:
    return _skills(exchange).get(exchange.request.match_info["skill_id"])


def _versions(exchange: Exchange, skill_id: str) -> Collection:
    return exchange.state.resources.collection(sk.versions_key(skill_id), "Skill version")


def _add_version(
    exchange: Exchange, skill_id: str, files: list[sk.Upload], name: str | None, now: float
) -> Obj:
    """Check an upload and keep it as the skill's newest version (400 when its slug differs)."""
    checked = sk.check_upload(files)
    if name is not None and checked.name != name:
        raise invalid(
            f"files: the skill is named {name!r}; an upload named {checked.name!r} cannot be its version"
        )
    state = exchange.state
    version = sk.version_object("skillver_" + state.ids.next_suffix(), skill_id, checked, now)
    _versions(exchange, skill_id).add(version)
    sk.keep_content(state.resources, str(version["id"]), sk.zip_of(files), sk.MAX_CONTENT_BYTES)
    return version


async def _create(exchange: Exchange, raw: bytes) -> Any:
    files, fields = _read_form(exchange, raw)
    display_name = sk.check_display_name(fields.get("display_name") or None)
    skill_id = "skill_" + exchange.state.ids.next_suffix()
    now = exchange.state.config.wall_clock()
    version = _add_version(exchange, skill_id, files, None, now)
    skill = sk.skill_object(skill_id, display_name or str(version["name"]), str(version["id"]), now)
    return _skills(exchange).add(skill)


async def _list(exchange: Exchange, raw: bytes) -> Any:
    source = exchange.request.query.get("source")
    items = _skills(exchange).where(lambda s: source is None or s["source"]["type"] == source)
    return cursor_page(items, lambda s: str(s["id"]), exchange.request.query)


async def _get(exchange: Exchange, raw: bytes) -> Any:
    return _skill(exchange)


async def _delete(exchange: Exchange, raw: bytes) -> Any:
    skill = _skill(exchange)
    ident = str(skill["id"])
    resources = exchange.state.resources
    kept = resources.existing(sk.versions_key(ident))
    sk.forget_content(resources, [str(v["id"]) for v in kept] if kept is not None else [])
    resources.drop(sk.versions_key(ident))
    _skills(exchange).remove(ident)
    return sk.deleted("skill", ident)


async def _version_create(exchange: Exchange, raw: bytes) -> Any:
    skill = _skill(exchange)
    files, _ = _read_form(exchange, raw)
    first = _versions(exchange, str(skill["id"])).oldest_first()
    name = str(first[0]["name"]) if first else None
    version = _add_version(exchange, str(skill["id"]), files, name, exchange.state.config.wall_clock())
    skill["latest_version_id"] = version["id"]
    skill["updated_at"] = version["created_at"]
    return version


async def _version_list(exchange: Exchange, raw: bytes) -> Any:
    skill = _skill(exchange)
    items = _versions(exchange, str(skill["id"])).newest_first()
    return cursor_page(items, lambda v: str(v["id"]), exchange.request.query)


def _version(exchange: Exchange, *, allow_latest: bool) -> tuple[Obj, Obj]:
    """The skill and the version the URL names (404 for either unknown)."""
    skill = _skill(exchange)
    betas = ",".join(exchange.request.headers.getall("anthropic-beta", []))
    version = sk.find_version(
        _versions(exchange, str(skill["id"])),
        exchange.request.match_info["version"],
        by_epoch=sk.EPOCH_BETA in betas,
        latest=str(skill["latest_version_id"]) if allow_latest else None,
    )
    return skill, version


async def _version_get(exchange: Exchange, raw: bytes) -> Any:
    return _version(exchange, allow_latest=True)[1]


async def _version_delete(exchange: Exchange, raw: bytes) -> Any:
    skill, version = _version(exchange, allow_latest=False)
    ident = str(version["id"])
    versions = _versions(exchange, str(skill["id"]))
    versions.remove(ident)
    sk.forget_content(exchange.state.resources, [ident])
    newest = versions.newest_first()
    if newest and skill["latest_version_id"] == ident:  # the newest left is what `latest` names now
        skill["latest_version_id"] = newest[0]["id"]
    return sk.deleted("skill_version", ident)


async def _version_content(exchange: Exchange, raw: bytes) -> Any:
    _, version = _version(exchange, allow_latest=True)
    blob = sk.content_of(exchange.state.resources, str(version["id"]))
    headers = exchange.state.response_headers(
        exchange.entry,
        {
            "content-type": "application/zip",
            "content-disposition": f'attachment; filename="{version["name"]}.zip"',
        },
    )
    return web.Response(status=200, body=blob, headers=headers)


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", paths.SKILLS, payload_route("skills", _create, body_limit=_LIMIT, digest_of=upload_digest)),
    ("GET", paths.SKILLS, payload_route("skills", _list)),
    ("GET", paths.SKILL, payload_route("skills", _get)),
    ("DELETE", paths.SKILL, payload_route("skills", _delete)),
    (
        "POST",
        paths.SKILL_VERSIONS,
        payload_route("skills", _version_create, body_limit=_LIMIT, digest_of=upload_digest),
    ),
    ("GET", paths.SKILL_VERSIONS, payload_route("skills", _version_list)),
    ("GET", paths.SKILL_VERSION, payload_route("skills", _version_get)),
    ("DELETE", paths.SKILL_VERSION, payload_route("skills", _version_delete)),
    ("GET", paths.SKILL_VERSION_CONTENT, payload_route("skills", _version_content)),
)
