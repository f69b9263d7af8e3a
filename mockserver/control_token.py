"""The control token: where the server and its control clients find it, and how it is compared.

A token on the command line shows in ``ps`` to every user of the machine, so it can also come
from a file (``--control-token-file PATH``) or the environment. Servers and clients look it up
in one order (:func:`resolve_token`):

1. the token given outright (``--control-token``, ``token=``);
2. the file given (``--control-token-file``, ``token_file=``), its text without the line end;
3. ``$BUSYSIGNAL_CONTROL_TOKEN``;
4. the file named by ``$BUSYSIGNAL_CONTROL_TOKEN_FILE``.

The server compares the token a request bears with :func:`hmac.compare_digest`, on bytes, so
that the time an answer takes does not tell how much of a guess was right.
"""

from __future__ import annotations

import argparse
import hmac
from collections.abc import Mapping, Sequence
from pathlib import Path

TOKEN_ENV = "BUSYSIGNAL_CONTROL_TOKEN"
TOKEN_FILE_ENV = "BUSYSIGNAL_CONTROL_TOKEN_FILE"
MAX_TOKEN_FILE_BYTES = 4096


class ControlTokenError(ValueError):
    """A control token that cannot be used: an unreadable or empty file, two sources at once."""


def token_matches(given: str | None, token: str) -> bool:
    """Whether ``given`` (a header's value; None when absent) is ``token``, in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(_bytes(given), _bytes(token))


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # header values may carry undecodable bytes


def read_token_file(path: str | Path) -> str:
    """The token in ``path``: its text without surrounding whitespace (a trailing newline)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise ControlTokenError(f"control token file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ControlTokenError(f"control token file {path}: larger than {MAX_TOKEN_FILE_BYTES} bytes")
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ControlTokenError(f"control token file {path}: not UTF-8 text") from None
    if not token:
        raise ControlTokenError(f"control token file {path}: empty")
    return token


def resolve_token(
    token: str | None = None, token_file: str | Path | None = None, *, env: Mapping[str, str]
) -> str | None:
    """The control token from the first source that gives one (see the module doc), else None."""
    if token is not None and token_file is not None:
        raise ControlTokenError("give the control token or a file holding it, not both")
    if token is not None:
        if not token:
            raise ControlTokenError("the control token is empty")
        return token
    if token_file is not None:
        return read_token_file(token_file)
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    if env.get(TOKEN_FILE_ENV):
        return read_token_file(env[TOKEN_FILE_ENV])
    return None


def token_for_serve_args(args: Sequence[str], *, env: Mapping[str, str]) -> str | None:
    """The token a ``busysignal serve`` started with ``args`` (and environment ``env``) demands:
    what a client that spawned it should send."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--control-token", default=None)
    parser.add_argument("--control-token-file", default=None)
    try:
        known, _ = parser.parse_known_args(list(args))
    except argparse.ArgumentError as exc:
        raise ControlTokenError(f"serve arguments: {exc}") from None
    return resolve_token(known.control_token, known.control_token_file, env=env)
