"""``run_file``: the runner wired to files, what ``busysignal batch run`` calls.

It loads INPUT, opens (resumes, or with ``restart`` discards) the state next to OUT, rebuilds OUT
from the state, runs the pending documents ``--via messages`` or ``--via batches``, and leaves OUT
holding one line per finished document, in input order.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from resilience import ErrorRateMonitor
from resilience.runner.core import Document, RequeuePolicy, parse_documents
from resilience.runner.output import AttemptObserver, OutputFile, RunSummary, monitor_observer
from resilience.runner.progress import Progress
from resilience.runner.sdk import SdkAttempter
from resilience.runner.store import open_store
from resilience.runner.via_batches import run_batches
from resilience.runner.via_local import run_documents

__all__ = ["default_state_path", "load_documents", "run_file"]


def default_state_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".state.sqlite")


def load_documents(
    input_path: str | os.PathLike[str], *, model: str | None, max_tokens: int, system: str | None
) -> list[Document]:
    path = Path(input_path)
    with path.open(encoding="utf-8") as fh:
        return parse_documents(fh, source=str(path), model=model, max_tokens=max_tokens, system=system)


async def run_file(
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    client: Any,
    batches_client: Any = None,
    state_path: str | os.PathLike[str] | None = None,
    via: str = "messages",
    concurrency: int = 16,
    adaptive: bool = True,
    policy: RequeuePolicy | None = None,
    model: str | None = None,
    max_tokens: int = 1024,
    system: str | None = None,
    batch_size: int = 10_000,
    poll_interval_s: float = 30.0,
    seed: int = 0,
    show_progress: bool = True,
    progress_stream: TextIO | None = None,
    observers: Sequence[AttemptObserver] = (),
    monitor: ErrorRateMonitor | None = None,
    restart: bool = False,
) -> RunSummary:
    """Load INPUT, resume (or, ``restart``, discard) the state next to OUT, run, and leave OUT
    holding exactly one line per document in input order (once every document has finished)."""
    if via not in ("messages", "batches"):
        raise ValueError(f"via must be 'messages' or 'batches', got {via!r}")
    docs = load_documents(input_path, model=model, max_tokens=max_tokens, system=system)
    output = OutputFile(out_path)
    with open_store(state_path or default_state_path(out_path), out_path, docs, restart=restart) as store:
        output.rebuild(store)  # whatever a crash left in OUT is replaced by what the state says
        counts = store.counts()
        progress = Progress(
            len(docs),
            done=counts["succeeded"] + counts["failed"],
            failed=counts["failed"],
            stream=progress_stream,
            enabled=show_progress,
        )
        all_observers = [*observers, *([monitor_observer(monitor)] if monitor is not None else [])]
        shared: dict[str, Any] = {
            "policy": policy,
            "rng": random.Random(seed),
            "progress": progress,
            "observers": all_observers,
        }
        try:
            if via == "batches":
                batches = batches_client if batches_client is not None else client
                summary = await run_batches(
                    store, output, batches, batch_size=batch_size, poll_interval_s=poll_interval_s, **shared
                )
            else:
                summary = await run_documents(
                    store, output, SdkAttempter(client), concurrency=concurrency, adaptive=adaptive, **shared
                )
        finally:
            progress.close()
        output.rebuild(store)  # final: input order, one line per finished document
    return summary
