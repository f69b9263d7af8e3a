"""Text in a request that the real API refuses, refused here with a clear 4xx instead of a 500.

- **JSON bodies** must be UTF-8 without a byte order mark (RFC 8259 section 8.1; the Messages API
  documents JSON bodies and sends nothing else). Python's ``json.loads`` would take UTF-16, UTF-32
  and a BOM, and lone surrogates (``"\\ud800"``), which no UTF-8 text can carry: all are a 400
  ``invalid_request_error`` here. An ordinary body (it starts with ``{`` and has no surrogate
  escape) costs two byte searches.
- :func:`parse_json` is the one way a request body becomes JSON: these checks, and the 400 the
  API sends for a body that does not parse.
- **API keys** are ASCII. aiohttp hands header bytes that are not UTF-8 over as lone surrogates;
  :func:`key_text` makes such a key hashable (for the journal), and ``check_auth`` answers a key
  that is not ASCII with the 401 any unknown key gets.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mockserver.wire.errors import invalid

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def check_json_bytes(raw: bytes) -> None:
    """Refuse a body that is not UTF-8 JSON text before it is parsed (see the module doc)."""
    if raw[:1] == b"{" and raw[1:2] != b"\x00":
        return
    if raw.startswith(_BOMS):
        raise invalid("The request body starts with a byte order mark; send UTF-8 JSON without one")
    if b"\x00" in raw[:4]:
        raise invalid("The request body is not UTF-8 (it looks like UTF-16 or UTF-32); send UTF-8 JSON")


def check_parsed(raw: bytes, body: Any) -> Any:
    """``body``, or a 400 if it holds a lone surrogate (only looked for when ``raw`` escapes one)."""
    if b"\\u" not in raw or _SURROGATE_ESCAPE.search(raw) is None:
        return body
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        raise invalid(
            f"The request body is not valid JSON: a lone surrogate escape (\\u{code:04x}) "
            "is not a Unicode character"
        ) from None
    except (TypeError, ValueError, RecursionError):
        pass  # not this check's to judge: the validator names what is wrong
    return body


def key_text(key: str) -> str:
    """``key`` as text the journal can hash: header bytes that were not UTF-8 become Latin-1."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogateescape").decode("latin-1")
    return key


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, or the API's 400 that names what is wrong with it."""
    check_json_bytes(raw)  # UTF-16/32, a BOM: 400
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise invalid(f"The request body is not valid UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise invalid(
            f"The request body is not valid JSON: {exc.msg}: line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise invalid(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid("The request body is not valid JSON: nesting too deep") from None
    return check_parsed(raw, body)  # lone surrogates: 400
