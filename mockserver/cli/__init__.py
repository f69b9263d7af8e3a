"""The `busysignal` command line: the umbrella that gathers every verb.

The mock's own verbs live beside it (:mod:`.serve`, :mod:`.verify`, :mod:`.demo`), the others in
their own packages (``scenarios``, ``loadtests``, ``resilience``). Each area of the product
registers its subcommands from its own package, through the entry point group
``busysignal.commands`` (see ``pyproject.toml``), so that the server, the scenario tools, the
conformance kit, the load-test runner and the document runner can grow apart without touching
one shared file, and another distribution can add a verb. An entry point names a registrar, a
function ``register(subparsers)`` that adds one or more subparsers and sets ``func`` on each:
``func(args) -> int`` (the exit code). The umbrella imports no verb by name.

A registrar's module imports argparse and little else: the heavy imports (the SDK, aiohttp, the
conformance kit, Locust's runner, matplotlib) happen inside the verb's ``func``, so that
``busysignal --help`` is fast and works with the runtime dependencies alone. A verb that meets a
missing optional module names the extra that brings it and exits 2. Ctrl-C stops any verb with
exit 130. ``python -m mockserver.cli`` runs it too (``python -m mockserver`` is ``serve``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from mockserver.extras import installed_extras, missing_message

GROUP = "busysignal.commands"
Command = Callable[[argparse.Namespace], int]


def registrars() -> list[EntryPoint]:
    """The entry points of :data:`GROUP`, one per name (the first found wins), by name."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP) or source_tree_registrars():
        found.setdefault(ep.name, ep)
    return [found[name] for name in sorted(found)]


def source_tree_registrars() -> list[EntryPoint]:
    """The group as the checkout's ``pyproject.toml`` declares it: for a source tree whose
    installed metadata predates the group (an editable install made before it existed)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: reinstall instead
        return []
    try:
        data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []
    group = data.get("project", {}).get("entry-points", {}).get(GROUP, {})
    return [EntryPoint(name, value, GROUP) for name, value in group.items()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="busysignal",
        description="Reproduce Anthropic API overload on demand and prove your client survives it.",
        epilog="Exit status 130 after Ctrl-C; 2 for bad input or a missing optional dependency.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    found = registrars()
    if not found:
        parser.epilog = (
            f"No command is registered: the entry points of {GROUP!r} are missing from the installed "
            "metadata (reinstall the package, e.g. pip install -e .)."
        )
    for ep in found:
        try:
            register = ep.load()
        except ImportError as exc:  # a verb from another distribution that cannot be imported
            print(f"busysignal: command {ep.name!r} ({ep.value}) is unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def naming_missing_extras(func: Command, command: str) -> Command:
    """``func``, which turns a missing optional module into a message naming its extra (exit 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ModuleNotFoundError as exc:
            message = missing_message(exc, installed_extras())
            if message is None:
                raise
            print(f"busysignal {command}: {message}", file=sys.stderr)
            return 2

    return run


def _command(args: argparse.Namespace) -> Command | None:
    func: Command | None = getattr(args, "func", None)
    return None if func is None else naming_missing_extras(func, args.command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = _command(args)
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
