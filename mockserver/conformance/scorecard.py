"""Render check results and outcomes as plain text (terminal) or Markdown (reports)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mockserver.conformance.outcomes import Outcome
from mockserver.conformance.verdicts import TITLES, CheckResult, Score, Verdict

_MARK = {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.NOT_APPLICABLE: "n/a"}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out.extend("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows)
    return out


def verdict_rows(results: Mapping[str, Sequence[CheckResult]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for number in sorted(TITLES):
        row = [f"{number}. {TITLES[number][2]}"]
        for client_results in results.values():
            found = [r for r in client_results if r.number == number]
            row.append(_MARK[found[0].verdict] if found else "-")
        rows.append(row)
    # passed of judged, and N/A apart: an N/A is neither a pass nor a failure
    rows.append(["score", *(str(Score.of(client_results)) for client_results in results.values())])
    return rows


def render_scorecard(
    results: Mapping[str, Sequence[CheckResult]], *, markdown: bool = False, only_failures: bool = False
) -> str:
    """A check × client grid, then each result's measured figure and explanation (with
    ``only_failures``, just those of the failed checks)."""
    header = ["check", *results.keys()]
    rows = verdict_rows(results)
    lines = _md_table(header, rows) if markdown else _table(header, rows)
    for client, client_results in results.items():
        shown = [r for r in client_results if not (only_failures and r.passed)]
        if not shown:
            continue
        lines.append("")
        lines.append(f"### {client}" if markdown else f"{client}:")
        for r in sorted(shown, key=lambda x: x.number):
            mark = _MARK[r.verdict]
            if markdown:
                lines.append(f"- **{mark}** {r.number}. {r.title} — {r.measured}. {r.explanation}")
            else:
                lines.append(f"  [{mark:>4}] {r.number}. {r.title}")
                lines.append(f"         measured: {r.measured}")
                lines.append(f"         {r.explanation}")
    return "\n".join(lines)


def _fmt_s(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f} s"


def outcome_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    rows = []
    for o in outcomes:
        aps = "-" if math.isinf(o.attempts_per_success) else f"{o.attempts_per_success:.2f}"
        models = ", ".join(f"{m} {n}" for m, n in o.answered_by.items()) or "-"
        rate = "-" if math.isnan(o.success_rate) else f"{o.success_rate:.0%}"
        rows.append([o.client, f"{o.succeeded}/{o.calls}", rate, aps, _fmt_s(o.p95_latency_s), models])
    return rows


OUTCOME_HEADER = ["client", "answered", "success", "attempts/success", "p95 latency", "answered by"]


def render_outcomes(outcomes: Sequence[Outcome], *, markdown: bool = False) -> str:
    rows = outcome_rows(outcomes)
    return "\n".join(_md_table(OUTCOME_HEADER, rows) if markdown else _table(OUTCOME_HEADER, rows))
