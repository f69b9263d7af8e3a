"""The plugin's documentation holds: every public member of ``mock_api`` is documented, and a
failing assertion's report ends at the test's line, not in the plugin's helpers. (Its examples,
the async ones in pytest-asyncio's strict and auto modes, run as written in tests/examples.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.pytest_plugin import MockAPI

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "mockserver" / "conformance" / "README.md"


def test_every_public_member_of_mock_api_is_documented() -> None:
    text = README.read_text()
    members = [name for name in vars(MockAPI) if not name.startswith("_")] + ["url"]
    assert len(members) > 10
    missing = [name for name in members if f"| `{name}" not in text]
    assert missing == []


FAILING = """
import anthropic, pytest

FAULT = {"error": {"status": 529, "retry_after_ms": 5}}
FAST = {"name": "f", "description": "every request 529", "rules": [{"fault": FAULT}]}

@pytest.mark.busysignal(scenario=FAST)
def test_backs_off(mock_api, anthropic_client):
    with pytest.raises(anthropic.APIStatusError):
        anthropic_client.with_options(max_retries=1).messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    mock_api.assert_backs_off()  # THE TEST'S LINE

@pytest.mark.busysignal(scenario=FAST)
def test_caps_directly(mock_api, anthropic_client):
    from mockserver.conformance.assertions import assert_caps
    with pytest.raises(anthropic.APIStatusError):
        anthropic_client.with_options(max_retries=3).messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert_caps(mock_api.entries(), max_attempts=2)  # THE OTHER TEST'S LINE

@pytest.mark.busysignal(scenario="nowhere/missing.yaml")
def test_missing_scenario(mock_api):
    pass
"""


def test_a_failing_assertion_reports_the_tests_line_and_not_the_plugins_source(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_failing=FAILING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=2, errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            ">       mock_api.assert_backs_off()  # THE TEST'S LINE",
            "E       AssertionError: busysignal check 1 (backs off*): FAIL",
            ">       assert_caps(mock_api.entries(), max_attempts=2)  # THE OTHER TEST'S LINE",
            "E       AssertionError: busysignal check 4 (*): FAIL",
        ]
    )
    assert "busysignal: scenario file not found: nowhere/missing.yaml" in out
    # none of the helpers' frames: no source lines of theirs, no file of theirs
    for internal in ("def require(", "raise AssertionError(", "return assertions.", "return require(",
                     "_marker_scenario(request)", "raise pytest.UsageError("):  # fmt: skip
        assert internal not in out, internal
    assert "conformance/assertions.py" not in out
    assert "pytest_plugin.py" not in out
