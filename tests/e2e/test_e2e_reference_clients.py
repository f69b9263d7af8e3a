"""`busysignal verify` on the reference clients, on real mock servers: the scorecard, its score
and exit status, --quiet, --probe and bad factories. The check-by-check verdicts of the reference
clients are in tests/mockserver/conformance/test_conformance_every_check.py."""

from __future__ import annotations

import re

import pytest

from mockserver.cli import main


def test_verify_cli_prints_a_scorecard_and_fails_on_a_failed_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["verify", "--client", "mockserver.clients:sdk_defaults", "--quiet"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 1
    assert captured.err == ""  # --quiet: nothing but the scorecard
    assert out.splitlines()[0].split() == ["check", "sdk-defaults"]
    assert "[FAIL] 8. survives a mid-stream overloaded_error and a dropped connection" in out
    assert "[ n/a] 6. falls back in the configured order" in out  # a single model: honestly n/a
    assert re.search(r"^score +6/7 judged, 1 n/a$", out, re.M), out


def test_verify_cli_names_a_bad_factory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--client", "mockserver.clients:no_such_client"]) == 2
    assert "has no attribute 'no_such_client'" in capsys.readouterr().err
    assert main(["verify", "--client", "just-a-name"]) == 2
    assert "expected module:factory" in capsys.readouterr().err
    assert main(["verify", "--client", "sdk-defaults", "--probe", "nope"]) == 2
    assert "unknown probe(s) ['nope']" in capsys.readouterr().err


def test_verify_cli_runs_only_the_probes_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--client", "fallback-loop", "--probe", "refusal-400", "--markdown", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("| check | fallback-loop |")
    assert "- **FAIL** 6. falls back in the configured order" in out
    assert "| 1. backs off (floor, growth) | - |" in out
