"""Turn a scenario reference into a running engine.

``build_engine(spec, seed=...)`` accepts ``None`` (no faults), a built-in scenario name,
a path to a YAML file, YAML text, or an already parsed mapping. Until the scenario language
lands, only the fault-free world is known; anything else is refused with ScenarioError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockserver.faults.decision import FaultEngine, NoFaults, ScenarioError


def build_engine(spec: str | Mapping[str, Any] | None, *, seed: int = 0) -> FaultEngine:
    if spec is None or spec == "steady":
        return NoFaults()
    raise ScenarioError(f"unknown scenario: {spec!r}")
