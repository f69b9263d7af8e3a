"""The built-in scenario files: list, read, load; and the published JSON Schema text.

(Re-exported by ``scenarios/__init__.py``; other modules import this one directly so that it
also works when the package was installed in editable mode before it had an ``__init__``.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockserver.faults.schema import Scenario

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "scenario.schema.json"


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


def load(name: str) -> Scenario:
    """The validated built-in scenario ``name``."""
    from mockserver.faults.loader import load_file

    return load_file(path(name))


def schema_text() -> str:
    """The JSON Schema of scenario files, exactly as published in ``scenario.schema.json``."""
    from mockserver.faults.schema import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
