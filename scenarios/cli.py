"""`busysignal scenarios list | show NAME | validate PATH... | schema`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scenarios import library


def _list(args: argparse.Namespace) -> int:
    rows = []
    for name in library.names():
        summary = " ".join(library.load(name).description.split())
        if len(summary) > 90:
            summary = summary[:87].rstrip() + "..."
        rows.append((name, summary))
    width = max(len(n) for n, _ in rows)
    for name, summary in rows:
        print(f"{name:<{width}}  {summary}")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        print(library.text(args.name), end="")
    except KeyError as exc:
        print(f"busysignal scenarios show: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


def _validate(args: argparse.Namespace) -> int:
    # the scenario language (pydantic models) is imported only when a file is validated, so
    # that `busysignal --help` does not wait for it
    from scenarios.loader import load_file
    from scenarios.yamlsource import ScenarioError

    failed = 0
    for path in args.paths:
        try:
            scenario = load_file(path)
        except ScenarioError as exc:
            failed += 1
            print(str(exc), file=sys.stderr)
        else:
            print(f"{path}: ok ({scenario.name}: {len(scenario.rules)} rules)")
    return 1 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    print(library.schema_text(), end="")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scenarios", help="list, show and validate overload scenarios", description=__doc__
    )
    sub = parser.add_subparsers(dest="scenarios_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="the built-in scenarios, with what each models")
    p.set_defaults(func=_list)
    p = sub.add_parser("show", help="print a built-in scenario's YAML")
    p.add_argument("name")
    p.set_defaults(func=_show)
    p = sub.add_parser("validate", help="check scenario files; errors name the file, line and field")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.set_defaults(func=_schema)
