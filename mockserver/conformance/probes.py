"""The probes: small scenarios that put a client in each situation the checks judge (pure data).

A probe is one scenario, a number of client instances, and a number of calls each makes. Every
probe runs on its own mock server, so its journal holds only what the client did there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver.journal import MESSAGES_PATH

# The check thresholds the kit applies to every client (documented in the scorecard).
MAX_ATTEMPTS_PER_CALL = 10
MAX_SECONDS_PER_CALL = 60.0
RETRY_AFTER_MS = 250.0
RETRY_AFTER_S = 1.0


def scenario(name: str, description: str, *rules: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": description, "rules": [dict(r) for r in rules]}


def _match(model: str | None) -> dict[str, Any]:
    """Messages requests, to ``model`` only when one is given."""
    return {"path": MESSAGES_PATH} if model is None else {"path": MESSAGES_PATH, "model": model}


def scripted(seq: list[Any], *, model: str | None = None, rule_id: str = "script") -> dict[str, Any]:
    """Every logical request (a call and its retries) meets ``seq`` in order, then passes."""
    return {"id": rule_id, "match": _match(model), "trigger": {"sequence": seq, "scope": "logical"}}


def always(fault: Any, *, model: str | None = None, rule_id: str = "always") -> dict[str, Any]:
    return {"id": rule_id, "match": _match(model), "fault": fault}


@dataclass(frozen=True)
class Probe:
    name: str
    checks: tuple[int, ...]
    scenario: dict[str, Any]
    clients: int = 1  # independent client instances, started together
    calls: int = 1  # calls per client instance, made concurrently
    stream: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None  # the kit waits at least this long (default: the runner's)


def probes(primary_model: str) -> list[Probe]:
    """The probe set for a client whose primary model is ``primary_model``, family by family."""
    return [*retry_probes(), *refusal_probes(), fallback_probe(primary_model), *survival_probes()]


def retry_probes() -> list[Probe]:
    """Checks 1 to 4: how a client waits and when it stops (529s, 429s with retry hints, an outage)."""
    return [
        Probe(
            "backoff",
            (1,),
            scenario("probe-backoff", "three 529s, then success, per call", scripted([529, 529, 529, "ok"])),
            clients=8,
        ),
        Probe(
            "retry-after-ms",
            (2,),
            scenario(
                "probe-retry-after-ms",
                "one 429 asking for 250 ms (retry-after-ms) and 1 s (retry-after), then success",
                scripted(
                    [
                        {"error": {"status": 429, "retry_after_ms": RETRY_AFTER_MS, "retry_after_s": 1}},
                        "ok",
                    ]
                ),
            ),
        ),
        Probe(
            "retry-after",
            (2,),
            scenario(
                "probe-retry-after",
                "one 429 asking for 1 s (retry-after only), then success",
                scripted([{"error": {"status": 429, "retry_after_s": RETRY_AFTER_S}}, "ok"]),
            ),
        ),
        Probe(
            "burst",
            (3,),
            scenario(
                "probe-burst",
                "every client meets the same burst of four 529s",
                scripted([529, 529, 529, 529, "ok"]),
            ),
            clients=12,
        ),
        Probe(
            "outage",
            (4,),
            scenario("probe-outage", "a permanent outage: every request gets 529", always(529)),
            calls=2,
            # longer than the cap, so that a client that never stops shows it in the journal
            timeout_s=MAX_SECONDS_PER_CALL + 5,
        ),
    ]


def _refusal(name: str, fault: int | str, description: str, *, rule_id: str = "always") -> Probe:
    return Probe(name, (5, 6), scenario(name, description, always(fault, rule_id=rule_id)))


def refusal_probes() -> list[Probe]:
    """Checks 5 and 6: a refusal is never retried, nor fallen back from."""
    statuses = [
        _refusal(f"refusal-{s}", s, f"every request is refused with {s}") for s in (400, 401, 403, 404, 413)
    ]
    spend_limit = _refusal(
        "refusal-spend-limit",
        "spend_limit",
        "the organisation hit its spend limit: 429 with x-should-retry: false",
        rule_id="spend-limit",
    )
    return [*statuses, spend_limit]


def fallback_probe(primary_model: str) -> Probe:
    """Check 6: the primary model is overloaded, the others are fine."""
    return Probe(
        "fallback",
        (6,),
        scenario(
            "probe-fallback",
            "the primary model is overloaded (529), every other model is fine",
            always(529, model=primary_model),
        ),
        calls=2,
    )


def _first_attempt_breaks(
    name: str, scenario_name: str, fault: str, description: str, *, stream: bool
) -> Probe:
    """The first attempt of each call meets ``fault``, the next one passes."""
    return Probe(name, (8,), scenario(scenario_name, description, scripted([fault, "ok"])), stream=stream)


def survival_probes() -> list[Probe]:
    """Check 8: a client survives a stream or a connection that breaks under it."""
    return [
        _first_attempt_breaks(
            "mid-stream-error",
            "probe-mid-stream",
            "stream_error_event",
            "the first stream of each call breaks with an overloaded_error event",
            stream=True,
        ),
        _first_attempt_breaks(
            "dropped-connection",
            "probe-reset",
            "reset",
            "the first attempt of each call has its connection reset",
            stream=False,
        ),
        _first_attempt_breaks(
            "dropped-stream",
            "probe-stream-cut",
            "stream_cut",
            "the first stream of each call is cut (connection dropped) after three events",
            stream=True,
        ),
    ]
