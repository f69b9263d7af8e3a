"""The document runner: every document of a file through the Messages API, durably, politely.

An application built on the library, fenced off from it: it imports only ``resilience``'s
public names, and nothing else in ``resilience`` imports it. The ways to run map to modules:

* ``--via messages`` (the default, in this process): :mod:`resilience.runner.via_local`;
* ``--via batches`` (the Message Batches API): :mod:`resilience.runner.via_batches`;
* ``--via celery`` (one task per document on Celery workers): :mod:`resilience.runner.via_celery`
  (start workers with ``celery -A resilience.runner.via_celery worker``).

Around them: :mod:`~resilience.runner.core` (documents, outcomes, what to do next),
:mod:`~resilience.runner.limit` (requests in flight), :mod:`~resilience.runner.store` (the
SQLite state), :mod:`~resilience.runner.output` (RESULTS.jsonl), :mod:`~resilience.runner.sdk`
(one attempt through the SDK), :mod:`~resilience.runner.progress`, :mod:`~resilience.runner.files`
(``run_file``) and :mod:`~resilience.runner.cli` (``busysignal batch run``).

The names below are imported on first use, so that the ``batch`` verb's registrar imports
neither the SDK nor SQLite for ``--help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.runner.core import (
        AttemptOutcome,
        Complete,
        Document,
        DocumentError,
        Fail,
        Requeue,
        RequeuePolicy,
        decide,
        parse_documents,
    )
    from resilience.runner.files import load_documents, run_file
    from resilience.runner.limit import AdaptiveLimit
    from resilience.runner.output import OutputFile, RunSummary
    from resilience.runner.progress import Progress
    from resilience.runner.sdk import (
        Attempter,
        SdkAttempter,
        message_dict,
        outcome_from_exception,
        resilient_client,
    )
    from resilience.runner.store import JobStore
    from resilience.runner.via_batches import run_batches
    from resilience.runner.via_local import run_documents

# where the adaptive limit starts (slow start): the API also limits sharp increases in usage
# (429 ramp_limit_exceeded), and a run that opens at its ceiling meets an overloaded service
# with a full burst; doubling per round of successes reaches 16 after two rounds
SLOW_START_INITIAL = 4

_MODULE_OF = {
    "AttemptOutcome": "core",
    "Complete": "core",
    "Document": "core",
    "DocumentError": "core",
    "Fail": "core",
    "Requeue": "core",
    "RequeuePolicy": "core",
    "decide": "core",
    "parse_documents": "core",
    "load_documents": "files",
    "run_file": "files",
    "AdaptiveLimit": "limit",
    "OutputFile": "output",
    "RunSummary": "output",
    "Progress": "progress",
    "Attempter": "sdk",
    "SdkAttempter": "sdk",
    "message_dict": "sdk",
    "outcome_from_exception": "sdk",
    "resilient_client": "sdk",
    "JobStore": "store",
    "run_batches": "via_batches",
    "run_documents": "via_local",
}

__all__ = [
    "SLOW_START_INITIAL",
    "AdaptiveLimit",
    "AttemptOutcome",
    "Attempter",
    "Complete",
    "Document",
    "DocumentError",
    "Fail",
    "JobStore",
    "OutputFile",
    "Progress",
    "Requeue",
    "RequeuePolicy",
    "RunSummary",
    "SdkAttempter",
    "decide",
    "load_documents",
    "message_dict",
    "outcome_from_exception",
    "parse_documents",
    "resilient_client",
    "run_batches",
    "run_documents",
    "run_file",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'resilience.runner' has no attribute {name!r}")
    found = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = found
    return found
