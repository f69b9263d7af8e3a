"""The `busysignal` command line.

Each area of the product registers its own subcommands from its own module, so that the
server, the scenario tools, the conformance kit and the load-test runner can grow apart
without touching one shared file. A registrar is a function ``register(subparsers)`` that
adds one or more subparsers and sets ``func`` on each: ``func(args) -> int`` (exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module paths of the registrars; a module that is missing (an optional part not yet
# installed) is skipped, any other import error is raised.
REGISTRARS: tuple[str, ...] = (
    "mockserver.cli_serve",
    "scenarios.cli",
    "mockserver.cli_verify",
    "mockserver.cli_demo",
    "loadtests.cli",
    "resilience.cli_batch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="busysignal",
        description="Reproduce Anthropic API overload on demand and prove your client survives it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in REGISTRARS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result: int = func(args)
    except KeyboardInterrupt:
        print("busysignal: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
