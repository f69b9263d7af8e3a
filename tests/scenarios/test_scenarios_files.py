"""Scenario files: every built-in validates, the published schema is current, broken files are
reported with file, line and field, and the CLI lists, shows and validates."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mockserver.faults import ScenarioError, build_engine, load_scenario
from mockserver.faults.engine import ScenarioEngine
from scenarios import cli as scenarios_cli
from scenarios import library
from scenarios.loader import load_file, load_text

CORPUS = Path(__file__).parent / "scenario_corpus"
REQUIRED = {
    "steady", "peak-hours", "launch-day", "major-outage", "one-model-overloaded", "rate-limited",
    "flaky-5xx", "mid-stream-overload", "slow-tokens", "capacity-overload", "retry-after-storm",
    "agent-platform-overloaded",
}  # fmt: skip

# file → (line, column, field path, a fragment of the message)
EXPECTED: dict[str, tuple[int, int, str, str]] = {
    "bad-name.yaml": (1, 1, "name", "should match pattern"),
    "bad-scope.yaml": (6, 7, "rules[0].trigger.scope", "'global', 'api_key' or 'logical' (got 'per_key')"),
    "bad-status.yaml": (5, 5, "rules[0].fault", "HTTP error status 400-599, not 5290"),
    "class-without-models.yaml": (6, 5, "rate_limits.classes.haiku.models", "required field is missing"),
    "duplicate-key.yaml": (6, 5, "", "duplicate key 'fault' (first at line 5)"),
    "duplicate-rule-id.yaml": (3, 1, "rules", "duplicate rule id 'same' (rules[0] and rules[1])"),
    "lognormal-p99-below-median.yaml": (
        6,
        7,
        "rules[0].latency.lognormal",
        "p99_s (1.0) must be above median_s",
    ),
    "missing-description.yaml": (1, 1, "description", "required field is missing"),
    "not-a-mapping.yaml": (1, 1, "", "must be a mapping"),
    "model-not-a-pattern.yaml": (
        4,
        13,
        "rules[0].match.model",
        "valid string (got 5); or Input should be a valid list",
    ),
    "probability-out-of-range.yaml": (
        7,
        15,
        "rules[1].trigger.probability",
        "less than or equal to 1 (got 1.5)",
    ),
    "rule-does-nothing.yaml": (4, 5, "rules[0]", "a rule needs a fault"),
    "sequence-with-probability.yaml": (
        5,
        5,
        "rules[0].trigger",
        "sequence cannot be combined with probability",
    ),
    "stream-fault-typo.yaml": (7, 9, "rules[0].fault.stream.kind", "(got 'error-event')"),
    "two-latency-kinds.yaml": (4, 5, "rules[0].latency", "exactly one of fixed_s, uniform_s, lognormal"),
    "typo-field.yaml": (
        6,
        7,
        "rules[0].trigger.probabilty",
        "unknown field 'probabilty' (did you mean 'probability'?)",
    ),
    "unknown-fault-name.yaml": (6, 5, "rules[0].fault", "unknown fault 'resett'"),
    "unknown-top-level-key.yaml": (3, 1, "rule", "unknown field 'rule' (did you mean 'rules'?)"),
    "window-end-before-start.yaml": (
        6,
        7,
        "rules[0].when.window",
        "end_s (5.0) must be after start_s (10.0)",
    ),
    "wrong-type.yaml": (5, 7, "rules[0].trigger.every", "valid integer"),
    "yaml-syntax.yaml": (5, 38, "", "YAML syntax error"),
    "zero-concurrency.yaml": (6, 7, "capacity.pools[0].concurrency", "greater than or equal to 1 (got 0)"),
}


def test_all_required_builtins_exist() -> None:
    assert set(library.names()) >= REQUIRED


@pytest.mark.parametrize("name", library.names())
def test_every_builtin_validates_and_describes_a_real_situation(name: str) -> None:
    scenario = library.load(name)
    assert scenario.name == name
    assert len(scenario.description.split()) >= 20
    eng = build_engine(name, seed=1)
    assert isinstance(eng, ScenarioEngine) and eng.name == name


def test_builtins_meant_for_tests_keep_retry_after_small() -> None:
    for name in library.names():
        text = library.text(name)
        for line in text.splitlines():
            if "retry_after_s:" in line:
                value = float(line.split("retry_after_s:")[1].split("}")[0].split(",")[0])
                assert value <= 2, (name, line)


def test_published_json_schema_is_the_generated_one() -> None:
    assert library.SCHEMA_PATH.read_text(encoding="utf-8") == library.schema_text()
    schema = json.loads(library.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False and "rules" in schema["properties"]


def test_corpus_is_fully_covered() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("filename", sorted(EXPECTED))
def test_each_broken_file_gives_a_precise_error(filename: str) -> None:
    line, col, field, fragment = EXPECTED[filename]
    path = CORPUS / filename
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    first = str(info.value).splitlines()[0]
    prefix = f"{path}:{line}:{col}: " + (f"{field}: " if field else "")
    assert first.startswith(prefix), first
    assert fragment in first, first


def test_every_error_in_a_file_is_reported() -> None:
    text = "name: x\ndescription: y\nrules:\n  - fault: 5290\n  - trigger: {every: 0}\n    fault: 529\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "two.yaml")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("two.yaml:4:5: rules[0].fault:")
    assert lines[1].startswith("two.yaml:5:15: rules[1].trigger.every:")


def test_build_engine_accepts_every_form_of_reference(tmp_path: Path) -> None:
    text = "name: mine\ndescription: one rule\nrules: [{fault: 529}]\n"
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    specs: list[Any] = [str(path), text, {"name": "mine", "description": "d", "rules": [{"fault": 529}]}]
    for spec in specs:
        eng = build_engine(spec)
        assert isinstance(eng, ScenarioEngine) and eng.name == "mine"
    for spec in (
        "major-outage",
        '{"name": "major-outage"}',
        {"name": "major-outage"},
        "name: major-outage\n",
    ):
        eng = build_engine(spec)
        assert isinstance(eng, ScenarioEngine) and eng.name == "major-outage"
    json_text = json.dumps({"name": "j", "description": "json", "rules": [{"fault": "reset"}]})
    assert load_scenario(json_text).name == "j"
    one_line = "{name: f, description: flow, rules: [{match: {path: /v1/messages}, fault: 529}]}"
    assert load_scenario(one_line).name == "f"
    for spec in [None, "steady", ""]:
        eng = build_engine(spec)
        assert isinstance(eng, ScenarioEngine) and eng.compiled.rules == ()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no-such-scenario", "unknown scenario 'no-such-scenario'"),
        ("missing/file.yaml", "no such scenario file"),
        ({"name": "x", "description": "d", "rules": [{"fault": 7}]}, "<mapping>: rules.0.fault"),
    ],
)
def test_build_engine_refuses_what_it_cannot_load(spec: object, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        build_engine(spec)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def main(argv: list[str]) -> int:
    """The `busysignal` parser with only the scenarios registrar (as mockserver.cli builds it)."""
    parser = argparse.ArgumentParser(prog="busysignal")
    scenarios_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


# Broken files whose fault is between fields (or in the YAML itself): the schema, which checks each
# field on its own, cannot see them; `busysignal scenarios validate` does.
CROSS_FIELD = {
    "duplicate-key.yaml", "duplicate-rule-id.yaml", "lognormal-p99-below-median.yaml",
    "rule-does-nothing.yaml", "sequence-with-probability.yaml", "two-latency-kinds.yaml",
    "window-end-before-start.yaml", "yaml-syntax.yaml",
}  # fmt: skip


def test_an_editor_checking_with_the_published_schema_accepts_every_shipped_scenario() -> None:
    schema = json.loads(library.SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    shipped = sorted(library.SCHEMA_PATH.parent.glob("*.yaml"))
    shipped += sorted((Path(__file__).parents[2] / "loadtests" / "headline").glob("*.yaml"))
    assert len(shipped) >= len(REQUIRED) + 3
    for path in shipped:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
        assert errors == [], f"{path.name}: {errors}"
    # and flags every broken file of the corpus whose fault is in one field
    for name in sorted(EXPECTED):
        if name in CROSS_FIELD:
            continue
        data = yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)), f"the schema accepts {name}"


def test_cli_list_show_validate_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["scenarios", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in REQUIRED)
    assert main(["scenarios", "show", "major-outage"]) == 0
    assert capsys.readouterr().out == library.text("major-outage")
    assert main(["scenarios", "show", "nope"]) == 2
    assert "no built-in scenario 'nope'" in capsys.readouterr().err
    good = library.path("flaky-5xx")
    bad = CORPUS / "typo-field.yaml"
    assert main(["scenarios", "validate", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{good}: ok" in captured.out
    assert f"{bad}:6:7: rules[0].trigger.probabilty: unknown field" in captured.err
    assert main(["scenarios", "schema"]) == 0
    assert capsys.readouterr().out == library.schema_text()
