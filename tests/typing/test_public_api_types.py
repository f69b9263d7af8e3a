"""The public API type-checks as a user writes it: ``mypy --strict`` passes a program over the
public names of ``resilience``, ``mockserver``, ``mockserver.conformance`` and ``scenarios``
(samples/public_api_ok.py, with ``assert_type`` on what they return) and reports every misuse
marked in samples/public_api_errors.py, and nothing else, so the check can fail.

The samples are not test modules (pytest does not collect them) and are outside the packages
the main ``mypy`` run checks. This run uses the same options as the main one, so it shares its
cache (``make test`` runs ``mypy`` first, and this check then takes a second or two)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "samples"
OK, ERRORS = SAMPLES / "public_api_ok.py", SAMPLES / "public_api_errors.py"
MARK = re.compile(r"#\s*E\[([a-z-]+)\]\s*(\S.*)?$")
REPORT = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def expected_errors(path: Path) -> set[tuple[int, str]]:
    """(line, error code) of each line marked ``# E[code] why``; a mark without its reason fails."""
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        mark = MARK.search(line)
        if mark:
            assert mark.group(2), f"{path.name}:{number}: say why this line must not type-check"
            found.add((number, mark.group(1)))
    return found


def reported(output: str, path: Path) -> set[tuple[int, str]]:
    rel = path.relative_to(ROOT).as_posix()
    return {
        (int(m["line"]), m["code"])
        for m in map(REPORT.match, output.splitlines())
        if m is not None and Path(m["file"]).as_posix() == rel
    }


def test_the_public_api_type_checks_and_its_misuses_are_reported() -> None:
    # one mypy run for both samples (two at once would share, and race on, the cache)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--strict",
         "--no-error-summary", "--show-error-codes",
         str(OK.relative_to(ROOT)), str(ERRORS.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert reported(output, OK) == set(), output
    expected = expected_errors(ERRORS)
    assert len(expected) >= 5
    assert reported(output, ERRORS) == expected, output
    stray = [line for line in output.splitlines() if line and not REPORT.match(line)]
    assert stray == [], output  # a crash, a config problem, a note about another file


def test_an_unmarked_misuse_or_a_mark_without_a_reason_is_caught(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("x: int = 'a'  # E[assignment] a str is no int\ny: int = 1  # E[assignment]\n")
    try:
        expected_errors(sample)
    except AssertionError as exc:
        assert "sample.py:2" in str(exc)
    else:
        raise AssertionError("a mark without a reason was accepted")
    fake = f"{ERRORS.relative_to(ROOT)}:3: error: Bad  [arg-type]\nother.py:1: error: Bad  [misc]"
    assert reported(fake, ERRORS) == {(3, "arg-type")}
