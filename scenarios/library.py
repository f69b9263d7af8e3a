"""The built-in scenario files: list, read, load; the published JSON Schema text; and the one rule
that tells a scenario file's path from a built-in name.

(Re-exported by ``scenarios/__init__.py``; other modules import this one directly so that it
also works when the package was installed in editable mode before it had an ``__init__``.)
This module stays light (no pydantic, no YAML), so that building the command line does not load
the language: ``load`` and ``schema_text`` import it when they are called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scenarios.schema import Scenario

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "scenario.schema.json"
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


def names() -> list[str]:
    """The names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def path(name: str) -> Path:
    """The file of built-in scenario ``name`` (KeyError naming the known ones if unknown)."""
    p = HERE / f"{name}.yaml"
    if not p.is_file():
        raise KeyError(f"no built-in scenario {name!r}; known: {', '.join(names())}")
    return p


def text(name: str) -> str:
    return path(name).read_text(encoding="utf-8")


def is_path(spec: str) -> bool:
    """Whether ``spec`` is written as a scenario file's path rather than a built-in name or YAML
    text: one line that ends in .yaml, .yml or .json or holds a path separator (``/`` or ``\\``).
    Decided from the text alone, without looking at the file system."""
    return "\n" not in spec and (spec.endswith(SCENARIO_SUFFIXES) or "/" in spec or "\\" in spec)


def load(name: str) -> Scenario:
    """The validated built-in scenario ``name``."""
    from scenarios.loader import load_file

    return load_file(path(name))


def schema_text() -> str:
    """The JSON Schema of scenario files, exactly as published in ``scenario.schema.json``."""
    from scenarios.schema import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
