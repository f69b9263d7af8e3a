"""The repository's Markdown links point at files that are in the repository, and the API
reference the README cites is one of them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not listed:  # not a git checkout (an unpacked sdist): every Markdown file outside caches
        return [p for p in ROOT.rglob("*.md") if "node_modules" not in p.parts and ".venv" not in p.parts]
    return [ROOT / name for name in listed]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    targets = [t.split("#")[0] for t in LINK.findall(path.read_text(encoding="utf-8"))]
    local = [t for t in targets if t and not re.match(r"[a-z]+:", t)]
    missing = [t for t in local if not (path.parent / t).exists()]
    assert missing == []


def test_the_readme_cites_the_api_reference_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/anthropic-api.md)" in readme
    reference = (ROOT / "docs" / "anthropic-api.md").read_text(encoding="utf-8")
    assert reference.startswith("# Anthropic Messages API")
