"""The demo's report: a Markdown page, a PNG of attempts over time per client, the journals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver.conformance.outcomes import Outcome
from mockserver.conformance.scorecard import render_outcomes, render_scorecard
from mockserver.conformance.verdicts import CheckResult
from mockserver.journal import JournalEntry, entries_to_jsonl, generation_entries

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, slots=True)
class Timeline:
    """Attempts per time bin: ``answered[i]`` successful and ``failed[i]`` failed attempts that
    started in ``[edges[i], edges[i] + bin_s)`` seconds after ``t0``."""

    edges: list[float]
    answered: list[int]
    failed: list[int]


def attempts_timeline(entries: Sequence[JournalEntry], *, t0: float, bin_s: float, end_s: float) -> Timeline:
    """Pure binning of attempt start times."""
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    n = max(1, math.ceil(end_s / bin_s))
    answered = [0] * n
    failed = [0] * n
    for e in generation_entries(entries):
        i = min(n - 1, max(0, int((e.start - t0) // bin_s)))
        if e.succeeded:
            answered[i] += 1
        else:
            failed[i] += 1
    return Timeline([i * bin_s for i in range(n)], answered, failed)


# answered and failed differ in colour (blue and orange, apart for colour-blind readers and in
# lightness for grayscale), in fill (failed bars are hatched) and in their legend labels
ANSWERED_STYLE: Mapping[str, Any] = {"color": "#0072B2", "label": "answered (solid)"}
FAILED_STYLE: Mapping[str, Any] = {
    "color": "#E69F00",
    "hatch": "////",
    "edgecolor": "#3d2a00",
    "linewidth": 0.0,
    "label": "failed (hatched)",
}


def chart_figure(timelines: Mapping[str, Timeline], *, bin_s: float, title: str) -> Figure:
    """One panel per client: stacked bars of answered and failed attempts per bin; the legend
    above the panels, outside every plotted area."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(timelines)
    fig, axes = plt.subplots(
        n, 1, figsize=(10, 1.9 * n + 1.2), sharex=True, squeeze=False, layout="constrained"
    )
    peak = max(
        (max(a + f for a, f in zip(t.answered, t.failed, strict=True)) for t in timelines.values()), default=1
    )
    for ax, (client, t) in zip(axes[:, 0], timelines.items(), strict=True):
        ax.bar(t.edges, t.answered, width=bin_s, align="edge", **ANSWERED_STYLE)
        ax.bar(t.edges, t.failed, width=bin_s, align="edge", bottom=t.answered, **FAILED_STYLE)
        ax.set_ylabel("attempts", fontsize=8)
        ax.set_ylim(0, peak * 1.1 + 0.5)
        answered, failed = sum(t.answered), sum(t.failed)
        ax.set_title(
            f"{client}: {answered + failed} attempts, {answered} answered, {failed} failed",
            fontsize=9,
            loc="left",
        )
        ax.tick_params(labelsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", fontsize=8, ncol=2)
    axes[-1, 0].set_xlabel(f"seconds since the first call (bins of {bin_s:g} s)")
    fig.suptitle(title, fontsize=10)
    return fig


def write_chart(path: Path, timelines: Mapping[str, Timeline], *, bin_s: float, title: str) -> Path:
    """The chart of :func:`chart_figure` as a PNG."""
    fig = chart_figure(timelines, bin_s=bin_s, title=title)
    import matplotlib.pyplot as plt  # after chart_figure chose the Agg backend

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_journal(path: Path, entries: Sequence[JournalEntry]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(entries_to_jsonl(entries))
    return path


def markdown_report(
    *,
    scenario: str,
    scenario_description: str,
    command: str,
    results: Mapping[str, Sequence[CheckResult]],
    outcomes: Sequence[Outcome],
    chart_name: str,
    journal_names: Mapping[str, str],
    notes: Sequence[str],
) -> str:
    lines = [
        "# busysignal demo report",
        "",
        f"Reproduce: `{command}`",
        "",
        f"## Workload on the `{scenario}` scenario",
        "",
        scenario_description.strip(),
        "",
        render_outcomes(outcomes, markdown=True),
        "",
        "success: calls answered; attempts/success: requests the server saw per answered call; "
        "p95 latency: from a call's first attempt to its answer (or to its last attempt); "
        "answered by: the model whose response reached the caller. All from the server's journal.",
        "",
        f"![attempts over time per client]({chart_name})",
        "",
        "## Conformance scorecard",
        "",
        render_scorecard(results, markdown=True),
        "",
    ]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Journals", "", *[f"- {c}: `{name}`" for c, name in journal_names.items()], ""]
    return "\n".join(lines)
