"""Every Decision field, applied by the server, seen through the SDK and in the journal.

A scripted engine (tests/support.py) stands in for the scenario engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY, ScriptedEngine, user

from mockserver import MockServer
from mockserver.faults import ConnectionFault, Decision, HttpError, ScenarioError, StreamFault
from mockserver.journal import JournalEntry

MODEL = "claude-opus-4-6"


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def server(engine: ScriptedEngine) -> Iterator[MockServer]:
    with MockServer(engine=engine) as srv:
        yield srv


def sdk(server: MockServer, **kw: Any) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.url, api_key=TEST_KEY, _strict_response_validation=True, **kw)


def finished(server: MockServer, n: int = 1, timeout: float = 60.0) -> list[JournalEntry]:
    """The journal once ``n`` entries have ended (the server may finish just after the client)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = server.journal.entries()
        if len(entries) >= n and all(e.end is not None for e in entries):
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"journal did not settle: {entries}")
        time.sleep(0.005)


def overloaded(**headers: str) -> Decision:
    return Decision(
        error=HttpError(529, "overloaded_error", "Overloaded", headers=headers),
        reason={"rule": "test-529"},
    )


def test_http_error_reaches_the_sdk_with_its_headers_and_is_journalled(
    server: MockServer, engine: ScriptedEngine
) -> None:
    engine.push([overloaded(**{"x-should-retry": "true"})])
    with pytest.raises(anthropic.OverloadedError) as info:
        sdk(server).messages.create(model=MODEL, max_tokens=5, messages=user())
    err = info.value
    assert err.status_code == 529 and err.response.headers["x-should-retry"] == "true"
    assert err.body["request_id"] == err.request_id  # type: ignore[index]
    [entry] = finished(server)
    assert (entry.status, entry.error_type, entry.fault) == (529, "overloaded_error", "http_error")
    assert entry.reason == {"rule": "test-529"}
    [done] = engine.completed
    assert done.status == 529 and not done.client_gone and done.output_tokens == 0


def test_sdk_retries_are_one_logical_request_with_an_attempt_trace(
    server: MockServer, engine: ScriptedEngine
) -> None:
    engine.push([overloaded(**{"retry-after-ms": "20"}), overloaded(**{"retry-after-ms": "20"})])
    message = sdk(server, max_retries=2).messages.create(model=MODEL, max_tokens=5, messages=user())
    assert message.stop_reason == "max_tokens"
    finished(server, 3)
    [logical] = server.journal.logical_requests()
    assert logical.statuses == (529, 529, 200) and logical.retry_counts == (0, 1, 2)
    assert len(logical.gaps) == 2 and all(g >= 0.02 for g in logical.gaps)
    assert [f.index for f in engine.decided] == [0, 1, 2]
    assert len(engine.completed) == len(engine.decided) == 3


def test_delay_adds_latency_and_is_journalled_as_delay(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(delay_s=0.08)])
    start = time.monotonic()
    sdk(server).messages.create(model=MODEL, max_tokens=5, messages=user())
    assert time.monotonic() - start >= 0.08
    [entry] = finished(server)
    assert entry.fault == "delay" and entry.status == 200 and entry.end is not None
    assert entry.end - entry.start >= 0.08


def test_extra_headers_are_on_the_response(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(headers={"anthropic-ratelimit-requests-remaining": "41"})])
    raw = sdk(server).messages.with_raw_response.create(model=MODEL, max_tokens=5, messages=user())
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "41"
    assert finished(server)[0].fault is None


def test_ttft_and_tokens_per_s_overrides_pace_the_stream(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(ttft_s=0.05, tokens_per_s=100.0)])
    client = sdk(server)
    start = time.monotonic()
    deltas = 0
    with client.messages.stream(model=MODEL, max_tokens=10, messages=user()) as stream:
        for event in stream:
            deltas += event.type == "content_block_delta"
    # the last token cannot leave before ttft + 9 token intervals
    assert deltas == 10 and time.monotonic() - start >= 0.05 + 9 / 100
    [entry] = finished(server)
    assert entry.end is not None and entry.end - entry.start >= 0.05 + 9 / 100
    [done] = engine.completed
    assert done.output_tokens == 10 and done.status == 200


def test_server_defaults_pace_json_responses_too() -> None:
    with MockServer(ttft_s=0.03, tokens_per_s=200.0) as srv:
        start = time.monotonic()
        message = sdk(srv).messages.create(model=MODEL, max_tokens=10, messages=user())
        assert message.usage.output_tokens == 10
        assert time.monotonic() - start >= 0.03 + 10 / 200


def test_reset_drops_the_connection_before_any_byte(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(connection_fault=ConnectionFault("reset"))])
    with pytest.raises(anthropic.APIConnectionError):
        sdk(server).messages.create(model=MODEL, max_tokens=5, messages=user())
    [entry] = finished(server)
    assert entry.fault == "reset" and entry.status is None and entry.bytes_sent == 0
    assert engine.completed[0].status == 0


def test_hang_holds_until_the_client_gives_up(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(connection_fault=ConnectionFault("hang", hang_s=600.0))])
    start = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        sdk(server, timeout=0.2).messages.create(model=MODEL, max_tokens=5, messages=user())
    [entry] = finished(server)
    assert entry.fault == "hang" and entry.status is None and entry.client_gone
    # it ended when the client left, not after hang_s (the bound is generous: a busy machine)
    assert entry.end is not None and entry.end - entry.start < 60 and time.monotonic() - start < 60
    [done] = engine.completed
    assert done.client_gone and done.status == 0


def test_hang_ends_with_a_dropped_connection_after_hang_s(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(connection_fault=ConnectionFault("hang", hang_s=0.05))])
    with pytest.raises(anthropic.APIConnectionError):
        sdk(server, timeout=5.0).messages.create(model=MODEL, max_tokens=5, messages=user())
    [entry] = finished(server)
    assert entry.fault == "hang" and not entry.client_gone


@pytest.mark.parametrize("kind", ["close_after_headers", "truncated_body"])
def test_broken_bodies_fail_in_the_client(server: MockServer, engine: ScriptedEngine, kind: str) -> None:
    engine.push([Decision(connection_fault=ConnectionFault(kind))])  # type: ignore[arg-type]
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        sdk(server).messages.create(model=MODEL, max_tokens=5, messages=user())
    [entry] = finished(server)
    assert entry.fault == kind and entry.status == 200
    assert (entry.bytes_sent > 0) == (kind == "truncated_body")


def test_garbage_is_a_200_that_is_not_json(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(connection_fault=ConnectionFault("garbage"))])
    r = httpx2.post(
        f"{server.url}/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": user()},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert finished(server)[0].fault == "garbage"


def test_stream_error_event_raises_status_200_error_in_the_sdk(
    server: MockServer, engine: ScriptedEngine
) -> None:
    engine.push([Decision(stream_fault=StreamFault("error_event", after_events=3))])
    client = sdk(server)
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model=MODEL, max_tokens=20, messages=user()) as stream,
    ):
        for _ in stream:
            pass
    assert info.value.status_code == 200 and info.value.type == "overloaded_error"
    [entry] = finished(server)
    assert entry.fault == "stream_error_event" and entry.error_type == "overloaded_error"
    assert entry.status == 200 and entry.events_sent == 4


def test_stream_stall_pauses_then_completes(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(stream_fault=StreamFault("stall", after_events=4, stall_s=0.06))])
    start = time.monotonic()
    with sdk(server).messages.stream(model=MODEL, max_tokens=8, messages=user()) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and time.monotonic() - start >= 0.06
    [entry] = finished(server)
    assert entry.fault == "stream_stall" and entry.error_type is None


def test_stream_cut_drops_the_connection_mid_stream(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(stream_fault=StreamFault("cut", after_events=3))])
    seen = []
    client = sdk(server)
    with (
        pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)),
        client.messages.stream(model=MODEL, max_tokens=20, messages=user()) as stream,
    ):
        for event in stream:
            seen.append(event.type)
    assert seen[0] == "message_start" and "message_stop" not in seen
    [entry] = finished(server)
    assert entry.fault == "stream_cut" and entry.events_sent == 3


def test_stream_fault_is_ignored_on_json_responses(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push([Decision(stream_fault=StreamFault("cut", after_events=0))])
    assert sdk(server).messages.create(model=MODEL, max_tokens=5, messages=user()).content
    assert finished(server)[0].fault is None


def test_count_tokens_goes_through_the_engine(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push(
        [Decision(error=HttpError(429, "rate_limit_error", "slow down", headers={"retry-after": "1"}))]
    )
    with pytest.raises(anthropic.RateLimitError):
        sdk(server).messages.count_tokens(model=MODEL, messages=user())
    assert engine.decided[0].path == "/v1/messages/count_tokens"
    assert sdk(server).messages.count_tokens(model=MODEL, messages=user()).input_tokens > 0


def test_batch_items_take_errors_and_ignore_other_faults(server: MockServer, engine: ScriptedEngine) -> None:
    engine.push(
        [
            Decision(),  # the create call itself (every route is judged): it passes
            overloaded(),
            Decision(connection_fault=ConnectionFault("reset")),
            Decision(stream_fault=StreamFault("cut")),
        ]
    )
    client = sdk(server)
    reqs: Any = [
        {"custom_id": f"r{i}", "params": {"model": MODEL, "max_tokens": 5, "messages": user(str(i))}}
        for i in range(3)
    ]
    batch = client.messages.batches.create(requests=reqs)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["r0"].type == "errored" and results["r0"].error.error.type == "overloaded_error"
    assert results["r1"].type == "succeeded" and results["r2"].type == "succeeded"
    # the items end while the create call is at work, before it (and the reads after it) end
    assert [c.status for c in engine.completed[:4]] == [529, 200, 200, 200]
    items = [c for c in engine.completed if c.facts.body_digest != engine.decided[0].body_digest]
    assert [c.status for c in items if c.facts.method == "POST"] == [529, 200, 200]


def test_facts_carry_the_request(server: MockServer, engine: ScriptedEngine) -> None:
    with sdk(server).messages.stream(model=MODEL, max_tokens=7, messages=user("facts")) as stream:
        stream.get_final_message()
    [facts] = engine.decided
    [entry] = finished(server)
    assert facts.model == MODEL and facts.stream and facts.max_tokens == 7 and facts.input_tokens > 0
    assert facts.body_digest == entry.body_digest and facts.api_key_id == entry.api_key_id != ""
    assert facts.retry_count == 0 and facts.loopback and facts.headers["anthropic-version"] == "2026-10-21"


def test_reset_and_set_scenario_restart_the_engine_and_the_index(
    server: MockServer, engine: ScriptedEngine
) -> None:
    client = sdk(server)
    client.messages.create(model=MODEL, max_tokens=5, messages=user())
    restarts = len(engine.restarts)
    server.reset()
    assert len(engine.restarts) == restarts + 1 and len(server.journal) == 0
    client.messages.create(model=MODEL, max_tokens=5, messages=user())
    assert [f.index for f in engine.decided] == [0, 0]
    server.set_scenario("steady")
    assert server.engine is not engine
    with pytest.raises(ScenarioError):
        server.set_scenario("no-such-scenario-anywhere")


def test_client_leaving_mid_stream_is_journalled_and_completed(engine: ScriptedEngine) -> None:
    with MockServer(engine=engine, tokens_per_s=50.0) as srv:
        body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": user()}
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        with httpx2.stream("POST", f"{srv.url}/v1/messages", json=body, headers=headers) as response:
            first = next(response.iter_raw())
            assert first.startswith(b"event: message_start")
        [entry] = finished(srv)
        assert entry.client_gone and entry.status == 200 and 0 < entry.events_sent < 50
        [done] = engine.completed
        assert done.client_gone and 0 < done.output_tokens < 50


def test_stop_does_not_wait_for_a_hanging_request(engine: ScriptedEngine) -> None:
    import threading

    engine.push([Decision(connection_fault=ConnectionFault("hang", hang_s=600.0))])
    server = MockServer(engine=engine).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            sdk(server, timeout=120.0).messages.create(model=MODEL, max_tokens=5, messages=user())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    while not engine.decided:
        time.sleep(0.005)
    start = time.monotonic()
    server.stop()
    thread.join(timeout=60)
    assert time.monotonic() - start < 30  # not hang_s, not aiohttp's 60 s default grace
    assert errors and isinstance(errors[0], (anthropic.APIConnectionError, httpx2.RemoteProtocolError))
    [done] = engine.completed
    assert done.status == 0


def test_a_client_that_leaves_while_sending_its_body_is_journalled_as_gone_not_as_a_mock_bug(
    server: MockServer, engine: ScriptedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(server.url)
    head = (
        "POST /v1/messages HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        f"x-api-key: {TEST_KEY}\r\n"
        "anthropic-version: 2023-06-01\r\n"
        "content-type: application/json\r\n"
        "content-length: 1000\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head.encode() + b'{"model": "' + MODEL.encode())  # then the client is gone
    [entry] = finished(server)
    assert entry.client_gone and entry.status is None and entry.body_digest == ""
    assert not engine.decided  # nothing to decide about: the request never arrived whole
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]
