"""`busysignal serve`: run the mock in the foreground, one log line per request."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from mockserver.config import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    SERVE_BATCH_PROCESSING_S,
    SERVE_TOKENS_PER_S,
    SERVE_TTFT_S,
    ServerConfig,
)
from mockserver.journal import DEFAULT_JOURNAL_SIZE, JournalEntry

# in-flight requests (streams, hanging faults) get this long on SIGINT/SIGTERM, and aiohttp as
# long again to cancel them: a Ctrl-C stops the server within about a second
SHUTDOWN_GRACE_S = 0.5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the mock Anthropic Messages API",
        description=(
            "Serve the mock Messages API. Defaults are realistic but short: "
            f"{SERVE_TTFT_S}s to the first token, then {SERVE_TOKENS_PER_S:g} tokens/s; "
            f"batches end {SERVE_BATCH_PROCESSING_S:g}s after creation. Ctrl-C stops it (exit 130, "
            f"SIGTERM: exit 0), giving requests in flight {SHUTDOWN_GRACE_S:g} s."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for content and the fault engine (default %(default)s)"
    )
    parser.add_argument("--scenario", default=None, help="built-in scenario name or path to a scenario file")
    parser.add_argument(
        "--ttft", type=float, default=SERVE_TTFT_S, help="seconds to the first token (default %(default)s)"
    )
    parser.add_argument(
        "--tps",
        type=float,
        default=SERVE_TOKENS_PER_S,
        help="output tokens per second, 0 for no pacing (default %(default)s)",
    )
    parser.add_argument(
        "--journal-size", type=int, default=DEFAULT_JOURNAL_SIZE, help="journal ring buffer size"
    )
    parser.add_argument(
        "--batch-seconds", type=float, default=SERVE_BATCH_PROCESSING_S, help="batch processing time"
    )
    parser.add_argument(
        "--models", default=None, help="model catalogue file (JSON or YAML) replacing the default"
    )
    parser.add_argument("--no-auth", action="store_true", help="accept requests without an API key")
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="accept what the real API refuses beyond the body's shape: unknown anthropic-beta "
        "values, temperature other than 1 and top_k on the models that fix sampling",
    )
    parser.add_argument(
        "--api-key", action="append", default=None, metavar="K", help="accept only this key (repeatable)"
    )
    parser.add_argument(
        "--control-token",
        default=None,
        help="token the control plane demands (required off loopback); visible in ps, so prefer "
        "--control-token-file or $BUSYSIGNAL_CONTROL_TOKEN",
    )
    parser.add_argument(
        "--control-token-file",
        default=None,
        metavar="PATH",
        help="read the control token from this file (its text, without the line end); with neither "
        "option, the token is $BUSYSIGNAL_CONTROL_TOKEN, else the file $BUSYSIGNAL_CONTROL_TOKEN_FILE names",
    )
    parser.add_argument(
        "--key-salt",
        default=None,
        metavar="TEXT",
        help="salt of the journal's api_key_id (default: random per server); give servers whose "
        "journals must be correlated the same one (see mockserver/JOURNAL.md)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        metavar="S",
        help="close a connection whose request headers take longer (default %(default)s s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT_S,
        metavar="S",
        help="close a connection whose request body pauses longer (default %(default)s s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")


def log_line(entry: JournalEntry) -> str:
    """One request as ``serve`` prints it: when it arrived (UTC), what it was, how it ended, the
    scenario time ``t``, and what decided its fault (``by=rule:<id>``, ``by=override`` ...)."""
    from mockserver.journal import decided_by, wall_text

    latency = f"{(entry.end - entry.start) * 1000:.1f}ms" if entry.end is not None else "-"
    status = entry.status if entry.status is not None else "---"
    reason = entry.reason
    t = reason.get("t")
    extra = f" t={t:.1f}s" if isinstance(t, (int, float)) else ""
    if entry.retry_count:
        extra += f" retry={entry.retry_count}"
    if entry.fault:
        extra += f" fault={entry.fault}"
    if entry.error_type:
        extra += f" error={entry.error_type}"
    by = decided_by(reason)
    if by is not None:
        extra += f" by={by}"
    if entry.client_gone:
        extra += " client_gone"
    model = f" {entry.model}" if entry.model else ""
    when = wall_text(entry.wall_start)
    return f"{when} {entry.request_id} {entry.method} {entry.path}{model} {status} {latency}{extra}"


def build_config(args: argparse.Namespace, out: TextIO) -> ServerConfig:
    from mockserver.control_token import resolve_token
    from mockserver.wire.catalogue import default_catalogue, load_catalogue

    def on_done(entry: JournalEntry) -> None:
        print(log_line(entry), file=out, flush=True)

    return ServerConfig(
        seed=args.seed,
        ttft_s=args.ttft,
        tokens_per_s=args.tps or None,
        journal_size=args.journal_size,
        auth=not args.no_auth,
        strict=not args.lenient,
        api_keys=frozenset(args.api_key) if args.api_key else None,
        control_token=resolve_token(args.control_token, args.control_token_file, env=os.environ),
        key_salt=args.key_salt,
        catalogue=load_catalogue(args.models) if args.models else default_catalogue(),
        batch_processing_s=args.batch_seconds,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        on_request_done=None if args.quiet else on_done,
    )


async def serve(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from mockserver.web.server import AsyncMockServer

    config = build_config(args, out)
    server = AsyncMockServer(
        config, host=args.host, port=args.port, scenario=args.scenario, shutdown_timeout=SHUTDOWN_GRACE_S
    )
    await server.start()
    stop = asyncio.Event()
    received: list[signal.Signals] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig, received, stop)
    print(f"busysignal mock listening on {server.url}", file=out)
    print(f"export ANTHROPIC_BASE_URL={server.url}", file=out)
    if config.auth and config.api_keys is None:
        print("(any non-empty API key is accepted)", file=out)
    from mockserver.web.scenario_status import status_lines

    for line in status_lines(server.scenario_status()):
        print(line, file=out)
    print(
        f"control plane: {server.url}/_busysignal/health  metrics: {server.url}/metrics", file=out, flush=True
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print("shutting down", file=out, flush=True)
        await server.stop()
    return 130 if received[:1] == [signal.SIGINT] else 0


def _on_signal(sig: signal.Signals, received: list[signal.Signals], stop: asyncio.Event) -> None:
    received.append(sig)
    stop.set()


def run(args: argparse.Namespace) -> int:
    from mockserver.faults import ScenarioError
    from mockserver.web.conn_guard import raise_fd_limit
    from mockserver.web.server import UnsafeBindError
    from mockserver.wire.catalogue import CatalogueError

    raise_fd_limit()  # thousands of connections need thousands of fds: soft limit up to the hard one
    try:
        return asyncio.run(serve(args))
    except (ScenarioError, CatalogueError, UnsafeBindError, ValueError) as exc:
        print(f"busysignal serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"busysignal serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockserver", description="Serve the mock Messages API.")
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:  # before the server's own SIGINT handler is in place
        print("busysignal serve: interrupted", file=sys.stderr)
        return 130
