"""What the running scenario is and where it stands: the body of ``GET /_busysignal/scenario``
and the lines of the ``busysignal serve`` banner, one source for both.

Pure: the caller passes the engine, what it was loaded from and ``now`` (the server's injected
monotonic clock), so that tests drive time explicitly.
"""

from __future__ import annotations

from typing import Any

from mockserver.faults import FaultEngine, ScenarioEngine
from mockserver.faults.timeline import span_status, summary

RESET_HINT = "POST /_busysignal/reset restarts the scenario clock (replays its windows)"


def scenario_name(engine: FaultEngine, spec: Any) -> str:
    """The scenario's own name (its file's ``name``), whatever it was loaded from; for an engine
    that is not a scenario, its ``name`` attribute if it has one, else ``custom``."""
    if isinstance(engine, ScenarioEngine):
        return engine.name
    name = getattr(engine, "name", None)
    return name if isinstance(name, str) and name else "custom"


def _spec_json(spec: Any) -> Any:
    return spec if spec is None or isinstance(spec, (str, dict, list)) else repr(spec)


def scenario_status(engine: FaultEngine, spec: Any, *, seed: int, index: int, now: float) -> dict[str, Any]:
    """The scenario's name, description, timed windows (relative to its start), the seconds since
    it started (``elapsed_s``, None when the engine keeps no clock) and what happens next."""
    status: dict[str, Any] = {
        "name": scenario_name(engine, spec),
        "description": None,
        "spec": _spec_json(spec),
        "seed": seed,
        "index": index,
        "elapsed_s": None,
        "windows": [],
        "summary": "not a scenario engine: no timeline to show",
        "reset": RESET_HINT,
    }
    if not isinstance(engine, ScenarioEngine):
        return status
    spans = engine.compiled.timeline
    elapsed = engine.elapsed(now)
    t = 0.0 if elapsed is None else elapsed
    status["description"] = engine.compiled.description
    status["elapsed_s"] = elapsed
    status["windows"] = [
        {
            "rules": list(span.what),
            "start_s": span.start_s,
            "end_s": span.end_s,
            "period_s": span.period_s,
            "label": span.label,
            "state": (where := span_status(span, t)).state,
            "status": where.text(),
        }
        for span in spans
    ]
    status["summary"] = summary(spans, t)
    return status


def status_lines(status: dict[str, Any]) -> list[str]:
    """The banner's account of ``status``: name and seed, each window, where the clock stands."""
    elapsed = status["elapsed_s"]
    clock = "clock not started" if elapsed is None else f"{elapsed:.1f} s since start"
    lines = [f"scenario: {status['name']} (seed {status['seed']}; {clock})"]
    for window in status["windows"]:
        lines.append(f"  {window['label']}  {', '.join(window['rules'])}: {window['status']}")
    lines.append(f"  {status['summary']}")
    if status["windows"]:
        lines.append("  GET /_busysignal/scenario says where the clock stands")
        lines.append(f"  {status['reset']}")
    return lines
