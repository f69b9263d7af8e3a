"""What "an attempt succeeded" means (mockserver/JOURNAL.md, "Definitions"), pinned for every fault
kind the engine can apply: a real request through MockServer on 127.0.0.1 with that fault, then the
analysis's verdict on its journal entry and the one word that says why.

The kinds are the one vocabulary's (``mockserver.faults.kinds.KINDS``, the scenario language's
words), plus an HTTP status, no fault and a latency rule (``delay``): a new fault kind without a
row here fails the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx2
import pytest
from tests.support import TEST_KEY, user

from mockserver import MockServer
from mockserver.conformance.runner import settled_entries
from mockserver.faults.kinds import KINDS
from mockserver.journal import JournalEntry, attempt_succeeded, failure_kind

MODEL = "claude-opus-4-6"
SLOW = {"match": {"headers": {"x-slow": "yes"}}, "latency": {"fixed_s": 0.01}, "id": "slow"}
SCENARIO = {"name": "journal-verdicts", "description": "a latency rule on request", "rules": [SLOW]}

# the override header's value -> (the journal's fault label, succeeded, failure_kind)
VERDICTS: dict[str, tuple[str | None, bool, str]] = {
    "reset": ("reset", False, "reset"),
    "hang": ("hang", False, "hang"),
    "close_after_headers": ("close_after_headers", False, "200+close_after_headers"),
    "truncated_body": ("truncated_body", False, "200+truncated_body"),
    "garbage": ("garbage", False, "200+garbage"),
    "stream_error_event": ("stream_error_event", False, "200+stream_error_event"),
    "stream_stall": ("stream_stall", True, "200+stream_stall"),
    "stream_cut": ("stream_cut", False, "200+stream_cut"),
    "spend_limit": ("http_error", False, "429"),
    "refusal": ("refusal", True, "200+refusal"),
    "529": ("http_error", False, "529"),
    "ok": (None, True, "200"),
}
# parameters that keep a fault short: the hang ends itself, the stall resumes at once
PARAMS = {"hang": ";hang=0.05", "stream_stall": ";stall=0.01"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(scenario=SCENARIO) as srv:
        yield srv


def attempt(
    server: MockServer, headers: dict[str, str], *, stream: bool, timeout: float = 30.0
) -> JournalEntry:
    """Send one Messages request, let the transport fail as it may, and return its closed entry."""
    server.journal.clear()
    body = {"model": MODEL, "max_tokens": 8, "stream": stream, "messages": user("verdict")}
    sent = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01", **headers}
    with contextlib.suppress(httpx2.HTTPError):  # a broken response is what most of these faults are
        httpx2.post(f"{server.url}/v1/messages", json=body, headers=sent, timeout=timeout).read()
    [entry] = settled_entries(server.journal.entries, settle_s=30.0)
    return entry


def test_every_fault_kind_has_a_verdict() -> None:
    assert {kind.name for kind in KINDS} <= set(VERDICTS)


@pytest.mark.parametrize("fault", list(VERDICTS))
def test_the_verdict_on_each_fault(server: MockServer, fault: str) -> None:
    label, succeeded, kind = VERDICTS[fault]
    entry = attempt(
        server, {"x-busysignal-fault": fault + PARAMS.get(fault, "")}, stream=fault.startswith("stream_")
    )
    assert entry.end is not None and not entry.client_gone
    assert (entry.fault, attempt_succeeded(entry), failure_kind(entry)) == (label, succeeded, kind)
    assert entry.succeeded is succeeded


@pytest.mark.parametrize("stream", [False, True])
def test_a_delay_is_only_later_and_succeeds(server: MockServer, stream: bool) -> None:
    entry = attempt(server, {"x-slow": "yes"}, stream=stream)
    assert entry.reason.get("latency", {}).get("rule") == "slow"
    assert (entry.fault, attempt_succeeded(entry), failure_kind(entry)) == ("delay", True, "200")


def test_a_client_that_gives_up_on_a_hang_has_not_succeeded(server: MockServer) -> None:
    entry = attempt(server, {"x-busysignal-fault": "hang;hang=600"}, stream=False, timeout=0.2)
    assert entry.client_gone and entry.status is None
    assert (attempt_succeeded(entry), failure_kind(entry)) == (False, "hang")


def test_an_answer_the_client_left_before_the_end_has_not_succeeded(server: MockServer) -> None:
    # a slow stream the client closes after its first chunk: a 2xx that did not arrive whole
    server.journal.clear()
    body = {"model": MODEL, "max_tokens": 400, "stream": True, "messages": user("leave early")}
    sent = {
        "x-api-key": TEST_KEY,
        "anthropic-version": "2023-06-01",
        "x-busysignal-fault": "stream_stall;after=1;stall=30",
    }
    with httpx2.stream("POST", f"{server.url}/v1/messages", json=body, headers=sent, timeout=30.0) as r:
        next(r.iter_bytes())
    [entry] = settled_entries(server.journal.entries, settle_s=30.0)
    assert entry.status == 200 and entry.client_gone
    assert attempt_succeeded(entry) is False
