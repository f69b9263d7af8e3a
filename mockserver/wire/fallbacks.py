"""Fast mode and fallbacks on ``POST /v1/messages``: the request's side, as the 2.x SDK types it.

Pure functions (no aiohttp, no faults): the request's ``speed``, ``fallback_credit_token`` and
``fallbacks`` checked as the API checks them, and the chain resolved into the :class:`Hop` s the
server tries when the requested model declines (the answer's side is :mod:`mockserver.wire.refusal`).
Each entry is validated as if the request were made to its model: the model must be one the
requested model allows (the catalogue's ``allowed_fallback_models``), its ``max_tokens`` within
that model's, its ``speed`` one that model takes. Hand-written: the fields are the API's own; no
library knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.wire.catalogue import Catalogue, ModelEntry
from mockserver.wire.errors import invalid

SPEEDS = ("standard", "fast")
CREDIT_MODES = ("strict", "best_effort")
FALLBACK_FIELDS = frozenset({"model", "max_tokens", "thinking", "output_config", "speed"})
CREDIT_BETA = "fallback-credit-2026-07-01"
SERVER_FALLBACK_BETAS = ("server-side-fallback-2026-07-01", "server-side-fallback-2026-06-01")
FAST_MODE_BETA = "fast-mode-2026-02-01"
MAX_FALLBACKS = 8  # entries in one chain (a bound of the mock's: the API's is not published)


@dataclass(frozen=True, slots=True)
class Hop:
    """One entry of a resolved ``fallbacks`` chain: the attempt the server makes on ``model``."""

    model: str  # the canonical id
    max_tokens: int
    speed: str | None  # "fast" | "standard"; None: the attempt sends none (standard)


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


def check_model_speed(speed: str | None, entry: ModelEntry, field: str = "speed") -> None:
    """The 400 of a ``speed`` on a model without fast mode (it refuses the field, any value)."""
    if speed is not None and not entry.fast_mode:
        raise invalid(f"{field}: `speed` is not supported for model {entry.id}")


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


def resolve_chain(
    raw: tuple[dict[str, Any], ...] | str | None,
    entry: ModelEntry,
    catalogue: Catalogue,
    max_tokens: int,
    speed: str | None,
) -> tuple[Hop, ...] | None:
    """The hops of a checked ``fallbacks`` value for a request to ``entry`` (None: it sent none).

    ``"default"`` is the model's own chain (none on a model without fallbacks: the request runs on
    it alone); a list on such a model is the 400. An entry inherits the request's ``max_tokens``
    and its ``speed: "fast"`` (when the entry's model has fast mode) unless it sets its own."""
    if raw is None:
        return None
    if isinstance(raw, str):  # "default"
        return tuple(_hop({}, m, max_tokens, speed) for m in _models(entry.fallback_models, catalogue))
    if not entry.fallback_models:
        raise invalid(f"fallbacks: model {entry.id} does not support fallbacks")
    hops = []
    for i, item in enumerate(raw):
        model = catalogue.get(item["model"])
        if model is None or model.id not in entry.fallback_models:
            raise invalid(
                f"fallbacks.{i}.model: {item['model']!r} is not a fallback model for {entry.id} "
                f"(allowed: {', '.join(entry.fallback_models)})"
            )
        hop = _hop(item, model, max_tokens, speed)
        if hop.max_tokens > model.max_tokens:
            raise invalid(
                f"fallbacks.{i}.max_tokens: {hop.max_tokens} > {model.max_tokens}, which is the maximum "
                f"allowed number of output tokens for {model.id}"
            )
        if "speed" in item:
            check_model_speed(item["speed"], model, f"fallbacks.{i}.speed")
        hops.append(hop)
    return tuple(hops)


def _models(names: tuple[str, ...], catalogue: Catalogue) -> list[ModelEntry]:
    return [m for m in (catalogue.get(n) for n in names) if m is not None]


def _hop(item: Mapping[str, Any], model: ModelEntry, max_tokens: int, speed: str | None) -> Hop:
    own_max = item.get("max_tokens")
    # an entry without speed: fast only where the model has it; otherwise the attempt sends none
    inherited = "fast" if speed == "fast" and model.fast_mode else None
    return Hop(model.id, max_tokens if own_max is None else own_max, item.get("speed", inherited))
