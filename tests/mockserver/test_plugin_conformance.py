"""The conformance kit as a fixture, and the mock_api assertions, in this very test session
(the plugin is loaded by its entry point here too)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from mockserver.clients import article_recipe_fast, sdk_defaults
from mockserver.pytest_plugin import Conformance, MockAPI


def test_assert_conforms_passes_a_client_that_passes(busysignal_conformance: Conformance) -> None:
    v = busysignal_conformance.assert_conforms(sdk_defaults, only=["refusal-400", "refusal-404"])
    assert {r.number for r in v.results} == {5, 6, 7}


def test_assert_conforms_fails_with_the_scorecard(busysignal_conformance: Conformance) -> None:
    with pytest.raises(AssertionError) as info:
        busysignal_conformance.assert_conforms(article_recipe_fast, only=["refusal-400"])
    text = str(info.value)
    assert "fails check(s) 5" in text
    assert "[FAIL] 5. never retries" in text and "retried 400 ×4" in text


def test_assert_conforms_fails_a_run_in_which_nothing_was_judged(busysignal_conformance: Conformance) -> None:
    # a single-model client: fallback is n/a, and the one judged check (7) is allowed away
    with pytest.raises(AssertionError, match="was not judged: every check outside allow= was n/a"):
        busysignal_conformance.assert_conforms(sdk_defaults, only=["fallback"], allow=[7])


@pytest.mark.busysignal(scenario={"name": "r", "description": "d", "rules": [{"fault": 400}]})
def test_mock_api_assertions_pass_and_fail_with_the_figure(mock_api: MockAPI, anthropic_client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.messages.create(
            model="claude-haiku-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert mock_api.assert_no_forbidden_retries().measured == "0 retries of 1 refusals (400)"
    with pytest.raises(AssertionError, match=r"check 1 \(backs off.*N/A\n  measured: no retries"):
        mock_api.assert_backs_off()
