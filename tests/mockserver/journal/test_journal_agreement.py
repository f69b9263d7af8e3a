"""One recorded run, four readers, one answer: the pytest plugin (``mock_api``), the server itself
(``MockServer(...).journal``), the conformance kit and the load-test report all read the journal
through the one analysis, so they find the same logical requests and calls (of the same types),
the same number of calls that succeeded and the same retry amplification.

The run is scripted attempt by attempt with the override header, so that it is the same every time:
retries after 529s, a reset, a stall, a cut stream, a model fallback, a call that never succeeds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from tests.support import TEST_KEY

from loadtests import report
from mockserver import MockServer
from mockserver.conformance.outcomes import outcome
from mockserver.conformance.runner import settled_entries
from mockserver.journal import (
    Call,
    JournalEntry,
    LogicalRequest,
    calls,
    generation_entries,
    retry_amplification,
)
from mockserver.pytest_plugin import MockAPI, ScenarioSpec

OPUS, SONNET = "claude-opus-4-6", "claude-sonnet-4-5"
# each call: its attempts as (model, stream, the fault forced on the attempt)
RUN: list[list[tuple[str, bool, str]]] = [
    [(OPUS, False, "529"), (OPUS, False, "529"), (OPUS, False, "ok")],
    [(OPUS, True, "stream_stall;stall=0.01")],
    [(OPUS, False, "reset"), (OPUS, False, "ok")],
    [(OPUS, False, "529"), (OPUS, False, "529"), (OPUS, False, "529")],
    [(OPUS, False, "529"), (SONNET, False, "ok")],
    [(OPUS, True, "stream_cut;after=2")],
]
ATTEMPTS, CALLS, SUCCEEDED, LOGICAL = 12, 6, 4, 7


class Handle:
    """The plugin's view of a server (its ``ServerHandle``) over this module's MockServer."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.url = server.url

    def raw_entries(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.server.journal.entries()]

    def clear(self) -> None:
        self.server.journal.clear()

    def set_scenario(self, spec: ScenarioSpec, seed: int | None) -> None:
        raise AssertionError("the run keeps its scenario")

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        for i, attempts in enumerate(RUN):
            for retry, (model, stream, fault) in enumerate(attempts):
                _send(srv, f"call {i}", model=model, stream=stream, fault=fault, retry=retry)
        yield srv


def _send(server: MockServer, prompt: str, *, model: str, stream: bool, fault: str, retry: int) -> None:
    body = {
        "model": model,
        "max_tokens": 8,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    }
    headers = {
        "x-api-key": TEST_KEY,
        "anthropic-version": "2023-06-01",
        "x-busysignal-fault": fault,
        "x-stainless-retry-count": str(retry),
    }
    with contextlib.suppress(httpx2.HTTPError):  # the reset and the cut stream
        httpx2.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=30.0).read()


def _entries(server: MockServer) -> list[JournalEntry]:
    return settled_entries(server.journal.entries, settle_s=30.0)


def _shape(groups: list[LogicalRequest] | list[Call]) -> list[tuple[str, list[int]]]:
    return [
        (g.logical_id if isinstance(g, LogicalRequest) else g.key, [a.seq for a in g.attempts])
        for g in groups
    ]


def test_the_plugin_and_the_server_give_the_same_logical_requests_of_one_type(server: MockServer) -> None:
    _entries(server)
    plugin = MockAPI(Handle(server)).logical_requests()
    own = server.journal.logical_requests()
    assert {type(r) for r in plugin} == {type(r) for r in own} == {LogicalRequest}
    assert _shape(plugin) == _shape(own) and len(own) == LOGICAL
    assert [r.succeeded for r in plugin] == [r.succeeded for r in own]
    assert [r.gaps for r in plugin] == [r.gaps for r in own]


def test_every_reader_finds_the_same_calls_successes_and_amplification(server: MockServer) -> None:
    entries = _entries(server)
    plugin = MockAPI(Handle(server)).calls()
    kit = calls(generation_entries(entries))
    origin = min(e.wall_start for e in entries)
    attempts = report.attempts_from_journal([e.to_dict() for e in entries], origin=origin)
    loadtest = report.group_calls(attempts)

    assert {type(c) for c in plugin} == {type(c) for c in kit} == {type(c.call) for c in loadtest} == {Call}
    assert _shape(plugin) == _shape(kit) == _shape([c.call for c in loadtest])
    assert len(kit) == CALLS and len(attempts) == ATTEMPTS

    scored = outcome("scripted", entries)
    assert (scored.calls, scored.attempts) == (CALLS, ATTEMPTS)
    successes = [scored.succeeded, sum(c.succeeded for c in plugin), sum(c.succeeded for c in loadtest)]
    assert successes == [SUCCEEDED] * 3
    assert report.success_rate(loadtest) == pytest.approx(SUCCEEDED / CALLS)

    amplifications = [
        scored.attempts / scored.calls,
        retry_amplification(plugin),
        retry_amplification(kit),
        report.amplification(attempts),
    ]
    assert amplifications == [pytest.approx(ATTEMPTS / CALLS)] * 4


def test_the_fallback_is_one_call_answered_by_the_second_model(server: MockServer) -> None:
    fallback = calls(_entries(server))[4]
    assert fallback.models == [OPUS, SONNET] and fallback.answered_by == SONNET
