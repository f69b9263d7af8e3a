"""The charts' legends sit outside the plotted areas, and the demo chart tells answered from
failed attempts by more than red against green (hatching, labels, lightness)."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.render import CHARTS, chart_figure
from loadtests.report import Series, Window
from mockserver.conformance.report import Timeline
from mockserver.conformance.report import chart_figure as demo_figure

matplotlib = pytest.importorskip("matplotlib")


def overlaps(a: Any, b: Any) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def series(level: float) -> Series:
    t = [float(i) for i in range(30)]
    flat = [level] * 30
    return Series(1.0, t, flat, flat, flat, [min(1.0, level / 10)] * 30, flat)


@pytest.mark.parametrize(("attr", "label"), [(a, label) for a, label, _ in CHARTS])
def test_a_load_test_charts_legend_is_outside_its_plotted_area(attr: str, label: str) -> None:
    # six strategies whose lines run along the top right, where a legend inside would sit
    by_strategy = {f"strategy-{i}": series(10.0 - i * 0.1) for i in range(6)}
    fig = chart_figure(
        attr, label, by_strategy, title="t", trigger=Window(5, 10), overload_window=Window(6, 8), load_end=25
    )
    fig.canvas.draw()
    (ax,) = fig.axes
    assert ax.get_legend() is None
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()][:6] == list(by_strategy)
    assert not overlaps(legend.get_window_extent(), ax.get_window_extent())
    # and the strategies differ by line style and marker, not by colour alone
    lines = ax.get_lines()[:6]
    assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 6


def luminance(rgba: tuple[float, float, float, float]) -> float:
    r, g, b, _ = rgba
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_demo_chart_reads_without_colour_and_its_legend_covers_no_panel() -> None:
    timelines = {
        c: Timeline([0.0, 0.5, 1.0, 1.5], [5, 9, 9, 2], [9, 5, 0, 9])
        for c in ("a-client", "b-client", "c-client")
    }
    fig = demo_figure(timelines, bin_s=0.5, title="demo")
    fig.canvas.draw()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["answered (solid)", "failed (hatched)"]
    for ax in fig.axes:
        assert ax.get_legend() is None
        assert not overlaps(legend.get_window_extent(), ax.get_window_extent())
    first = fig.axes[0]
    answered, failed = first.containers
    assert all(not bar.get_hatch() for bar in answered) and all(bar.get_hatch() for bar in failed)
    # apart in lightness too, so the two read apart in grayscale
    assert abs(luminance(answered[0].get_facecolor()) - luminance(failed[0].get_facecolor())) > 0.2
    assert first.get_title(loc="left") == "a-client: 48 attempts, 25 answered, 23 failed"
