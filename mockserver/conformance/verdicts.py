"""A check's verdict and result, the checks' titles, and a client's score (pure data).

``N/A`` means the journal held nothing the check could judge (e.g. a single-model client has no
fallback to judge). It is not a failure, and it is not a pass either: a score counts the judged
checks apart, and a client with nothing judged has not passed anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "N/A"


@dataclass(frozen=True, slots=True)
class CheckResult:
    number: int
    name: str
    title: str
    verdict: Verdict
    measured: str
    explanation: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True unless the check failed (N/A does not fail a client; see :class:`Score`)."""
        return self.verdict is not Verdict.FAIL


# number -> (name, title, the short label of the scorecard's grid)
TITLES: dict[int, tuple[str, str, str]] = {
    1: ("backs-off", "backs off: gaps between attempts have a floor and grow", "backs off (floor, growth)"),
    2: ("retry-after", "honours retry-after and retry-after-ms", "honours retry-after"),
    3: ("jitter", "jitters: retries after a shared 529 burst spread out", "jitters"),
    4: ("caps", "caps its attempts and its total time", "caps attempts and time"),
    5: (
        "no-forbidden-retries",
        "never retries 400/401/403/404/413 or a spend-limit 429",
        "never retries a 4xx refusal",
    ),
    6: (
        "fallback",
        "falls back in the configured order, only on overload/server errors",
        "falls back in order",
    ),
    7: (
        "no-stacking",
        "does not stack retry layers (attempts per logical request <= claimed)",
        "no stacked retry layers",
    ),
    8: (
        "survives",
        "survives a mid-stream overloaded_error and a dropped connection",
        "survives stream/conn drops",
    ),
}


def result(number: int, verdict: Verdict, measured: str, explanation: str, **details: Any) -> CheckResult:
    """Check ``number``'s result, named and titled from :data:`TITLES`."""
    name, title, _short = TITLES[number]
    return CheckResult(number, name, title, verdict, measured, explanation, details)


@dataclass(frozen=True, slots=True)
class Score:
    """How many checks passed, of how many were judged, and how many were N/A."""

    passed: int
    judged: int
    not_applicable: int

    @classmethod
    def of(cls, results: Sequence[CheckResult]) -> Score:
        judged = [r for r in results if r.verdict is not Verdict.NOT_APPLICABLE]
        return cls(
            passed=sum(1 for r in judged if r.verdict is Verdict.PASS),
            judged=len(judged),
            not_applicable=len(results) - len(judged),
        )

    @property
    def ok(self) -> bool:
        """Every judged check passed, and at least one was judged."""
        return self.judged > 0 and self.passed == self.judged

    def __str__(self) -> str:
        return f"{self.passed}/{self.judged} judged, {self.not_applicable} n/a"
