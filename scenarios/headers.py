"""Which response headers a scenario's fault may set: HTTP token names, values without CR, LF or
other control characters, and never a header that frames the message or belongs to one hop."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

# they frame the message or belong to one connection hop: the server sets them itself
FORBIDDEN_HEADERS = (
    "connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade",
)  # fmt: skip
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP token (RFC 9110)
_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f]"  # tab is allowed in a value, nothing else below space
HeaderValue = Annotated[str, Field(pattern=rf"^[^{_CONTROL[1:-1]}]*$", description="no CR, LF or NUL")]
# what the published JSON Schema says of the names (it cannot say "case-insensitively")
HEADER_NAMES_SCHEMA: dict[str, Any] = {
    "propertyNames": {"pattern": HEADER_NAME, "not": {"enum": list(FORBIDDEN_HEADERS)}}
}


def check_fault_headers(headers: Any) -> Any:
    """``headers`` unchanged, or ValueError naming the first header that would break HTTP."""
    for name, value in headers.items() if isinstance(headers, dict) else ():
        if not isinstance(name, str) or re.fullmatch(HEADER_NAME, name) is None:
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(
                f"header {name!r} cannot be set by a fault: the server frames the response itself"
            )
        if isinstance(value, str) and re.search(_CONTROL, value):
            raise ValueError(f"header {name!r}: the value holds CR, LF or another control character")
    return headers
