"""Hostile scenario text: refused with file, line and field, promptly, never a traceback or a hang.

Anchors and aliases (the "billion laughs"), deep nesting, control characters, a list where a
mapping belongs, text over the size cap, too many rules, FIFOs and devices as files; and values
the schema refuses: non-finite durations, booleans as counts, headers that would break HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.faults import ScenarioError, build_engine, load_scenario
from scenarios import cli as scenarios_cli
from scenarios import library
from scenarios.loader import load_file, load_text
from scenarios.schema import MAX_RULES
from scenarios.yamlsource import MAX_DEPTH, MAX_SCENARIO_BYTES

HEAD = "name: x\ndescription: d\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="busysignal")
    scenarios_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def laughs(levels: int) -> str:
    """The billion laughs: each level is ten aliases of the one before (10**levels strings)."""
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def refusal(text: str, source: str = "f.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        load_text(text, source)
    return str(info.value)


def test_the_billion_laughs_is_refused_at_its_first_anchor() -> None:
    # 10**6 nodes: before, the duplicate-key walk visited every one of them (minutes at 10**9)
    message = refusal(HEAD + "unused:\n" + "".join(f"  {line}\n" for line in laughs(6).splitlines()))
    assert message.startswith("f.yaml:4:7: unused.a0: YAML anchors and aliases"), message


def test_an_unused_anchor_and_a_lone_alias_are_refused_with_line_and_field() -> None:
    assert refusal("name: x\ndescription: &d why\n").startswith("f.yaml:2:14: description: YAML anchors")
    text = HEAD + "rules:\n  - {id: a, fault: 529}\n  - fault: *b\n"
    assert refusal(text).startswith("f.yaml:5:12: rules[1].fault: YAML anchors and aliases")


def test_no_builtin_scenario_uses_anchors_or_aliases() -> None:
    for name in library.names():
        events = yaml.parse(library.text(name), Loader=yaml.SafeLoader)
        assert not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) for e in events), name


def test_deep_nesting_is_an_error_naming_line_and_field_not_a_recursion_error() -> None:
    deep = HEAD + "rules:\n  - match: {headers: {a: " + "[" * 40 + "]" * 40 + "}}\n"
    message = refusal(deep)
    assert message.startswith("f.yaml:4:") and f"deeper than {MAX_DEPTH} levels" in message, message
    assert ": rules[0].match.headers.a[0][0]" in message and "README" in message
    for text in ("a: " + "[" * 3000 + "]" * 3000, '{"a": ' + "[" * 3000 + "]" * 3000 + "}"):
        assert refusal(text).startswith("f.yaml:1:")
    with pytest.raises(ScenarioError):  # and as text given to build_engine (the JSON path)
        build_engine('{"name": "x", "description": "d", "rules": ' + "[" * 3000 + "]" * 3000 + "}")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufffe"])
def test_a_control_character_names_file_line_and_field(char: str) -> None:
    message = refusal(f"name: x\ndescription: a{char}b\n")
    assert message.startswith(f"f.yaml:2:15: description: control character U+{ord(char):04X}"), message


def test_a_control_character_after_non_ascii_text_is_placed_right() -> None:
    message = refusal(f"name: x\ndescription: ééé{chr(0)}\n")
    assert message.startswith("f.yaml:2:17: description: control character U+0000"), message


def test_a_lone_surrogate_from_python_is_a_scenario_error() -> None:
    message = refusal("name: x\ndescription: a\ud800\n")
    assert message == "f.yaml:2:15: description: lone surrogate U+D800 is not allowed in a scenario"


def test_a_list_where_a_scenario_belongs_is_refused_in_every_form() -> None:
    assert refusal("[1, 2, 3]").startswith("f.yaml:1:1: a scenario must be a mapping")
    for spec in ("[1, 2, 3]", '[{"name": "x"}]'):
        with pytest.raises(ScenarioError, match="must be a mapping"):
            load_scenario(spec)
    with pytest.raises(ScenarioError, match="not a list"):
        build_engine([1, 2, 3])  # type: ignore[arg-type]


def test_text_over_the_size_cap_is_refused_naming_the_cap() -> None:
    text = HEAD + "# " + "x" * MAX_SCENARIO_BYTES + "\n"
    message = refusal(text)
    assert message == "f.yaml: the scenario is larger than 1024 KiB (see 'Limits' in scenarios/README.md)"


def test_too_many_rules_is_refused_naming_the_cap() -> None:
    rules = "".join(f"  - {{id: r{i}, fault: 529}}\n" for i in range(MAX_RULES + 1))
    message = refusal(HEAD + "rules:\n" + rules)
    assert message.startswith(f"f.yaml:3:1: rules: {MAX_RULES + 1} rules, more than the {MAX_RULES} allowed")
    assert load_text(HEAD + "rules:\n" + rules.split("\n", 1)[1]).rules[-1].id == f"r{MAX_RULES}"


def test_files_are_read_only_when_regular_and_within_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(HEAD + "#" * MAX_SCENARIO_BYTES, encoding="utf-8")
    with pytest.raises(ScenarioError, match="larger than 1024 KiB"):
        load_file(big)
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_file(tmp_path)
    if sys.platform != "win32":
        with pytest.raises(ScenarioError, match="not a regular file"):
            load_file("/dev/zero")  # before: read until memory ran out
        fifo = tmp_path / "pipe.yaml"
        os.mkfifo(fifo)
        with pytest.raises(ScenarioError, match="not a regular file"):
            load_file(fifo)  # before: blocked forever waiting for a writer
    with pytest.raises(ScenarioError, match="not a file path"):
        load_file("scen\0ario.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"latin.yaml: not UTF-8 text \(byte 24"):
        load_file(latin)


def test_without_allow_paths_a_path_is_refused_unopened(tmp_path: Path) -> None:
    secret = tmp_path / "creds.json"
    secret.write_text('{"secret-token": "hunter2"}\n', encoding="utf-8")
    for spec in (str(secret), {"name": str(secret)}, f"name: {secret}\n", "../scenarios/steady"):
        with pytest.raises(ScenarioError) as info:
            load_scenario(spec, allow_paths=False)  # type: ignore[arg-type]
        assert "hunter2" not in str(info.value) and "secret-token" not in str(info.value)
    with pytest.raises(ScenarioError, match="file paths are not accepted"):
        load_scenario(str(secret), allow_paths=False)
    assert load_scenario("flaky-5xx", allow_paths=False).name == "flaky-5xx"
    assert load_scenario(str(library.path("flaky-5xx"))).name == "flaky-5xx"  # Python may name files


def rule(fault: str = "529", trigger: str = "{}", **extra: str) -> str:
    more = "".join(f", {k}: {v}" for k, v in extra.items())
    return HEAD + f"rules:\n  - {{fault: {fault}, trigger: {trigger}{more}}}\n"


BAD_VALUES: dict[str, tuple[str, str]] = {
    "every-true": (rule(trigger="{every: true}"), "rules[0].trigger.every: Input should be a valid integer"),
    "after-true": (rule(trigger="{after: true}"), "rules[0].trigger.after: Input should be a valid integer"),
    "retry-after-inf": (
        rule("{error: {status: 529, retry_after_s: .inf}}"),
        "rules[0].fault.error.retry_after_s: Input should be a finite number",
    ),
    "retry-after-nan": (
        rule("{error: {status: 529, retry_after_ms: .nan}}"),
        "rules[0].fault.error.retry_after_ms: Input should be a finite number",
    ),
    "retry-after-huge": (
        rule("{error: {status: 529, retry_after_s: 1e300}}"),
        "rules[0].fault.error.retry_after_s: Input should be less than or equal to 86400",
    ),
    "latency-inf": (
        rule(latency="{fixed_s: .inf}"),
        "rules[0].latency.fixed_s: Input should be a finite number",
    ),
    "hang-inf": (
        rule("{connection: {kind: hang, hang_s: .inf}}"),
        "rules[0].fault.connection.hang_s: Input should be a finite number",
    ),
    "window-nan": (
        rule(when="{window: {start_s: 0, end_s: .nan}}"),
        "rules[0].when.window.end_s: Input should be a finite number",
    ),
    "header-crlf": (
        rule('{error: {status: 529, headers: {x-a: "1\\r\\nset-cookie: a=b"}}}'),
        "rules[0].fault.error.headers: header 'x-a': the value holds CR, LF or another control character",
    ),
    "header-name": (
        rule('{error: {status: 529, headers: {"x a": "1"}}}'),
        "rules[0].fault.error.headers: 'x a' is not a valid HTTP header name",
    ),
    "content-length": (
        rule("{error: {status: 529, headers: {content-length: '5'}}}"),
        "rules[0].fault.error.headers: header 'content-length' cannot be set by a fault",
    ),
    "transfer-encoding": (
        rule("{error: {status: 529, headers: {Transfer-Encoding: chunked}}}"),
        "rules[0].fault.error.headers: header 'Transfer-Encoding' cannot be set by a fault",
    ),
    "connection-header": (
        rule("{error: {status: 529, headers: {connection: close}}}"),
        "rules[0].fault.error.headers: header 'connection' cannot be set by a fault",
    ),
}
# what JSON Schema cannot say: it has no "finite number" (an upper bound catches .inf, not .nan),
# and its enum is case-sensitive
SCHEMA_BLIND = {
    "retry-after-nan",
    "latency-inf",
    "hang-inf",
    "window-nan",
    "transfer-encoding",
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_the_schema_refuses_values_that_would_break_the_server(case: str) -> None:
    text, fragment = BAD_VALUES[case]
    message = refusal(text)
    assert message.startswith("f.yaml:4:") and fragment in message, message
    schema = json.loads(library.SCHEMA_PATH.read_text(encoding="utf-8"))
    data: Any = yaml.safe_load(text)
    flagged = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(data))
    assert bool(flagged) is (case not in SCHEMA_BLIND), flagged


def test_ordinary_headers_and_counts_still_load() -> None:
    text = rule("{error: {status: 529, headers: {x-request-tag: 'a b\tc', Retry-After: '3'}}}", "{every: 2}")
    scenario = load_text(text)
    fault = scenario.rules[0].fault
    assert fault is not None and fault.error is not None and fault.error.headers["x-request-tag"] == "a b\tc"
    assert scenario.rules[0].trigger.every == 2


def test_validate_cli_reports_a_billion_laughs_file_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "laughs.yaml"
    bad.write_text(HEAD + laughs(9), encoding="utf-8")
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"name: x\ndescription: a\x00\n")
    good = library.path("steady")
    assert main(["scenarios", "validate", str(bad), str(nul), str(good)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:3:5: a0: YAML anchors and aliases" in captured.err
    assert f"{nul}:2:15: description: control character U+0000" in captured.err
    assert f"{good}: ok" in captured.out and "Traceback" not in captured.err


# any text, and any mutation of a real scenario: a Scenario or a ScenarioError, never anything else
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from([".inf", ".nan"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _loads_or_refuses(text: str) -> None:
    try:
        build_engine(load_text(text, "fuzz.yaml"))  # what loads must also compile
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.yaml"), str(exc)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_is_a_scenario_error(text: str) -> None:
    _loads_or_refuses(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["flaky-5xx", "rate-limited", "capacity-overload"]), st.data())
def test_a_builtin_with_any_field_replaced_loads_or_is_a_scenario_error(
    name: str, data: st.DataObject
) -> None:
    scenario: Any = yaml.safe_load(library.text(name))
    node = scenario
    while True:  # walk down to a random mapping or list and replace one of its values
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if isinstance(node[key], (dict, list)) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = data.draw(_VALUES)
        break
    for text in (yaml.safe_dump(scenario), json.dumps(scenario, allow_nan=True)):
        _loads_or_refuses(text)


def test_the_pure_python_yaml_loader_gives_the_same_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyYAML without libyaml: positions of refused characters are counted in characters, not bytes
    from scenarios import yamlsource

    monkeypatch.setattr(yamlsource, "_Loader", yaml.SafeLoader)
    assert refusal("name: x\ndescription: ééé\x00\n").startswith(
        "f.yaml:2:17: description: control character"
    )
    assert refusal("name: x\ndescription: &d why\n").startswith("f.yaml:2:14: description: YAML anchors")
    deep = HEAD + "rules:\n  - match: {headers: {a: " + "[" * 40 + "]" * 40 + "}}\n"
    assert f"deeper than {MAX_DEPTH} levels" in refusal(deep)
    assert load_text(library.text("launch-day")).name == "launch-day"
