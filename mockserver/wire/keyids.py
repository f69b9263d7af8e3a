"""The journal's ``api_key_id``: a short id of an API key, keyed with a per-server salt.

An unsalted short hash is the same on every server, so anyone holding a journal could test
guessed keys against it offline. The id is a BLAKE2b MAC of the key under a salt: random for
each server (from :mod:`secrets`), so ids of one key differ between servers and a journal alone
does not let guesses be checked; or fixed (``ServerConfig.key_salt``, ``serve --key-salt``),
when the journals of several servers must be correlated. Within one server a key always has
the same id, so logical requests (key + body) still group a client's retries.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

ID_BYTES = 6  # 12 hex digits, as the journal's contract has them
SALT_BYTES = 32
_MAX_KEPT = 4096  # ids remembered per server (a key past that is hashed on each request)


def salt_bytes(fixed: str | None, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """The salt for a fixed salt text (the same text gives the same salt anywhere), or a random one."""
    if fixed is None:
        return random_bytes(SALT_BYTES)
    return hashlib.blake2b(fixed.encode("utf-8", "surrogateescape"), digest_size=SALT_BYTES).digest()


def key_id(key: str, salt: bytes) -> str:
    """The id of ``key`` under ``salt`` (no id is computed for a missing key: that is "")."""
    raw = key.encode("utf-8", "surrogateescape")  # a header may carry bytes that are not UTF-8
    return hashlib.blake2b(raw, digest_size=ID_BYTES, key=salt, person=b"bsig-key").hexdigest()


class KeyIds(dict[str, str]):
    """One server's ids by key: ``ids[key]`` (computed on first sight, then remembered)."""

    __slots__ = ("salt",)

    def __init__(self, salt: bytes) -> None:
        super().__init__()
        self.salt = salt

    def __missing__(self, key: str) -> str:
        found = key_id(key, self.salt)
        if len(self) < _MAX_KEPT:
            self[key] = found
        return found
