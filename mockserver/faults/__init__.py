"""The fault engine: what makes the mock an overloaded server.

The server builds a :class:`RequestFacts` for each request, asks an engine for a
:class:`Decision`, applies it, and reports the outcome back with ``complete``.
``build_engine(spec, seed=...)`` loads a scenario (built-in name, path, YAML text, mapping)
into an engine; :func:`decide` is the pure core behind it. The scenario language itself
(``Scenario``, ``load_scenario``, ``ScenarioError``, ``builtin_names``) lives in ``scenarios``;
this face re-exports it for the engine's users. Imports are lazy, so that a module that needs only
the vocabulary of fault kinds (:mod:`mockserver.faults.kinds`, read by the journal analysis) does
not load the language and its pydantic models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver._lazy import lazy_face

if TYPE_CHECKING:
    from mockserver.faults.buckets import TokenBucket
    from mockserver.faults.build import build_engine
    from mockserver.faults.decision import (
        ConnectionFault,
        Decision,
        FaultEngine,
        HttpError,
        NoFaults,
        RequestFacts,
        StreamFault,
    )
    from mockserver.faults.engine import ScenarioEngine, complete, decide
    from mockserver.faults.state import EngineState
    from scenarios.library import names as builtin_names
    from scenarios.loader import load_scenario
    from scenarios.schema import Scenario
    from scenarios.yamlsource import ScenarioError

__all__ = [
    "ConnectionFault",
    "Decision",
    "EngineState",
    "FaultEngine",
    "HttpError",
    "NoFaults",
    "RequestFacts",
    "Scenario",
    "ScenarioEngine",
    "ScenarioError",
    "StreamFault",
    "TokenBucket",
    "build_engine",
    "builtin_names",
    "complete",
    "decide",
    "load_scenario",
]

# public name -> (module, name there)
_WHERE: dict[str, tuple[str, str]] = {
    "TokenBucket": ("mockserver.faults.buckets", "TokenBucket"),
    "build_engine": ("mockserver.faults.build", "build_engine"),
    **{
        name: ("mockserver.faults.decision", name)
        for name in ("ConnectionFault", "Decision", "FaultEngine", "HttpError", "NoFaults", "RequestFacts")
    },
    "StreamFault": ("mockserver.faults.decision", "StreamFault"),
    **{name: ("mockserver.faults.engine", name) for name in ("ScenarioEngine", "complete", "decide")},
    "EngineState": ("mockserver.faults.state", "EngineState"),
    "builtin_names": ("scenarios.library", "names"),
    "load_scenario": ("scenarios.loader", "load_scenario"),
    "Scenario": ("scenarios.schema", "Scenario"),
    "ScenarioError": ("scenarios.yamlsource", "ScenarioError"),
}


__getattr__, _ = lazy_face(__name__, globals(), _WHERE)
