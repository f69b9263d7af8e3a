"""``busysignal batch run INPUT.jsonl --out RESULTS.jsonl``: the durable document runner.

Re-running the same command after a crash (or ``kill -9``) resumes from the state file
(``RESULTS.jsonl.state.sqlite`` unless ``--state``): finished documents are not sent again,
and RESULTS.jsonl ends with exactly one line per document, in input order.

Exit status: 0 when every document succeeded, 1 when all finished but some failed, 2 for bad
input or options, 3 when the state file or the output cannot be used (a damaged state, a full
disk, a state that lost work the output shows: the message says how to go on), 130 when
interrupted (the state is intact; run again to resume).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience.runner_core import SLOW_START_INITIAL

# the runner's modules (asyncio, SQLite, the SDK) are imported when the verb runs, not for --help
if TYPE_CHECKING:
    from resilience.runner_core import RequeuePolicy

__all__ = ["register"]

_DESCRIPTION = """\
Run every document of INPUT.jsonl through the Messages API (or the Message Batches API with
--via batches). A document the service turns away (529, 429, 5xx) goes back to the queue for
later, honouring Retry-After, and the number of requests in flight adapts to what the service
takes: it starts low and grows while requests succeed (the API limits sudden ramps in usage
too), up to --concurrency. Re-running the same command after a crash (or kill -9) resumes
from the state file (RESULTS.jsonl.state.sqlite unless --state): finished documents are not
sent again, and RESULTS.jsonl ends with exactly one line per document, in input order:
  {"id": ..., "status": "succeeded", "attempts": N, "message": {...}}
  {"id": ..., "status": "failed", "attempts": N, "error": {"status": ..., "type": ..., "message": ...}}

Exit status: 0 when every document succeeded, 1 when all finished but some failed, 2 for bad
input or options, 3 when the state file or the output cannot be used (a damaged state, a full
disk, a state that lost work the output shows: the message says how to go on), 130 when
interrupted (the state is intact; run again to resume).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _seconds(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction below 1 (0.05 is 5%), got {text!r}")
    return value


def register(subparsers: Any) -> None:
    batch = subparsers.add_parser("batch", help="process many documents durably (runner, resumable)")
    batch_sub = batch.add_subparsers(dest="batch_command", metavar="SUBCOMMAND")
    batch.set_defaults(func=lambda args: (batch.print_help(), 2)[1])

    run = batch_sub.add_parser(
        "run",
        help="run every document of INPUT.jsonl through the Messages API, resumable after a crash",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("input", metavar="INPUT.jsonl", help="one document per line: {id, text} or {id, params}")
    run.add_argument(
        "--out",
        required=True,
        metavar="RESULTS.jsonl",
        help="one result line per document: a new file, or the --out of the run to resume",
    )
    run.add_argument(
        "--state", metavar="PATH", help="SQLite state file (default: RESULTS.jsonl.state.sqlite)"
    )
    run.add_argument(
        "--restart",
        action="store_true",
        help="discard the state file and start over: every document is sent again and OUT is rewritten",
    )
    run.add_argument(
        "--via",
        choices=("messages", "batches", "celery"),
        default="messages",
        help="one Messages call per document (default), the Message Batches API, or Celery workers "
        "(one task per document; start workers with: celery -A resilience.distributed worker)",
    )
    run.add_argument(
        "--broker",
        default=None,
        help="--via celery: the Redis broker URL (default $BUSYSIGNAL_BROKER_URL or redis://127.0.0.1:6379/0)",
    )
    run.add_argument("--run-id", help="--via celery: name of the run in Redis (default: from the --out path)")
    run.add_argument(
        "--resubmit",
        action="store_true",
        help="--via celery: queue again documents already queued and still without a result "
        "(for a broker that lost its queue)",
    )
    run.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        help=f"most requests in flight (default 16); adaptive, the run starts at {SLOW_START_INITIAL} "
        "and doubles per round of successes up to it, then backs off on 529/429 (AIMD)",
    )
    run.add_argument(
        "--no-adaptive",
        dest="adaptive",
        action="store_false",
        help="start at --concurrency and keep it fixed, without slow start or backing off",
    )
    run.add_argument(
        "--policy",
        choices=("patient", "standard", "impatient"),
        default="standard",
        help="how long a document may keep coming back: patient (20 attempts, up to 5 min apart), "
        "standard (8, up to 60 s), impatient (3, up to 10 s)",
    )
    run.add_argument("--max-attempts", type=_positive_int, help="override the policy's attempts per document")
    run.add_argument("--base-delay", type=_seconds, help="first backoff when the server gives no Retry-After")
    run.add_argument("--max-delay", type=_seconds, help="longest backoff")
    run.add_argument("--retry-after-cap", type=_seconds, help="longest Retry-After honoured (default 300)")
    run.add_argument(
        "--fallback",
        metavar="MODEL,MODEL,...",
        help="fallback chain: a document for a model in it falls back to the models after it "
        "when that one is overloaded (resilience policy)",
    )
    run.add_argument(
        "--breaker",
        action="store_true",
        help="per-model circuit breaker (resilience policy): while open, documents wait locally",
    )
    run.add_argument(
        "--breaker-open",
        type=_seconds,
        default=15.0,
        help="seconds a tripped breaker stays open before one probe (default 15)",
    )
    run.add_argument(
        "--cache",
        metavar="memory|redis://HOST:PORT/DB",
        help="response cache: a document answered before is not sent again",
    )
    run.add_argument(
        "--cache-ttl",
        type=_positive_seconds,
        default=24 * 3600.0,
        help="cache TTL in seconds (default 1 day)",
    )
    run.add_argument("--model", help="model for documents that do not name one")
    run.add_argument(
        "--max-tokens", type=_positive_int, default=1024, help="max_tokens when a document has none"
    )
    run.add_argument("--system", help="system prompt for {id, text} documents")
    run.add_argument(
        "--base-url",
        default=os.environ.get("ANTHROPIC_BASE_URL"),
        help="API base URL (default $ANTHROPIC_BASE_URL, else the SDK default)",
    )
    run.add_argument("--api-key", default=None, help="API key (default $ANTHROPIC_API_KEY)")
    run.add_argument("--timeout", type=_seconds, default=600.0, help="per-request timeout in seconds")
    run.add_argument(
        "--batch-size", type=_positive_int, default=10_000, help="requests per batch (--via batches)"
    )
    run.add_argument("--poll-interval", type=_seconds, default=30.0, help="seconds between batch polls")
    run.add_argument("--seed", type=int, default=0, help="seed of the backoff jitter")
    run.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress line on stderr"
    )
    run.add_argument(
        "--alert-above",
        type=_fraction,
        default=0.05,
        help="log an alert when the 5xx/529 rate over --alert-window is above this (default 0.05)",
    )
    run.add_argument(
        "--alert-window", type=_seconds, default=60.0, help="alert window in seconds (default 60)"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics while running (0: any free port)",
    )
    run.set_defaults(func=_run)


_PRESETS: dict[str, dict[str, float]] = {
    "patient": {"max_attempts": 20, "base_delay_s": 2.0, "max_delay_s": 300.0},
    "standard": {"max_attempts": 8, "base_delay_s": 1.0, "max_delay_s": 60.0},
    "impatient": {"max_attempts": 3, "base_delay_s": 0.5, "max_delay_s": 10.0},
}


def policy_from_args(args: argparse.Namespace) -> RequeuePolicy:
    from resilience.runner_core import RequeuePolicy

    preset = dict(_PRESETS[args.policy])
    if args.max_attempts is not None:
        preset["max_attempts"] = args.max_attempts
    if args.base_delay is not None:
        preset["base_delay_s"] = args.base_delay
    if args.max_delay is not None:
        preset["max_delay_s"] = args.max_delay
    if args.retry_after_cap is not None:
        preset["retry_after_cap_s"] = args.retry_after_cap
    if preset["max_delay_s"] < preset["base_delay_s"]:
        preset["max_delay_s"] = preset["base_delay_s"]
    return RequeuePolicy(
        max_attempts=int(preset["max_attempts"]),
        base_delay_s=preset["base_delay_s"],
        max_delay_s=preset["max_delay_s"],
        retry_after_cap_s=preset.get("retry_after_cap_s", 300.0),
    )


def _path_problem(flag: str, path: Path) -> str | None:
    """Why ``path`` cannot be a file the run writes, or None."""
    if path.is_dir():
        return f"{flag} {path} is a folder; give the path of a file"
    parent = path.parent
    if not parent.is_dir():
        what = "a file" if parent.exists() else "a folder that does not exist"
        return f"{flag} {path}: {parent} is {what}"
    return None


def _holds_results(path: Path) -> bool:
    """Whether ``path`` is empty or starts with a result line (``{"id": ..., "status": ...}``)."""
    with path.open("rb") as fh:
        first = fh.readline(1 << 22)  # a result line is far shorter; a binary file has no end
    if not first.strip():
        return True
    try:
        line = json.loads(first)
    except ValueError:
        return False
    return isinstance(line, dict) and "id" in line and "status" in line


def output_problem(out: str, state: str | None, via: str) -> str | None:
    """Why the run cannot write ``--out`` (and its state file) without losing something, or None.

    An existing, non-empty RESULTS file is only rewritten when its run's state file is there to
    resume from (the state holds every result it had). Without one, the file is someone's
    (another run's, whose state is gone, or not ours at all) and would be overwritten. With
    ``--via celery`` the run's state is in Redis, named after --out: the same --out follows the
    same run again."""
    from resilience.runner import default_state_path

    out_path = Path(out)
    problem = _path_problem("--out", out_path)
    if problem is not None:
        return problem
    if via == "celery":
        if out_path.exists() and not _holds_results(out_path):
            return f"--out {out} already exists and is not a results file; give a new --out"
        return None
    state_path = Path(state) if state else default_state_path(out_path)
    problem = _path_problem("--state", state_path)
    if problem is not None:
        return problem
    if out_path.exists() and out_path.stat().st_size > 0 and not state_path.exists():
        return (
            f"--out {out} already exists and there is no state file {state_path} to resume from, "
            "so the run would overwrite it; give a new --out, remove the file, or pass the --state "
            "of the run that wrote it"
        )
    return None


def _cache_problem(cache: str | None) -> str | None:
    if not cache or cache == "memory" or cache.startswith(("redis://", "rediss://", "unix://")):
        return None
    return f"--cache must be 'memory' or a redis:// URL, got {cache!r}"


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from resilience.instrumentation.alerts import ErrorRateMonitor
    from resilience.runner import default_state_path, run_file, summary_json
    from resilience.runner_core import DocumentError
    from resilience.runner_store import EXIT_STORAGE, StateLockedError, storage_failure

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = output_problem(args.out, args.state, args.via) or _cache_problem(args.cache)
    if problem is not None:
        print(f"busysignal batch run: {problem}", file=sys.stderr)
        return 2
    if args.via == "celery":
        return _run_celery(args)
    api_key = args.api_key or os.environ.get("ANTHROPIC_API_KEY")
    if not api_key:
        print("busysignal batch run: no API key: set ANTHROPIC_API_KEY or pass --api-key", file=sys.stderr)
        return 2
    try:
        policy = policy_from_args(args)
    except ValueError as exc:
        print(f"busysignal batch run: {exc}", file=sys.stderr)
        return 2

    import anthropic

    from resilience.cache import MemoryCache, RedisCache, ResponseCache
    from resilience.runner import resilient_client

    cache: ResponseCache | None = None
    if args.cache == "memory":
        cache = MemoryCache()
    elif args.cache:
        cache = RedisCache(url=args.cache)
    fallback = [m.strip() for m in args.fallback.split(",") if m.strip()] if args.fallback else None

    sdk = anthropic.AsyncAnthropic(
        api_key=api_key, base_url=args.base_url, max_retries=0, timeout=args.timeout or None
    )
    monitor = ErrorRateMonitor(
        window_s=args.alert_window or 60.0, fire_above=args.alert_above, name="batch run"
    )
    exporter = None
    observers: list[Any] = []
    hooks: list[Any] = []
    if args.metrics_port is not None:
        from resilience.instrumentation.metrics import MetricsExporter, PolicyMetrics, RunnerMetrics

        metrics = RunnerMetrics()
        observers.append(metrics.observe_attempt)
        hooks.append(PolicyMetrics(metrics.registry))
        exporter = MetricsExporter(metrics.registry, port=args.metrics_port)
        exporter.start()
        print(f"busysignal batch run: metrics on {exporter.url}", file=sys.stderr)
    try:
        client = resilient_client(
            sdk,
            breaker=args.breaker,
            breaker_open_s=args.breaker_open,
            fallback=fallback,
            cache=cache,
            cache_ttl_s=args.cache_ttl,
            on_event=hooks,
        )
    except (TypeError, ValueError) as exc:
        print(f"busysignal batch run: {exc}", file=sys.stderr)
        return 2

    async def main() -> Any:
        try:
            return await run_file(
                args.input,
                args.out,
                client=client,
                batches_client=sdk,
                state_path=args.state,
                via=args.via,
                concurrency=args.concurrency,
                adaptive=args.adaptive,
                policy=policy,
                model=args.model,
                max_tokens=args.max_tokens,
                system=args.system,
                batch_size=args.batch_size,
                poll_interval_s=args.poll_interval,
                seed=args.seed,
                show_progress=args.progress,
                observers=observers,
                monitor=monitor,
                restart=args.restart,
            )
        finally:
            await sdk.close()
            if isinstance(cache, RedisCache):
                await cache.aclose()  # its redis.asyncio connections belong to this event loop

    try:
        summary = asyncio.run(main())
    except (DocumentError, StateLockedError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"busysignal batch run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbusysignal batch run: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # the state file or the output failed (a damaged file, a full disk)
        message = storage_failure(exc, args.state or default_state_path(args.out), args.out)
        if message is None:
            raise
        print(f"busysignal batch run: {message}", file=sys.stderr)
        return EXIT_STORAGE
    finally:
        if exporter is not None:
            exporter.stop()
    print(summary_json(summary))
    return 0 if summary.failed == 0 and summary.complete else 1


def default_run_id(out: str) -> str:
    """A run name that is the same every time the same --out is used."""
    path = os.path.abspath(out)
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:12]
    return f"{os.path.basename(path)}-{digest}"


def _run_celery(args: argparse.Namespace) -> int:
    from resilience import distributed
    from resilience.runner import Progress, load_documents, summary_json

    if args.restart:
        print("busysignal batch run: --restart has no state to discard with --via celery", file=sys.stderr)
        return 2
    try:
        policy = policy_from_args(args)
        docs = load_documents(args.input, model=args.model, max_tokens=args.max_tokens, system=args.system)
    except (ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"busysignal batch run: {exc}", file=sys.stderr)
        return 2
    if args.broker:
        distributed.configure(broker_url=args.broker)
    run_id = args.run_id or default_run_id(args.out)
    progress = Progress(len(docs), enabled=args.progress)
    try:
        summary = distributed.run_via_celery(
            docs,
            args.out,
            run_id=run_id,
            policy=policy,
            resubmit=args.resubmit,
            poll_interval_s=min(1.0, args.poll_interval),
            progress=progress,
        )
    except KeyboardInterrupt:
        print(
            f"\nbusysignal batch run: stopped following run {run_id}; the workers carry on. "
            "Run the same command again to follow it.",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # the broker or Redis is not reachable, most often
        print(f"busysignal batch run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    print(summary_json(summary))
    return 0 if summary.failed == 0 and summary.complete else 1
