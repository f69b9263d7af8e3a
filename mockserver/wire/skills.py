"""Skills and their versions as the API keeps them: the objects (``skill``, ``skill_version``,
their ``*_deleted`` answers), the checks an upload passes (one top-level directory holding a
``SKILL.md``, whose frontmatter names the skill), the zip a version's content is downloaded as,
and the byte budget that bounds the uploaded content one server keeps.

Pure: no aiohttp. Hand-written: the frontmatter is two ``key: value`` lines between ``---``
fences (a YAML library would accept far more than the API reads), the zip is the standard
library's.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mockserver.wire.errors import invalid, not_found
from mockserver.wire.resources import Collection, Obj, Resources, timestamp

SKILL_FILE = "SKILL.md"
EPOCH_BETA = "skills-2025-10-02"  # under this beta a version is addressed by its epoch (µs)
MAX_DISPLAY_NAME = 255
MAX_CONTENT_BYTES = 64 * 1024 * 1024  # uploaded content kept per server; past it the oldest goes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a fixed stamp: the same upload gives the same archive

SKILLS = "skill"
CONTENT = "skill_content"


def versions_key(skill_id: str) -> tuple[str, str]:
    return ("skill_version", skill_id)


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: its path (``my-skill/SKILL.md``) and bytes."""

    path: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Checked:
    """What an accepted upload says: the skill's slug and the version's description."""

    name: str
    description: str


def _frontmatter(text: str) -> dict[str, str]:
    """The ``key: value`` lines between the leading ``---`` fences of a SKILL.md."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return found
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            found[key.strip()] = value.strip().strip("\"'")
    return {}  # no closing fence: no frontmatter


def _top_directory(files: Sequence[Upload]) -> str:
    tops: set[str] = set()
    for f in files:
        parts = [p for p in f.path.replace("\\", "/").split("/") if p]
        if len(parts) < 2 or ".." in parts:
            raise invalid("files: All files must be in the same top-level directory")
        tops.add(parts[0])
    if len(tops) != 1:
        raise invalid("files: All files must be in the same top-level directory")
    return tops.pop()


def check_upload(files: Sequence[Upload]) -> Checked:
    """The skill an upload describes, or the API's 400."""
    if not files:
        raise invalid("files: Field required")
    top = _top_directory(files)
    root = f"{top}/{SKILL_FILE}"
    skill_md = next((f for f in files if f.path.replace("\\", "/").lstrip("/") == root), None)
    if skill_md is None:
        raise invalid(f"files: A {SKILL_FILE} file is required at the root of the top-level directory")
    meta = _frontmatter(skill_md.data.decode("utf-8", "replace"))
    return Checked(name=meta.get("name") or top, description=meta.get("description", ""))


def check_display_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > MAX_DISPLAY_NAME:
        raise invalid(f"display_name: String should have at most {MAX_DISPLAY_NAME} characters")
    if "\n" in raw or "\r" in raw:
        raise invalid("display_name: must be a single line")
    return raw


def zip_of(files: Sequence[Upload]) -> bytes:
    """The uploaded files as the zip archive a version's content is downloaded as."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(zipfile.ZipInfo(f.path.replace("\\", "/").lstrip("/"), _ZIP_TIME), f.data)
    return out.getvalue()


def skill_object(ident: str, display_name: str, latest_version_id: str, now: float) -> Obj:
    stamp = timestamp(now)
    return {
        "type": "skill",
        "id": ident,
        "created_at": stamp,
        "updated_at": stamp,
        "display_name": display_name,
        "latest_version_id": latest_version_id,
        "source": {"type": "custom"},
    }


def version_object(ident: str, skill_id: str, checked: Checked, now: float) -> Obj:
    return {
        "type": "skill_version",
        "id": ident,
        "skill_id": skill_id,
        "name": checked.name,
        "description": checked.description,
        "created_at": timestamp(now),
    }


def deleted(kind: str, ident: str) -> dict[str, Any]:
    """The answer to a delete: ``skill_deleted`` or ``skill_version_deleted``."""
    return {"type": f"{kind}_deleted", "id": ident}


def epoch_of(version: Obj) -> str:
    """The version's Unix epoch in microseconds, as the epoch-addressing beta names it."""
    moment = datetime.fromisoformat(str(version["created_at"]).replace("Z", "+00:00"))
    return str(round(moment.timestamp() * 1_000_000))


def find_version(versions: Collection, ref: str, *, by_epoch: bool, latest: str | None) -> Obj:
    """The version ``ref`` names: its id, ``latest``, or (under the epoch beta) its epoch."""
    if ref == "latest" and latest is not None:
        return versions.get(latest)
    if by_epoch and ref.isdigit():
        found = next((v for v in versions if epoch_of(v) == ref), None)
        if found is not None:
            return found
    return versions.get(ref)


def keep_content(resources: Resources, version_id: str, blob: bytes, most_bytes: int) -> None:
    """Keep a version's archive; the oldest archives go while the kept bytes exceed the budget."""
    kept = resources.collection((CONTENT,), "Skill version content")
    kept.add({"id": version_id, "zip": blob})
    total = sum(len(o["zip"]) for o in kept)
    for oldest in kept.oldest_first():
        if total <= most_bytes or len(kept) <= 1:
            break
        kept.remove(str(oldest["id"]))
        total -= len(oldest["zip"])


def content_of(resources: Resources, version_id: str) -> bytes:
    """The archive of a version (the 404 once it was forgotten)."""
    kept = resources.existing((CONTENT,))
    found = kept.find(version_id) if kept is not None else None
    if found is None:
        raise not_found(f"Skill version content not found: {version_id}")
    blob: bytes = found["zip"]
    return blob


def forget_content(resources: Resources, version_ids: Sequence[str]) -> None:
    kept = resources.existing((CONTENT,))
    if kept is not None:
        for ident in version_ids:
            if ident in kept:
                kept.remove(ident)
