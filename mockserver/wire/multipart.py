"""The ``multipart/form-data`` bodies of the upload routes (files, skills): split into parts.

The one lifecycle reads a body whole, within the route's limit, before the fault engine judges
it (so a refused upload and its retries share a digest in the journal); aiohttp's multipart
reader reads a live stream, not bytes in hand, so the few lines that split a body on its boundary
are written here (each part's headers are parsed by the standard library's ``email`` package).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from mockserver.wire.errors import invalid

# room in an upload's body limit for boundaries, part headers and small fields, beyond the
# limit on the uploaded bytes themselves (which the route checks once the parts are split)
MULTIPART_OVERHEAD = 64 * 1024

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a form: its field name, its file name (for a file), its headers and bytes."""

    name: str | None
    filename: str | None
    headers: Message
    data: bytes


def _delimiter(content_type: str) -> bytes | None:
    found = _BOUNDARY.search(content_type)
    return None if found is None else b"--" + (found.group(1) or found.group(2)).encode("latin-1")


def canonical_body(content_type: str, raw: bytes) -> bytes:
    """The body without its boundary (a client picks a new one for each attempt), so the retries
    of one upload are one logical request in the journal."""
    delimiter = _delimiter(content_type)
    return raw if delimiter is None else raw.replace(delimiter, b"--")


def form_parts(content_type: str, raw: bytes, *, expected: str) -> list[Part]:
    """The parts of a ``multipart/form-data`` body; the 400 for any other body (``expected``
    says what the route wants, e.g. "a 'file' part")."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid(f"Invalid request: the body must be multipart/form-data with {expected}")
    delimiter = _delimiter(content_type)
    if delimiter is None:
        raise invalid("Invalid request: the multipart/form-data Content-Type has no boundary")
    start = raw.find(delimiter)
    if start < 0:
        raise invalid("Invalid request: the multipart/form-data body has no parts")
    parts: list[Part] = []
    pos = start + len(delimiter)
    while raw[pos : pos + 2] != b"--":
        head_end = raw.find(b"\r\n\r\n", pos)
        end = raw.find(b"\r\n" + delimiter, pos)
        if head_end < 0 or end < 0 or head_end > end:
            raise invalid("Invalid request: the multipart/form-data body is malformed")
        block = raw[pos:head_end].decode("utf-8", "surrogateescape")
        headers = HeaderParser().parsestr(block.lstrip("\r\n"))
        name = headers.get_param("name", header="content-disposition")
        field = name if isinstance(name, str) else None
        parts.append(Part(field, headers.get_filename(), headers, raw[head_end + 4 : end]))
        pos = end + 2 + len(delimiter)
    return parts
