"""The fault engine: what makes the mock an overloaded server.

The server builds a :class:`RequestFacts` for each request, asks an engine for a
:class:`Decision`, applies it, and reports the outcome back with ``complete``.
``build_engine(spec, seed=...)`` loads a scenario (built-in name, path, YAML text, mapping)
into an engine; :func:`decide` is the pure core behind it.
"""

from mockserver.faults.buckets import TokenBucket
from mockserver.faults.decision import (
    ConnectionFault,
    Decision,
    FaultEngine,
    HttpError,
    NoFaults,
    RequestFacts,
    ScenarioError,
    StreamFault,
)
from mockserver.faults.engine import EngineState, ScenarioEngine, complete, decide
from mockserver.faults.loader import build_engine, builtin_names, load_scenario
from mockserver.faults.schema import Scenario

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
