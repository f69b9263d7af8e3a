"""Turn a scenario reference into a running engine.

``build_engine(spec, seed=...)`` accepts ``None`` or ``"steady"`` (no scenario faults), anything
:func:`scenarios.loader.load_scenario` loads (a built-in name, a path, YAML/JSON text, a mapping),
or an already validated :class:`~scenarios.schema.Scenario`; it compiles the scenario under ``seed``
and wraps it in a :class:`~mockserver.faults.engine.ScenarioEngine`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.faults.compiled import compile_scenario
from mockserver.faults.decision import FaultEngine
from mockserver.faults.engine import ScenarioEngine
from scenarios.loader import load_scenario
from scenarios.schema import Scenario


def build_engine(
    spec: str | Mapping[str, Any] | Scenario | None,
    *,
    seed: int = 0,
    wall_clock: Callable[[], float] = time.time,
    allow_paths: bool = True,
) -> FaultEngine:
    """The engine for ``spec`` (see the module docstring). ``seed`` makes the run reproducible.

    Even the fault-free ``steady`` world gets a real engine, so that the per-request override
    header works everywhere (``decision.NoFaults`` is the engine that never faults at all).
    """
    if spec is None or (isinstance(spec, str) and spec.strip() == ""):
        spec = "steady"
    scenario = spec if isinstance(spec, Scenario) else load_scenario(spec, allow_paths=allow_paths)
    return ScenarioEngine(compile_scenario(scenario, seed), wall_clock=wall_clock, source=scenario)
