"""Outcome figures and scorecard rendering."""

from __future__ import annotations

import math
import re

import pytest

from mockserver.conformance import Verdict, parse_entries
from mockserver.conformance.outcomes import outcome, percentile
from mockserver.conformance.scorecard import render_outcomes, render_scorecard
from mockserver.conformance.verdicts import CheckResult


def _row(
    seq: int, start: float, status: int, prompt: str, model: str, latency: float = 0.1
) -> dict[str, object]:
    return {
        "seq": seq, "request_id": f"req_{seq}", "method": "POST", "path": "/v1/messages",
        "wall_start": start, "start": start, "end": start + latency, "model": model, "api_key_id": "k",
        "retry_count": 0, "body_digest": prompt + model, "prompt_digest": prompt,
        "logical_id": prompt + model, "stream": False, "status": status, "error_type": None,
        "fault": None if status == 200 else "http_error", "reason": {}, "bytes_sent": 1,
        "events_sent": 0, "client_gone": False, "headers": {},
    }  # fmt: skip


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 95) == 95.0
    assert math.isnan(percentile([], 95))
    with pytest.raises(ValueError, match="within"):
        percentile([1.0], 101)


def test_outcome_counts_success_attempts_latency_and_answering_model() -> None:
    entries = parse_entries(
        [
            _row(0, 0.0, 529, "a", "claude-sonnet-5-5"),
            _row(1, 0.5, 200, "a", "claude-haiku-5-5"),
            _row(2, 1.0, 200, "b", "claude-sonnet-5-5"),
            _row(3, 2.0, 529, "c", "claude-sonnet-5-5"),
        ]
    )
    o = outcome("x", entries)
    assert (o.calls, o.succeeded, o.attempts) == (3, 2, 4)
    assert o.success_rate == pytest.approx(2 / 3)
    assert o.attempts_per_success == 2.0
    assert o.p95_latency_s == pytest.approx(0.6)
    assert o.answered_by == {"claude-haiku-5-5": 1, "claude-sonnet-5-5": 1}
    table = render_outcomes([o])
    assert "2/3" in table and "67%" in table and "0.60 s" in table


def test_scorecard_lists_every_client_and_the_measured_figures() -> None:
    results = {
        "good": [CheckResult(1, "backs-off", "backs off", Verdict.PASS, "0.5 → 1 s", "fine")],
        "bad": [CheckResult(1, "backs-off", "backs off", Verdict.FAIL, "0.5 → 0.5 s", "no growth")],
    }
    text = render_scorecard(results)
    assert "good" in text.splitlines()[0] and "bad" in text.splitlines()[0]
    assert "[FAIL] 1. backs off" in text and "measured: 0.5 → 0.5 s" in text
    assert re.search(r"^1\. backs off \(floor, growth\) +PASS +FAIL$", text, re.M)
    brief = render_scorecard(results, only_failures=True)
    assert "good:" not in brief and "bad:" in brief
    md = render_scorecard(results, markdown=True)
    assert md.startswith("| check | good | bad |")
    assert "- **FAIL** 1. backs off — 0.5 → 0.5 s. no growth" in md
