"""Turn a scenario reference into a validated :class:`~scenarios.schema.Scenario`.

``load_scenario(spec)`` accepts a built-in scenario name, a path to a YAML (or JSON) file, YAML/JSON
text, ``{"name": NAME}`` (as text or mapping), or an already parsed scenario mapping. Anything that
cannot be loaded raises :class:`ScenarioError` naming the file, the line and the field.

File paths are for the command line and Python only: ``load_scenario(spec, allow_paths=False)``
(what the control plane's ``PUT /_busysignal/scenario`` uses) loads built-in names and scenario
text, and never opens a file named by its input. Files are read only when they are regular files
of at most ``MAX_SCENARIO_BYTES`` (never a FIFO or a device), and a scenario has at most
``MAX_RULES`` rules.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scenarios.library import HERE, is_path, names
from scenarios.schema import MAX_RULES, Scenario
from scenarios.yamlsource import (
    LIMITS_DOC,
    MAX_SCENARIO_BYTES,
    ScenarioError,
    SourceMap,
    format_validation_error,
    parse_yaml,
    too_large,
)

NO_PATHS = (
    "file paths are not accepted here; send the scenario's YAML or JSON text, or the name of a built-in"
)


def _check_rule_count(data: Mapping[Any, Any], smap: SourceMap | None) -> None:
    rules = data.get("rules")
    if isinstance(rules, list) and len(rules) > MAX_RULES:
        line, col, _ = smap.locate(["rules"], missing=False) if smap is not None else (None, None, "")
        source = smap.source if smap is not None else "<mapping>"
        where = f"{source}:{line}:{col}" if line is not None else source
        raise ScenarioError(
            f"{where}: rules: {len(rules)} rules, more than the {MAX_RULES} allowed ({LIMITS_DOC})"
        )


def validate_mapping(data: Any, smap: SourceMap | None) -> Scenario:
    source = smap.source if smap is not None else "<mapping>"
    if not isinstance(data, Mapping):
        where = source
        if smap is not None and smap.root is not None:
            where = f"{source}:{smap.root.start_mark.line + 1}:{smap.root.start_mark.column + 1}"
        kind = type(data).__name__
        raise ScenarioError(
            f"{where}: a scenario must be a mapping (name, description, rules ...), not a {kind}"
        )
    _check_rule_count(data, smap)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, smap, Scenario)) from None


def parse_text(text: str, source: str) -> tuple[Any, SourceMap]:
    """YAML (JSON is YAML); JSON that YAML refuses (tab indentation) is read as JSON, without lines."""
    try:
        return parse_yaml(text, source)
    except ScenarioError as yaml_error:
        if not text.lstrip().startswith(("{", "[")) or "syntax error" not in str(yaml_error):
            raise
        try:
            return json.loads(text), SourceMap(source, None)
        except (ValueError, RecursionError):
            raise yaml_error from None


def load_text(text: str, source: str = "<text>", *, allow_paths: bool = False) -> Scenario:
    """A Scenario from YAML/JSON text; ``{name: NAME}`` alone names a built-in (or, with
    ``allow_paths``, a file)."""
    data, smap = parse_text(text, source)
    if isinstance(data, Mapping) and set(data) == {"name"} and isinstance(data["name"], str):
        return load_scenario(data["name"], allow_paths=allow_paths)
    return validate_mapping(data, smap)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := os.read(fd, min(limit - size, 1 << 16))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_scenario_file(path: str | Path) -> str:
    """The text of a scenario file: a regular file of at most MAX_SCENARIO_BYTES, in UTF-8.

    Opened without blocking (a FIFO never stalls the caller) and read no further than the cap
    (``/dev/zero`` is refused, not read until memory runs out). Errors never quote the file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read the scenario file: {exc.strerror}") from None
    except ValueError:  # a NUL in the path (only a Python caller can pass one)
        raise ScenarioError(f"{str(p)[:200]!r}: not a file path") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ScenarioError(f"{p}: not a regular file; a scenario is a YAML or JSON file")
        data = _read_at_most(fd, MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read the scenario file: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SCENARIO_BYTES:
        raise too_large(str(p))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def load_file(path: str | Path) -> Scenario:
    return load_text(read_scenario_file(path), str(path), allow_paths=True)


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # a name too long for a path, or with a NUL in it
        return False


def load_scenario(spec: str | Mapping[str, Any], *, allow_paths: bool = True) -> Scenario:
    """A validated Scenario from a built-in name, a path, YAML/JSON text or a mapping.

    With ``allow_paths=False`` (the control plane) a path is refused without being looked at."""
    if isinstance(spec, Mapping):
        if set(spec) == {"name"} and isinstance(spec["name"], str):
            return load_scenario(spec["name"], allow_paths=allow_paths)
        return validate_mapping(spec, None)
    if not isinstance(spec, str):
        raise ScenarioError(
            f"a scenario is a built-in name, YAML or JSON text or a mapping, not a {type(spec).__name__}"
        )
    name = spec.strip()
    if name in names():
        return load_file(HERE / f"{name}.yaml")
    if "\n" in name or name.startswith(("{", "[")):
        return load_text(spec, allow_paths=allow_paths)
    if allow_paths and (is_path(name) or _is_file(name)):
        return load_file(name)
    if ":" in name:
        return load_text(spec, allow_paths=allow_paths)
    if not allow_paths and is_path(name):
        raise ScenarioError(f"scenario {name[:200]!r}: {NO_PATHS}")
    raise ScenarioError(
        f"unknown scenario {name[:200]!r}: not a built-in ({', '.join(names())})"
        + (" nor a file" if allow_paths else "")
    )
