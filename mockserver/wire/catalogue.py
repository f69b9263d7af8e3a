"""The model catalogue: which model ids the mock knows, and their limits.

The default lists the current Claude ids the installed SDK names. Replace it with a JSON or
YAML file: ``{"models": [{"id": ..., "display_name": ..., "created_at": ..., "max_tokens": ...,
"max_input_tokens": ..., "aliases": [...], "lifecycle": "active", "line": "opus",
"sampling_fixed": false, "allowed_fallback_models": [...], "fast_mode": false, "fast_mode_beta": false}]}``
(``sampling_fixed``: the model refuses temperature other than 1, top_p below 0.99 and any top_k, as
the models after Claude Opus 4.6 do; ``allowed_fallback_models``: the models a request's
``fallbacks`` may name, the first of them its ``"default"`` chain, none: the model takes no
``fallbacks`` list; ``fast_mode``: the model takes ``speed`` (a model without it refuses the field);
``fast_mode_beta``: it takes ``speed`` only with the ``fast-mode-2026-02-01`` beta).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any


class CatalogueError(ValueError):
    """A model catalogue file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    display_name: str
    created_at: str  # RFC 3339
    max_tokens: int  # maximum max_tokens
    max_input_tokens: int = 200_000
    aliases: tuple[str, ...] = ()
    lifecycle: str = "active"
    line: str | None = None
    deprecated_at: str | None = None  # RFC 3339
    retires_at: str | None = None  # RFC 3339
    # temperature must be 1, top_p at least 0.99, top_k absent (the models after Claude Opus 4.6)
    sampling_fixed: bool = False
    # the models a request's `fallbacks` may name (BetaModelInfo.allowed_fallback_models)
    fallback_models: tuple[str, ...] = ()
    fast_mode: bool = False  # takes `speed` ("fast" | "standard"); without it, `speed` is the 400
    fast_mode_beta: bool = False  # takes `speed` only with the fast-mode beta

    def info(self) -> dict[str, Any]:
        """The ModelInfo object of GET /v1/models, with the models its ``fallbacks`` may name
        (``allowed_fallback_models``, which the SDK's BetaModelInfo types)."""
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "max_tokens": self.max_tokens,
            "max_input_tokens": self.max_input_tokens,
            "lifecycle": self.lifecycle,
            "line": self.line,
            "deprecated_at": self.deprecated_at,
            "retires_at": self.retires_at,
            "allowed_fallback_models": list(self.fallback_models),
        }


@dataclass(frozen=True)
class Catalogue:
    """Models newest first (the order of GET /v1/models), with alias resolution."""

    models: tuple[ModelEntry, ...]
    _by_id: dict[str, ModelEntry] = field(init=False, repr=False, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, ModelEntry] = {}
        index: dict[str, int] = {}
        for i, model in enumerate(self.models):
            for name in (model.id, *model.aliases):
                if name in by_id:
                    raise CatalogueError(f"model id {name!r} appears twice in the catalogue")
                by_id[name] = model
            index[model.id] = i
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_index", index)

    def get(self, model_id: str) -> ModelEntry | None:
        return self._by_id.get(model_id)

    def position(self, model_id: str) -> int | None:
        """Position in the listing of a canonical id or alias (for after_id/before_id paging)."""
        entry = self._by_id.get(model_id)
        return None if entry is None else self._index[entry.id]

    def __len__(self) -> int:
        return len(self.models)


# Newest first. Release dates of ids after the 4.5 family are not published in the SDK; they are
# placeholders in release order (the API allows an epoch value when the date is unknown).
# Deprecations and retirement dates follow the SDK's deprecated-model table; a deprecated model
# still answers (a past ``retires_at`` means retirement is overdue, not that it happened).
# Columns, separated by two or more spaces: id, display name, created (a date), max_tokens, line,
# aliases (comma-separated, "-": none), retires (a date, "-": not deprecated).
_DEFAULT_TABLE = """
claude-fable-5-2            Claude Fable 5.2       2026-10-01  128000  fable   -                  -
claude-mythos-5-2           Claude Mythos 5.2      2026-09-24  128000  mythos  -                  -
claude-haiku-5-5            Claude Haiku 5.5       2026-09-10  64000   haiku   -                  -
claude-sonnet-5-5           Claude Sonnet 5.5      2026-09-03  128000  sonnet  -                  -
claude-opus-5-5             Claude Opus 5.5        2026-08-27  128000  opus    -                  -
claude-fable-5-1            Claude Fable 5.1       2026-07-15  128000  fable   -                  -
claude-mythos-5-1           Claude Mythos 5.1      2026-07-08  128000  mythos  -                  -
claude-sonnet-5             Claude Sonnet 5        2026-06-03  128000  sonnet  -                  -
claude-fable-5              Claude Fable 5         2026-05-20  128000  fable   -                  -
claude-mythos-5             Claude Mythos 5        2026-05-13  128000  mythos  -                  -
claude-opus-5               Claude Opus 5          2026-05-06  128000  opus    -                  -
claude-opus-4-8             Claude Opus 4.8        2026-04-01  128000  opus    -                  -
claude-opus-4-7             Claude Opus 4.7        2026-03-04  128000  opus    -                  -
claude-mythos-preview       Claude Mythos Preview  2026-02-25  128000  mythos  -                  2026-06-30
claude-opus-4-6             Claude Opus 4.6        2026-02-05  128000  opus    -                  -
claude-sonnet-4-6           Claude Sonnet 4.6      2026-02-17  64000   sonnet  -                  -
claude-opus-4-5-20251101    Claude Opus 4.5        2025-11-24  64000   opus    claude-opus-4-5    2027-01-22
claude-haiku-4-5-20251001   Claude Haiku 4.5       2025-10-15  64000   haiku   claude-haiku-4-5   -
claude-sonnet-4-5-20250929  Claude Sonnet 4.5      2025-09-29  64000   sonnet  claude-sonnet-4-5  2026-11-30
"""

# The models after Claude Opus 4.6 (Opus 4.7 and every one released since) fix sampling: they
# refuse temperature other than 1, top_p below 0.99 and any top_k. Sonnet 4.6 and Mythos Preview,
# released between the two Opus models, still take them.
_FIXED_SAMPLING_SINCE = "2026-03-04"  # Claude Opus 4.7

# Server-side fallbacks: the models released since Claude Opus 5 take a `fallbacks` chain of the two
# newest Opus or Sonnet models released before them (newest first: the "default" chain); older
# models take none. Fast mode: the Opus models since Claude Opus 4.6, which needs the fast-mode
# beta for any `speed` (as Opus 4.7 does); the later ones take it without. The API publishes
# neither table for these ids: they are the mock's (docs/anthropic-api.md, section 11).
_FALLBACKS_SINCE = "2026-05-06"  # Claude Opus 5
_FAST_SINCE = "2026-02-05"  # Claude Opus 4.6
_FAST_BETA_UNTIL = "2026-03-04"  # Claude Opus 4.7: the last one that needs the beta


def _table_entry(row: str) -> ModelEntry:
    model_id, name, created, max_tokens, line, aliases, retires = re.split(r" {2,}", row)
    retires_at = None if retires == "-" else f"{retires}T00:00:00Z"
    return ModelEntry(
        id=model_id,
        display_name=name,
        created_at=f"{created}T00:00:00Z",
        max_tokens=int(max_tokens),
        aliases=() if aliases == "-" else tuple(aliases.split(",")),
        line=line,
        lifecycle="deprecated" if retires_at else "active",
        deprecated_at="2026-05-01T00:00:00Z" if retires_at else None,
        retires_at=retires_at,
        sampling_fixed=created >= _FIXED_SAMPLING_SINCE,
    )


def _with_fallbacks_and_speed(models: tuple[ModelEntry, ...]) -> tuple[ModelEntry, ...]:
    """The default table's models with their fallback chains and fast mode (see above)."""
    out = []
    for m in models:
        day = m.created_at[:10]
        older = [o.id for o in models if o.line in ("opus", "sonnet") and o.created_at < m.created_at]
        out.append(
            replace(
                m,
                fallback_models=tuple(older[:2]) if day >= _FALLBACKS_SINCE else (),
                fast_mode=m.line == "opus" and day >= _FAST_SINCE,
                fast_mode_beta=m.line == "opus" and _FAST_SINCE <= day <= _FAST_BETA_UNTIL,
            )
        )
    return tuple(out)


DEFAULT_MODELS: tuple[ModelEntry, ...] = _with_fallbacks_and_speed(
    tuple(_table_entry(row) for row in _DEFAULT_TABLE.strip().splitlines())
)


def default_catalogue() -> Catalogue:
    return Catalogue(DEFAULT_MODELS)


def _require(raw: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in raw:
        raise CatalogueError(f"{where}: field {key!r} is required")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CatalogueError(f"{where}: field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _optional_time(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: field {key!r} must be an RFC 3339 string")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CatalogueError(f"{where}: field {key!r} is not RFC 3339: {value!r}") from exc
    return value


_KNOWN_FIELDS = frozenset(
    {
        "id",
        "display_name",
        "created_at",
        "max_tokens",
        "max_input_tokens",
        "aliases",
        "lifecycle",
        "line",
        "deprecated_at",
        "retires_at",
        "sampling_fixed",
        "allowed_fallback_models",
        "fast_mode",
        "fast_mode_beta",
    }
)


def _created_at(raw: Mapping[str, Any], where: str) -> str:
    """The model's ``created_at`` (the epoch when not given; a null is not a time)."""
    if "created_at" in raw and raw["created_at"] is None:
        raise CatalogueError(f"{where}: field 'created_at' must be an RFC 3339 string")
    return _optional_time(raw, "created_at", where) or "1970-01-01T00:00:00Z"


def _model_entry(raw: Any, where: str) -> ModelEntry:
    """One model of a catalogue file, every field checked (``where`` names it in errors)."""
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: expected a mapping, got {raw!r}")
    unknown = sorted(set(raw) - _KNOWN_FIELDS)
    if unknown:
        raise CatalogueError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_FIELDS))})"
        )
    model_id = _require(raw, "id", str, where)
    created = _created_at(raw, where)
    max_tokens = _require(raw, "max_tokens", int, where)
    if max_tokens < 1:
        raise CatalogueError(f"{where}: field 'max_tokens' must be >= 1")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CatalogueError(f"{where}: field 'aliases' must be a list of strings")
    lifecycle = raw.get("lifecycle", "active")
    if lifecycle not in ("active", "deprecated", "retired"):
        raise CatalogueError(f"{where}: field 'lifecycle' must be active, deprecated or retired")
    line = raw.get("line")
    if line is not None and not isinstance(line, str):
        raise CatalogueError(f"{where}: field 'line' must be a string")
    flags = {name: _flag(raw, name, where) for name in ("sampling_fixed", "fast_mode", "fast_mode_beta")}
    fallbacks = raw.get("allowed_fallback_models", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise CatalogueError(f"{where}: field 'allowed_fallback_models' must be a list of model ids")
    max_input = raw.get("max_input_tokens", 200_000)
    if not isinstance(max_input, int) or isinstance(max_input, bool) or max_input < 1:
        raise CatalogueError(f"{where}: field 'max_input_tokens' must be a positive integer")
    return ModelEntry(
        id=model_id,
        display_name=str(raw.get("display_name", model_id)),
        created_at=created,
        max_tokens=max_tokens,
        max_input_tokens=max_input,
        aliases=tuple(aliases),
        lifecycle=lifecycle,
        line=line,
        deprecated_at=_optional_time(raw, "deprecated_at", where),
        retires_at=_optional_time(raw, "retires_at", where),
        fallback_models=tuple(fallbacks),
        **flags,
    )


def _flag(raw: Mapping[str, Any], name: str, where: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise CatalogueError(f"{where}: field {name!r} must be true or false")
    return value


def catalogue_from_data(data: Any, *, source: str = "<catalogue>") -> Catalogue:
    """Build a catalogue from parsed JSON/YAML (``{"models": [...]}`` or a bare list)."""
    items = data.get("models") if isinstance(data, Mapping) else data
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise CatalogueError(f"{source}: expected a non-empty list under 'models'")
    catalogue = Catalogue(tuple(_model_entry(raw, f"{source}: models[{i}]") for i, raw in enumerate(items)))
    for i, model in enumerate(catalogue.models):
        for name in model.fallback_models:
            if catalogue.get(name) is None:
                raise CatalogueError(
                    f"{source}: models[{i}]: allowed_fallback_models names {name!r}, not in the catalogue"
                )
    return catalogue


def load_catalogue(path: str | Path) -> Catalogue:
    """Read a catalogue file (``.json``, ``.yaml`` or ``.yml``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{p}: cannot read model catalogue: {exc}") from exc
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{p}: invalid YAML: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    return catalogue_from_data(data, source=str(p))
