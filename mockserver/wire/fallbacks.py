"""Fast mode and fallbacks on ``POST /v1/messages``: the request's side, as the 2.x SDK types it.

Pure functions (no aiohttp, no faults): the request's ``speed``, ``fallback_credit_token`` and
``fallbacks`` checked as the API checks them (the answer's side is :mod:`mockserver.wire.refusal`).
Hand-written: the fields are the API's own; no library knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.wire.errors import invalid

SPEEDS = ("standard", "fast")
CREDIT_MODES = ("strict", "best_effort")
FALLBACK_FIELDS = frozenset({"model", "max_tokens", "thinking", "output_config", "speed"})
CREDIT_BETA = "fallback-credit-2026-07-01"
SERVER_FALLBACK_BETA = "server-side-fallback-2026-07-01"
MAX_FALLBACKS = 8  # entries in one chain (a bound of the mock's: the API's is not published)


@dataclass(frozen=True, slots=True)
class Credit:
    """A presented ``fallback_credit_token``: the token and its redemption mode."""

    token: str
    mode: str = "strict"


def check_speed(body: Mapping[str, Any]) -> str | None:
    """The request's ``speed`` (None when absent or null); a 400 for any other value."""
    speed = body.get("speed")
    if speed is None or speed in SPEEDS:
        return speed
    raise invalid("speed: Input should be 'standard' or 'fast'")


def check_credit(body: Mapping[str, Any]) -> Credit | None:
    """The request's ``fallback_credit_token`` (the bare string or the object form)."""
    raw = body.get("fallback_credit_token")
    if raw is None:
        return None
    if isinstance(raw, str):
        if not raw:
            raise invalid("fallback_credit_token: malformed fallback credit token")
        return Credit(raw)
    if not isinstance(raw, dict):
        raise invalid("fallback_credit_token: Input should be a valid string or object")
    for key in raw:
        if key not in ("token", "mode"):
            raise invalid(f"fallback_credit_token.{key}: Extra inputs are not permitted")
    token = raw.get("token")
    if not isinstance(token, str):
        raise invalid("fallback_credit_token.token: Field required")
    mode = raw.get("mode", "strict")
    if mode not in CREDIT_MODES:
        raise invalid("fallback_credit_token.mode: Input should be 'strict' or 'best_effort'")
    if not token:
        raise invalid("fallback_credit_token: malformed fallback credit token")
    return Credit(token, mode)


def check_fallbacks(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | str | None:
    """The request's ``fallbacks`` chain: a list of entries, ``"default"`` or None."""
    raw = body.get("fallbacks")
    if raw is None:
        return None
    if body.get("fallback_credit_token") is not None:
        raise invalid("fallback_credit_token cannot be combined with fallbacks")
    if raw == "default":
        return "default"
    if not isinstance(raw, list):
        raise invalid("fallbacks: Input should be a valid list or 'default'")
    if not raw:
        raise invalid("fallbacks: List should have at least 1 item after validation, not 0")
    if len(raw) > MAX_FALLBACKS:
        raise invalid(f"fallbacks: List should have at most {MAX_FALLBACKS} items after validation")
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise invalid(f"fallbacks.{i}: Input should be a valid dictionary")
        for key in entry:
            if key not in FALLBACK_FIELDS:
                raise invalid(f"fallbacks.{i}.{key}: Extra inputs are not permitted")
        if "model" not in entry:
            raise invalid(f"fallbacks.{i}.model: Field required")
        if not isinstance(entry["model"], str):
            raise invalid(f"fallbacks.{i}.model: Input should be a valid string")
        speed = entry.get("speed")
        if speed is not None and speed not in SPEEDS:
            raise invalid(f"fallbacks.{i}.speed: Input should be 'standard' or 'fast'")
        max_tokens = entry.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
            raise invalid(f"fallbacks.{i}.max_tokens: Input should be a valid integer")
    return tuple(raw)
