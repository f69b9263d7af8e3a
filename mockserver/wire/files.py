"""The Files API as the real service answers it: file objects, the upload's multipart body, its
limits and MIME type, the bounded store of the bytes, and the ``file_id`` check of a message.

**downloadable.** The SDK's docstrings say that on the real service only files a tool made (the
code execution tool's output) can be downloaded, so an upload there says ``downloadable: false``
and its download is the 400 ``file_not_downloadable``. This mock is asked to give an upload's
bytes back (a client's round trip is the thing under test), so by default an upload says
``downloadable: true`` and its download answers the exact bytes: the field always agrees with
what the download route does, so a client that looks at the field before downloading behaves as
it would against files it may download. ``ServerConfig(files_downloadable=False)`` gives the real
service's answer for uploads instead (``false``, and the 400 with ``details.error_code``).

**Bounds.** One file is at most ``ServerConfig.max_file_bytes`` (500 MB, the documented figure;
past it the 413 ``request_too_large``); the server keeps at most ``max_stored_file_bytes`` of
bytes in all (1 GiB by default), forgetting its oldest files when over, so no client grows the
mock without bound.

The body arrives whole and is split by :mod:`mockserver.wire.multipart`.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.multipart import form_parts
from mockserver.wire.resources import Collection, Obj, Resources, timestamp

MAX_FILE_BYTES = 500 * 1024 * 1024  # one file, the documented limit
MAX_STORED_FILE_BYTES = 1024 * 1024 * 1024  # all files' bytes one server keeps
EXPIRES_MIN_S, EXPIRES_MAX_S = 3600, 7_776_000  # expires_in_seconds: one hour to ninety days
MAX_LIST_IDS = 100
OCTET_STREAM = "application/octet-stream"

FILES = "file"  # the collection of the metadata objects
CONTENTS = "file_content"  # the collection of the bytes: {"id", "data", "mime_type", "ends"}


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload's body carries."""

    filename: str
    mime_type: str
    data: bytes
    expires_in_seconds: int | None


# ---------------------------------------------------------------- the upload


def _filename(given: str | None, mime_type: str) -> str:
    """Only the final path component is kept; none is ``unnamed`` plus the type's extension."""
    name = re.split(r"[\\/]", given or "")[-1]
    if name:
        return name
    return "unnamed" + (mimetypes.guess_extension(mime_type) or "")


def _mime_type(part: Message, given: str | None) -> str:
    """The part's Content-Type; else (or when it is only octet-stream) guessed from its name."""
    declared = part.get_content_type() if "content-type" in part else ""
    if declared and declared != OCTET_STREAM:
        return declared
    guessed = mimetypes.guess_type(given or "")[0]
    return guessed or declared or OCTET_STREAM


def _expires(raw: bytes) -> int:
    text = raw.decode("utf-8", "replace").strip()
    try:
        seconds = int(text)
    except ValueError:
        raise invalid(f"expires_in_seconds: Input should be a valid integer, got {text[:40]!r}") from None
    if not EXPIRES_MIN_S <= seconds <= EXPIRES_MAX_S:
        raise invalid(f"expires_in_seconds: must be between {EXPIRES_MIN_S} and {EXPIRES_MAX_S}")
    return seconds


def parse_upload(content_type: str, raw: bytes) -> Upload:
    """The upload a ``multipart/form-data`` body carries (its ``file`` part, required)."""
    upload: Upload | None = None
    expires: int | None = None
    for part in form_parts(content_type, raw, expected="a 'file' part"):
        if part.name == "file":
            mime_type = _mime_type(part.headers, part.filename)
            upload = Upload(_filename(part.filename, mime_type), mime_type, part.data, None)
        elif part.name == "expires_in_seconds":
            expires = _expires(part.data)
    if upload is None:
        raise invalid("file: Field required")
    return Upload(upload.filename, upload.mime_type, upload.data, expires)


# ---------------------------------------------------------------- objects and their store


def file_object(ident: str, upload: Upload, created: float, *, downloadable: bool) -> Obj:
    """A file's metadata as the API sends it."""
    expires = upload.expires_in_seconds
    return {
        "id": ident,
        "type": "file",
        "filename": upload.filename,
        "mime_type": upload.mime_type,
        "size_bytes": len(upload.data),
        "created_at": timestamp(created),
        "downloadable": downloadable,
        "expires_at": timestamp(created + expires) if expires is not None else None,
    }


def deleted_object(ident: str) -> Obj:
    return {"id": ident, "type": "file_deleted"}


def files(resources: Resources) -> Collection:
    return resources.collection(FILES, "File")


def _contents(resources: Resources) -> Collection:
    return resources.collection(CONTENTS, "File")


def store(resources: Resources, obj: Obj, upload: Upload, created: float, *, most_bytes: int) -> Obj:
    """Keep a file and its bytes; the oldest files go while all kept bytes are over ``most_bytes``."""
    kept, contents = files(resources), _contents(resources)
    kept.add(obj)
    expires = upload.expires_in_seconds
    ends = created + expires if expires is not None else None  # when the bytes become unavailable
    contents.add({"id": obj["id"], "data": upload.data, "mime_type": upload.mime_type, "ends": ends})
    total = sum(len(c["data"]) for c in contents)
    for oldest in contents.oldest_first():
        if total <= most_bytes or oldest["id"] == obj["id"]:
            break
        total -= len(oldest["data"])
        forget(resources, str(oldest["id"]))
    return obj


def forget(resources: Resources, ident: str) -> Obj:
    """Delete a file (the 404 when unknown); returns its metadata."""
    obj = files(resources).remove(ident)
    _contents(resources).remove(ident)
    return obj


def content(resources: Resources, ident: str) -> tuple[Obj, Obj]:
    """(metadata, stored bytes: ``data``, ``mime_type``, ``ends``) of a kept file (the 404 when
    unknown)."""
    return files(resources).get(ident), _contents(resources).get(ident)


def expired(stored: Obj, now: float) -> bool:
    """Whether a file's ``expires_at`` has passed (its bytes are no longer available)."""
    ends = stored["ends"]
    return ends is not None and now >= float(ends)


def listed(resources: Resources, query: Mapping[str, str], ids: list[str]) -> list[Obj] | None:
    """The files a list names by ``ids`` (newest first; unknown ones omitted), or None when it
    names none (then the whole listing is paged). ``ids`` excludes ``page`` and ``limit``."""
    if not ids:
        return None
    if "page" in query or "limit" in query:
        raise invalid("ids: cannot be combined with page or limit")
    wanted = set(ids)
    if len(wanted) > MAX_LIST_IDS:
        raise invalid(f"ids: at most {MAX_LIST_IDS} entries are allowed")
    return files(resources).where(lambda o: o["id"] in wanted)


# ---------------------------------------------------------------- file ids in a message


def _file_ids(messages: Any) -> Iterator[tuple[str, Any]]:
    """(where, file_id) of each ``image`` / ``document`` block whose source is a file."""
    if not isinstance(messages, list):
        return
    for i, message in enumerate(messages):
        blocks = message.get("content") if isinstance(message, dict) else None
        if not isinstance(blocks, list):
            continue
        for j, block in enumerate(blocks):
            source = block.get("source") if isinstance(block, dict) else None
            if isinstance(source, dict) and source.get("type") == "file":
                yield f"messages.{i}.content.{j}.source.file_id", source.get("file_id")


def check_file_ids(resources: Resources, body: Mapping[str, Any]) -> None:
    """The 400 for a message block naming a file this server does not keep."""
    kept = resources.existing(FILES)
    for where, ident in _file_ids(body.get("messages")):
        if not isinstance(ident, str):
            raise invalid(f"{where}: Input should be a valid string")
        if kept is None or ident not in kept:
            raise invalid(f"{where}: File not found: {ident}")
