"""Turn a scenario reference into a running engine.

``build_engine(spec, seed=...)`` accepts ``None`` or ``"steady"`` (no scenario faults), a built-in
scenario name, a path to a YAML (or JSON) file, YAML/JSON text, ``{"name": NAME}`` (as text or
mapping, for ``PUT /_busysignal/scenario``), or an already parsed scenario mapping. Anything
that cannot be loaded raises :class:`ScenarioError` naming the file, the line and the field.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mockserver.faults.compiled import compile_scenario
from mockserver.faults.decision import FaultEngine, ScenarioError
from mockserver.faults.engine import ScenarioEngine
from mockserver.faults.schema import Scenario
from mockserver.faults.yamlsource import SourceMap, format_validation_error, parse_yaml


def builtin_dir() -> Path:
    """Where the built-in scenario files live (the ``scenarios`` package)."""
    from scenarios.library import HERE

    return HERE


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def validate_mapping(data: Any, smap: SourceMap | None) -> Scenario:
    source = smap.source if smap is not None else "<mapping>"
    if not isinstance(data, Mapping):
        where = source
        if smap is not None and smap.root is not None:
            where = f"{source}:{smap.root.start_mark.line + 1}:{smap.root.start_mark.column + 1}"
        kind = type(data).__name__
        raise ScenarioError(
            f"{where}: a scenario must be a mapping (name, description, rules ...), not a {kind}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, smap, Scenario)) from None


def load_text(text: str, source: str = "<text>") -> Scenario:
    data, smap = parse_yaml(text, source)
    if isinstance(data, Mapping) and set(data) == {"name"} and isinstance(data["name"], str):
        return load_scenario(data["name"])
    return validate_mapping(data, smap)


def load_file(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read the scenario file: {exc}") from None
    return load_text(text, str(p))


def _looks_like_path(spec: str) -> bool:
    return "\n" not in spec and (
        spec.endswith((".yaml", ".yml", ".json")) or "/" in spec or Path(spec).is_file()
    )


def load_scenario(spec: str | Mapping[str, Any]) -> Scenario:
    """A validated Scenario from a built-in name, a path, YAML/JSON text or a mapping."""
    if isinstance(spec, Mapping):
        if set(spec) == {"name"} and isinstance(spec["name"], str):
            return load_scenario(spec["name"])
        return validate_mapping(spec, None)
    name = spec.strip()
    if name and "\n" not in name and (builtin_dir() / f"{name}.yaml").is_file():
        return load_file(builtin_dir() / f"{name}.yaml")
    if "\n" in name or name.startswith("{"):
        return load_text(spec)
    if _looks_like_path(name):
        return load_file(name)
    if ":" in name:
        return load_text(spec)
    raise ScenarioError(
        f"unknown scenario {spec!r}: not a built-in ({', '.join(builtin_names())}) nor a file"
    )


def build_engine(
    spec: str | Mapping[str, Any] | Scenario | None,
    *,
    seed: int = 0,
    wall_clock: Callable[[], float] = time.time,
) -> FaultEngine:
    """The engine for ``spec`` (see the module docstring). ``seed`` makes the run reproducible.

    Even the fault-free ``steady`` world gets a real engine, so that the per-request override
    header works everywhere (``decision.NoFaults`` is the engine that never faults at all).
    """
    if spec is None or (isinstance(spec, str) and spec.strip() == ""):
        spec = "steady"
    scenario = spec if isinstance(spec, Scenario) else load_scenario(spec)
    return ScenarioEngine(compile_scenario(scenario, seed), wall_clock=wall_clock, source=scenario)
