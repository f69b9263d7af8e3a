"""The fault engine: what makes the mock an overloaded server.

The server builds a :class:`RequestFacts` for each request, asks an engine for a
:class:`Decision`, applies it, and reports the outcome back with ``complete``.
``build_engine(spec, seed=...)`` loads a scenario (built-in name, path, YAML text, mapping)
into an engine; :func:`decide` is the pure core behind it. The scenario language itself
(``Scenario``, ``load_scenario``, ``ScenarioError``, ``builtin_names``) lives in ``scenarios``;
this face re-exports it for the engine's users.
"""

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
from mockserver.faults.engine import EngineState, ScenarioEngine, complete, decide
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
