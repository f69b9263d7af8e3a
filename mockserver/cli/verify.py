"""`busysignal verify --client module:factory`: run the conformance kit and print a scorecard.

The registrar needs only the catalogue's names and the probes' (pure data); the kit itself is
imported when the verb runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from mockserver.clients.names import BY_NAME, canonical
from mockserver.conformance.probes import MAX_SECONDS_PER_CALL, probes

if TYPE_CHECKING:
    from mockserver.conformance.runner import ClientFactory, Verification

# Reference clients that can be named without a module path (the catalogue's names).
REFERENCE_CLIENTS: dict[str, str] = {name: c.factory for name, c in BY_NAME.items()}


class FactoryError(ValueError):
    """A --client value that does not name a usable factory."""


def load_factory(spec: str) -> ClientFactory:
    """``module:attr`` (attr may be dotted) or a reference client's short name. The module is
    imported with the current folder on ``sys.path``, as pytest and uvicorn do."""
    target = REFERENCE_CLIENTS.get(canonical(spec), spec)
    if ":" not in target:
        raise FactoryError(
            f"--client {spec!r}: expected module:factory (e.g. myapp.llm:make_client) "
            f"or one of {', '.join(REFERENCE_CLIENTS)}"
        )
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryError(f"--client {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FactoryError(
                f"--client {spec!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise FactoryError(
            f"--client {spec!r}: {attr!r} is not callable (a factory takes the mock's base URL)"
        )
    factory: Callable[[str], Any] = obj
    return factory


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="judge a client's retry, jitter and fallback behaviour against the mock",
        description=(
            "Run a client (a factory taking the mock's base URL) through the conformance probes, "
            "each on its own mock server, and print a scorecard judged from the servers' journals. "
            "Exit status 1 when any check fails or when nothing could be judged."
        ),
    )
    parser.add_argument(
        "--client",
        action="append",
        required=True,
        metavar="MODULE:FACTORY",
        help=f"client factory (repeatable); or a reference client: {', '.join(REFERENCE_CLIENTS)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the mock servers (default 0)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=45.0,
        help="seconds the kit waits for one probe (default 45; the outage probe at least"
        f" {MAX_SECONDS_PER_CALL + 5:g}, longer than the time cap)",
    )
    parser.add_argument(
        "--probe",
        action="append",
        default=None,
        metavar="NAME",
        help=f"run only this probe (repeatable): {', '.join(p.name for p in probes('-'))}",
    )
    parser.add_argument("--markdown", action="store_true", help="print the scorecard as Markdown")
    parser.add_argument("--quiet", action="store_true", help="print only the scorecard (and errors)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    # the kit and what it drives (the SDK, the servers) are imported when the verb runs, not for --help
    from mockserver.conformance.runner import verify
    from mockserver.conformance.scorecard import render_scorecard

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        factories = [(spec, load_factory(spec)) for spec in args.client]
    except FactoryError as exc:
        print(f"busysignal verify: {exc}", file=err)
        return 2
    known = [p.name for p in probes("-")]
    unknown = [p for p in (args.probe or []) if p not in known]
    if unknown:
        print(f"busysignal verify: unknown probe(s) {unknown}; choose from {', '.join(known)}", file=err)
        return 2

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"  … {line}", file=err, flush=True)

    verifications: list[Verification] = []
    for spec, factory in factories:
        started = time.monotonic()
        if not args.quiet:
            print(f"verifying {spec} …", file=err, flush=True)
        try:
            v = verify(factory, seed=args.seed, timeout_s=args.timeout, progress=progress, only=args.probe)
        except ModuleNotFoundError:
            raise  # an optional dependency the client needs: the command line names its extra
        except Exception as exc:
            print(
                f"busysignal verify: client {spec!r} could not be run: {type(exc).__name__}: {exc}", file=err
            )
            return 2
        verifications.append(v)
        if not args.quiet:
            print(
                f"verified {v.client} in {time.monotonic() - started:.1f} s: {v.score}", file=err, flush=True
            )
    results = {v.client: v.results for v in verifications}
    print(render_scorecard(results, markdown=args.markdown), file=out)
    return 0 if all(v.passed for v in verifications) else 1
