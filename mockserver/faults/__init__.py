"""The fault engine: what makes the mock an overloaded server.

The server builds a :class:`RequestFacts` for each request, asks an engine for a
:class:`Decision`, applies it, and reports the outcome back with ``complete``.
"""

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
from mockserver.faults.loader import build_engine

__all__ = [
    "ConnectionFault",
    "Decision",
    "FaultEngine",
    "HttpError",
    "NoFaults",
    "RequestFacts",
    "ScenarioError",
    "StreamFault",
    "build_engine",
]
