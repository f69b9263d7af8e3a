"""MCP tunnels as the API keeps them: the ``tunnel`` object (its domain the mock's own, under
the reserved ``.invalid`` top-level domain, derived from the tunnel's id), its connector token
(kept apart from the tunnel, shown only by ``reveal_token`` and ``rotate_token``; a rotation
makes a new value and a new token id), and the CA certificates registered against a tunnel
(``tunnel_certificate``: the SHA-256 fingerprint of the certificate's DER bytes and its
``notAfter`` as ``expires_at``).

The SDK names no id prefix for a token (``tnl_`` and ``tcrt_`` are named): the mock uses
``tnltok_``.

Pure: no aiohttp. Hand-written: a PEM block is base64 between two fence lines, and the one
field read from the certificate (its validity's end) sits at a fixed place in the DER, so a
short walk over the tags does it without an X.509 library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.resources import Obj, timestamp

TUNNELS = "tunnel"
TOKENS = "tunnel_token"
NOUN = "Tunnel"
CERT_NOUN = "Tunnel certificate"
BETA = "mcp-tunnels-2026-06-22"
TOKEN_PREFIX = "tnltok_"
MAX_DISPLAY_NAME = 255
MAX_PEM_BYTES = 8 * 1024
MAX_REASON = 1024
_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


def certificates_key(tunnel_id: str) -> tuple[str, str]:
    return ("tunnel_certificate", tunnel_id)


def check_beta(betas: str) -> None:
    """The 400 for a request without the tunnels beta in its ``anthropic-beta`` header."""
    if BETA not in [b.strip() for b in betas.split(",")]:
        raise invalid(f"This endpoint is in beta: send {BETA} in the anthropic-beta header")


def object_body(raw: bytes, parse: Any) -> dict[str, Any]:
    """The JSON object a body holds (``{}`` for none); the 400 for anything else."""
    if not raw.strip():
        return {}
    body = parse(raw)
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    return body


def _optional_text(body: Mapping[str, Any], name: str, most: int, *, least: int = 0) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid string")
    if not least <= len(value) <= most:
        raise invalid(f"{name}: String should have between {least} and {most} characters")
    return value


def tunnel_object(ident: str, body: Mapping[str, Any], now: float) -> Obj:
    display_name = _optional_text(body, "display_name", MAX_DISPLAY_NAME, least=1)
    label = hashlib.sha256(ident.encode()).hexdigest()[:20]
    return {
        "id": ident,
        "type": "tunnel",
        "archived_at": None,
        "created_at": timestamp(now),
        "display_name": display_name,
        "domain": f"{label}.tunnels.busysignal.invalid",
    }


def archive(obj: Obj, now: float) -> Obj:
    """Archive a tunnel or a certificate (archiving it again keeps the first time)."""
    if obj["archived_at"] is None:
        obj["archived_at"] = timestamp(now)
    return obj


def token_record(tunnel_id: str, token_id: str, secret: str) -> Obj:
    """The kept token of a tunnel (under the tunnel's id)."""
    return {"id": tunnel_id, "token_id": token_id, "secret": secret}


def token_object(record: Obj) -> Obj:
    return {"type": "tunnel_token", "id": record["token_id"], "tunnel_token": record["secret"]}


def check_rotate(body: Mapping[str, Any]) -> str | None:
    """The reason a rotation gives (optional), or the 400."""
    return _optional_text(body, "reason", MAX_REASON)


def include_archived(query: Mapping[str, str]) -> bool:
    raw = query.get("include_archived", "false")
    if raw not in ("true", "false"):
        raise invalid(f"include_archived: Input should be a valid boolean, got {raw!r}")
    return raw == "true"


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``at``."""
    if at + 2 > len(der):
        raise ValueError("truncated")
    tag, size = der[at], der[at + 1]
    start = at + 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ValueError("bad length")
        size = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + size > len(der):
        raise ValueError("truncated")
    return tag, start, start + size


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        moment = datetime.strptime(text, "%y%m%d%H%M%SZ")
    elif tag == 0x18:  # GeneralizedTime
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError("not a time")
    return moment.replace(tzinfo=timezone.utc)


def not_after(der: bytes) -> datetime:
    """The end of a certificate's validity (ValueError when the DER is not a certificate)."""
    tag, start, _ = _tlv(der, 0)  # Certificate
    if tag != 0x30:
        raise ValueError("not a sequence")
    tag, at, _ = _tlv(der, start)  # tbsCertificate
    if tag != 0x30:
        raise ValueError("not a sequence")
    if der[at] == 0xA0:  # [0] version
        at = _tlv(der, at)[2]
    for _ in range(3):  # serialNumber, signature, issuer
        at = _tlv(der, at)[2]
    tag, at, _ = _tlv(der, at)  # validity
    if tag != 0x30:
        raise ValueError("no validity")
    at = _tlv(der, at)[2]  # notBefore
    tag, start, end = _tlv(der, at)
    return _time(tag, der[start:end])


def read_pem(body: Mapping[str, Any]) -> tuple[str, datetime]:
    """(fingerprint, expiry) of the one CA certificate ``ca_certificate_pem`` holds, or the 400."""
    if "ca_certificate_pem" not in body:
        raise invalid("ca_certificate_pem: Field required")
    pem = body["ca_certificate_pem"]
    if not isinstance(pem, str):
        raise invalid("ca_certificate_pem: Input should be a valid string")
    if len(pem.encode()) > MAX_PEM_BYTES:
        raise invalid("ca_certificate_pem: at most 8KB")
    if "PRIVATE KEY" in pem:
        raise invalid("ca_certificate_pem: must contain no private-key material")
    if pem.count(_BEGIN) != 1 or pem.count(_END) != 1:
        raise invalid("ca_certificate_pem: must contain exactly one certificate")
    inner = pem.split(_BEGIN, 1)[1].split(_END, 1)[0]
    try:
        der = base64.b64decode("".join(inner.split()), validate=True)
        expires = not_after(der)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("ca_certificate_pem: not a valid PEM-encoded X.509 certificate") from None
    return hashlib.sha256(der).hexdigest(), expires


def certificate_object(ident: str, tunnel_id: str, pem: tuple[str, datetime], now: float) -> Obj:
    fingerprint, expires = pem
    return {
        "id": ident,
        "type": "tunnel_certificate",
        "archived_at": None,
        "created_at": timestamp(now),
        "expires_at": timestamp(expires.timestamp()),
        "fingerprint": fingerprint,
        "tunnel_id": tunnel_id,
    }
