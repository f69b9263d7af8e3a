"""Memory stores, their memories and memory versions (the managed-agents beta) as the API keeps
them: the ``memory_store``, ``memory``, ``memory_prefix`` and ``memory_version`` objects, the
checks a body passes (names, paths, the 100 kB content), and the versioning the SDK documents.

**Versions.** Every change to a memory adds one version, ``created``, ``modified`` or ``deleted``
(an update that changes nothing adds none); a version keeps the content, path, size and
SHA-256 as of its write, and who wrote it (the caller's API key as an ``api_actor``). Versions
belong to the store and outlive their memory; only redaction changes one, and it blanks the
version's ``content``, ``path``, ``content_size_bytes`` and ``content_sha256`` (the memory itself
keeps its content). Deleting the store forgets its memories and versions.

**Content** is at most 100 kB of UTF-8; a create's ``content: null`` (the SDK's type allows it)
makes an empty memory, an update's keeps the content.

**Archived stores** can't be updated and take no memory writes (the 400); their memories can
still be read and deleted and their versions redacted.

**Views.** ``view=basic`` answers ``content: null`` (the size and hash stay); retrieve defaults to
``full``, list, create and update to ``basic``; a ``full`` list page holds at most 20 items.

Pure: no aiohttp. Hand-written: path rules and a hash, nothing a library would make shorter.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any

from mockserver.wire.errors import ApiError, invalid
from mockserver.wire.resources import Obj, timestamp
from mockserver.wire.vaults import metadata, patch_metadata, stamp, text

STORES = "memory_store"
MAX_NAME, MAX_DESCRIPTION = 255, 1024
MAX_CONTENT_BYTES = 102_400
MAX_PATH_BYTES, MAX_SEGMENTS = 1024, 20
FULL_PAGE = 20  # a view=full list page holds at most this many items
OPERATIONS = ("created", "modified", "deleted")
VIEWS = ("basic", "full")
_NO_CHARACTERS = frozenset({"Cc", "Cf", "Zl", "Zp"})  # control, format, line and paragraph separators


def memories_key(store_id: str) -> tuple[str, str]:
    return ("memory", store_id)


def versions_key(store_id: str) -> tuple[str, str]:
    return ("memory_version", store_id)


def conflict(error_type: str, message: str) -> ApiError:
    return ApiError(409, error_type, message)


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- stores


def _name(body: Mapping[str, Any], *, required: bool) -> str | None:
    name = text(body, "name", required=required, most=MAX_NAME)
    if name is not None:
        if not name:
            raise invalid("name: String should have at least 1 character")
        if any(unicodedata.category(c) == "Cc" for c in name):
            raise invalid("name: must not contain control characters")
    return name


def store_object(ident: str, body: Mapping[str, Any], now: float) -> Obj:
    name = _name(body, required=True)
    moment = timestamp(now)
    return {
        "type": "memory_store",
        "id": ident,
        "name": name,
        "description": text(body, "description", most=MAX_DESCRIPTION) or "",
        "metadata": metadata(body.get("metadata")),
        "archived_at": None,
        "created_at": moment,
        "updated_at": moment,
    }


def check_writable(store: Obj) -> None:
    """The 400 for a write to an archived store."""
    if store.get("archived_at") is not None:
        raise invalid(f"memory store {store['id']} is archived and can't be changed")


def update_store(store: Obj, body: Mapping[str, Any], now: float) -> Obj:
    check_writable(store)
    name = _name(body, required=False)
    description = text(body, "description", most=MAX_DESCRIPTION)
    changed: dict[str, Any] = {"metadata": patch_metadata(store["metadata"], body.get("metadata"))}
    if name is not None:
        changed["name"] = name
    if description is not None:
        changed["description"] = description
    store.update(changed)
    store["updated_at"] = timestamp(now)
    return store


def in_window(obj: Obj, query: Mapping[str, str]) -> bool:
    """Whether ``obj`` was made within the query's ``created_at[gte]`` / ``created_at[lte]``."""
    made = stamp(obj["created_at"], "created_at")
    low, high = query.get("created_at[gte]"), query.get("created_at[lte]")
    if low is not None and made < stamp(low, "created_at[gte]"):
        return False
    return high is None or made <= stamp(high, "created_at[lte]")


# ---------------------------------------------------------------- memories


def check_path(raw: Any, name: str = "path") -> str:
    """A memory path (see the SDK's rules: ``/``-rooted, 1-20 segments, NFC, 1,024 bytes)."""
    if not isinstance(raw, str):
        raise invalid(f"{name}: Input should be a valid string")
    if not raw.startswith("/"):
        raise invalid(f"{name}: must start with '/'")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise invalid(f"{name}: must be at most {MAX_PATH_BYTES} bytes long")
    segments = raw[1:].split("/")
    if len(segments) > MAX_SEGMENTS:
        raise invalid(f"{name}: must have at most {MAX_SEGMENTS} segments")
    if any(s in ("", ".", "..") for s in segments):
        raise invalid(f"{name}: a segment can't be empty, '.' or '..'")
    if any(unicodedata.category(c) in _NO_CHARACTERS or 0xD800 <= ord(c) < 0xE000 for c in raw):
        raise invalid(f"{name}: must not contain control or format characters")
    if not unicodedata.is_normalized("NFC", raw):
        raise invalid(f"{name}: must be in Unicode Normalization Form C")
    return raw


def check_content(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise invalid("content: Input should be a valid string")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise invalid("content: must be valid UTF-8 text") from None
    if size > MAX_CONTENT_BYTES:
        raise invalid(f"content: must be at most {MAX_CONTENT_BYTES} bytes")
    return raw


def view_of(query: Mapping[str, str], default: str) -> str:
    view = query.get("view", default)
    if view not in VIEWS:
        raise invalid("view: Input should be 'basic' or 'full'")
    return view


def capped(query: Mapping[str, str], view: str) -> Mapping[str, str]:
    """The paging query, its ``limit`` at most 20 under ``view=full``."""
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        return query  # not a number: the paging's own 400
    return {**query, "limit": str(FULL_PAGE)} if view == "full" and limit > FULL_PAGE else query


def shown(obj: Obj, view: str) -> Obj:
    """The object as the view answers it (``basic``: no content)."""
    return obj if view == "full" else {**obj, "content": None}


def path_conflict(path: str) -> ApiError:
    return conflict("memory_path_conflict_error", f"a memory already exists at path {path!r}")


def check_sha(current: str, expected: Any, name: str) -> None:
    """The 409 when the memory's ``content_sha256`` is not the expected one."""
    if not isinstance(expected, str):
        raise invalid(f"{name}: Input should be a valid string")
    if expected != current:
        raise conflict(
            "memory_precondition_failed_error",
            f"precondition failed: the memory's content_sha256 is {current}, not {expected}",
        )


def check_precondition(memory: Obj, raw: Any) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or raw.get("type") != "content_sha256":
        raise invalid("precondition.type: Input should be 'content_sha256'")
    check_sha(str(memory["content_sha256"]), raw.get("content_sha256"), "precondition.content_sha256")


def memory_object(ident: str, store_id: str, path: str, content: str, version_id: str, now: float) -> Obj:
    moment = timestamp(now)
    return {
        "type": "memory",
        "id": ident,
        "memory_store_id": store_id,
        "path": path,
        "content": content,
        "content_sha256": sha256(content),
        "content_size_bytes": len(content.encode("utf-8")),
        "memory_version_id": version_id,
        "created_at": moment,
        "updated_at": moment,
    }


def rewrite(memory: Obj, path: str, content: str, version_id: str, now: float) -> Obj:
    memory.update(
        path=path,
        content=content,
        content_sha256=sha256(content),
        content_size_bytes=len(content.encode("utf-8")),
        memory_version_id=version_id,
        updated_at=timestamp(now),
    )
    return memory


def listing(memories: list[Obj], prefix: str, depth: int) -> list[Obj]:
    """The items of a memories list, in path order: the memories under ``prefix``, those more
    than ``depth`` segments below it (``depth`` > 0) rolled up into ``memory_prefix`` items."""
    items: list[Obj] = []
    seen: set[str] = set()
    for memory in sorted(memories, key=lambda m: str(m["path"])):
        path = str(memory["path"])
        if not path.startswith(prefix):
            continue
        below = path[len(prefix) :].split("/")
        if depth <= 0 or len(below) <= depth:
            items.append(memory)
            continue
        rolled = prefix + "/".join(below[:depth]) + "/"
        if rolled not in seen:
            seen.add(rolled)
            items.append({"type": "memory_prefix", "path": rolled})
    return items


def list_prefix(query: Mapping[str, str]) -> tuple[str, int]:
    """``path_prefix`` (default ``/``) and ``depth`` (default 0) of a memories list, or the 400."""
    prefix = query.get("path_prefix", "/")
    if not prefix.startswith("/") or not prefix.endswith("/"):
        raise invalid("path_prefix: must start and end with '/'")
    raw = query.get("depth", "0")
    try:
        depth = int(raw)
    except ValueError:
        raise invalid(f"depth: Input should be a valid integer, got {raw!r}") from None
    if depth < 0:
        raise invalid("depth: Input should be greater than or equal to 0")
    return prefix, depth


# ---------------------------------------------------------------- versions


def actor(api_key_id: str) -> dict[str, str] | None:
    """The ``api_actor`` of the caller's key (the journal's key id under the ``apikey_`` prefix)."""
    return {"type": "api_actor", "api_key_id": "apikey_" + api_key_id} if api_key_id else None


def version_object(ident: str, memory: Obj, operation: str, by: dict[str, str] | None, now: float) -> Obj:
    gone = operation == "deleted"
    return {
        "type": "memory_version",
        "id": ident,
        "memory_id": memory["id"],
        "memory_store_id": memory["memory_store_id"],
        "operation": operation,
        "path": memory["path"],
        "content": None if gone else memory["content"],
        "content_sha256": None if gone else memory["content_sha256"],
        "content_size_bytes": None if gone else memory["content_size_bytes"],
        "created_at": timestamp(now),
        "created_by": by,
        "redacted_at": None,
        "redacted_by": None,
    }


def redact(version: Obj, by: dict[str, str] | None, now: float) -> Obj:
    """The version redacted (a redacted one stays as it was)."""
    if version["redacted_at"] is None:
        version.update(
            content=None,
            path=None,
            content_sha256=None,
            content_size_bytes=None,
            redacted_at=timestamp(now),
            redacted_by=by,
        )
    return version


def version_filter(query: Mapping[str, str]) -> Any:
    """The test a version passes to be listed under the query's filters (the 400 for a bad one)."""
    operation = query.get("operation")
    if operation is not None and operation not in OPERATIONS:
        raise invalid("operation: Input should be 'created', 'modified' or 'deleted'")
    by = {k: query[k] for k in ("api_key_id", "service_account_id", "session_id") if k in query}
    memory_id = query.get("memory_id")
    for bound in ("created_at[gte]", "created_at[lte]"):
        if bound in query:
            stamp(query[bound], bound)

    def keep(version: Obj) -> bool:
        author = version["created_by"] or {}
        return (
            (operation is None or version["operation"] == operation)
            and (memory_id is None or version["memory_id"] == memory_id)
            and all(author.get(k) == v for k, v in by.items())
            and in_window(version, query)
        )

    return keep
