"""The one rule that tells a scenario file's path from a built-in name or YAML text."""

from __future__ import annotations

import pytest

from scenarios.library import is_path


@pytest.mark.parametrize(
    "spec", ["mine.yaml", "mine.yml", "mine.json", "dir/mine", "./steady", "C:\\scenarios\\mine"]
)
def test_paths_are_told_by_their_suffix_or_a_separator(spec: str) -> None:
    assert is_path(spec)


@pytest.mark.parametrize("spec", ["steady", "launch-day", "name: x\ndescription: y.yaml", "a.yaml\n"])
def test_names_and_yaml_text_are_not_paths(spec: str) -> None:
    assert not is_path(spec)
