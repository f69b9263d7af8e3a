"""Pins for the hot-path shortcuts: they must give exactly what the plain code gave."""

from __future__ import annotations

import json

from multidict import CIMultiDict

from mockserver import MockServer
from mockserver.journal import KEPT_HEADERS, Journal, kept_header_values
from mockserver.wire.errors import ApiError, error_body, error_object, invalid, not_found


def _plain_error_body(error_type: str, message: str, request_id: str | None) -> bytes:
    body: dict[str, object] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return json.dumps(body, separators=(",", ":")).encode()


def test_error_body_repeated_is_byte_identical_to_a_fresh_encoding() -> None:
    cases = [
        ("overloaded_error", "Overloaded", "req_011CAAA"),
        ("overloaded_error", "Overloaded", "req_011CAAB"),
        ("invalid_request_error", 'model: "x" \u00e9\n\ttab', 'req_"quoted"'),
        ("api_error", "Internal server error", None),
    ]
    for _ in range(2):  # the second pass is served from the kept heads
        for error_type, message, request_id in cases:
            assert error_body(error_type, message, request_id) == _plain_error_body(
                error_type, message, request_id
            )


def test_a_code_is_error_details_error_code_and_no_code_is_no_details_key() -> None:
    plain = error_body("not_found_error", "File file_1 not found", "req_011CAAA")
    assert plain == (
        b'{"type":"error","error":{"type":"not_found_error","message":"File file_1 not found"},'
        b'"request_id":"req_011CAAA"}'
    )
    assert error_body("not_found_error", "File file_1 not found", "req_011CAAA", None) == plain
    coded = error_body("not_found_error", "File file_1 has expired", "req_011CAAB", "file_expired")
    assert coded == (
        b'{"type":"error","error":{"type":"not_found_error","message":"File file_1 has expired",'
        b'"details":{"error_code":"file_expired"}},"request_id":"req_011CAAB"}'
    )
    assert error_body("invalid_request_error", "m", None, "file_not_downloadable") == (
        b'{"type":"error","error":{"type":"invalid_request_error","message":"m",'
        b'"details":{"error_code":"file_not_downloadable"}}}'
    )
    # the coded body is not kept as the uncoded one's head, nor the other way round
    assert error_body("not_found_error", "File file_1 has expired", "req_011CAAC") == (
        b'{"type":"error","error":{"type":"not_found_error","message":"File file_1 has expired"},'
        b'"request_id":"req_011CAAC"}'
    )
    assert error_object("api_error", "x") == {"type": "error", "error": {"type": "api_error", "message": "x"}}
    refused = invalid("m", code="environment_archived")
    assert (refused.status, refused.error_type, refused.code) == (
        400,
        "invalid_request_error",
        "environment_archived",
    )
    assert not_found("m").code is None and ApiError(529, "overloaded_error", "Overloaded").code is None


def test_kept_header_values_are_in_kept_order_case_insensitive_and_shared() -> None:
    first = CIMultiDict({"User-Agent": "sdk/1", "Anthropic-Version": "2023-06-01", "x-other": "no"})
    second = CIMultiDict({"user-agent": "sdk/1", "anthropic-version": "2023-06-01"})
    values = kept_header_values(first)
    assert values == tuple(
        {"user-agent": "sdk/1", "anthropic-version": "2023-06-01"}.get(name) for name in KEPT_HEADERS
    )
    assert kept_header_values(second) is values  # one tuple per combination
    entry = Journal(4).open("req_1", "POST", "/v1/messages", 0.0, 0.0, "", None, values)
    assert entry.headers == {"user-agent": "sdk/1", "anthropic-version": "2023-06-01"}


def test_mock_server_exposes_its_async_servers_attributes_before_and_while_running() -> None:
    server = MockServer(seed=7)
    assert server.config.seed == 7 and server.scenario is None
    server.set_scenario("launch-day")  # before start: applied directly
    assert server.scenario == "launch-day"
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
        assert server.state.journal is server.journal
        server.set_scenario("steady")  # while running: on the server's loop
        assert server.scenario == "steady" and server.engine is server.state.engine
        server.reset()
        assert len(server.journal) == 0


def test_quiet_reason_gives_what_decide_gives_or_declines() -> None:
    """The server's shortcut for requests nothing in the scenario touches: whenever quiet_reason
    answers, a pass with that reason is what decide gives for the same request; it declines
    whatever a rule, a rate limit, a capacity pool or the override header could touch."""
    from mockserver.faults import Decision, RequestFacts, ScenarioEngine, build_engine, builtin_names

    shapes = [
        (method, path, model, stream)
        for method, path in (("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"))
        for model in ("claude-sonnet-4-6", "claude-opus-5-5", "claude-haiku-4-5", None)
        for stream in (False, True)
    ]
    header_sets: list[dict[str, str]] = [{}, {"x-busysignal-fault": "529"}, {"user-agent": "x"}]
    answered = declined = 0
    for name in builtin_names():
        shortcut, full = build_engine(name, seed=3), build_engine(name, seed=3)
        assert isinstance(shortcut, ScenarioEngine) and isinstance(full, ScenarioEngine)
        shortcut.restart(100.0)
        full.restart(100.0)
        cases = [(shape, h) for shape in shapes for h in header_sets]
        for index, ((method, path, model, stream), headers) in enumerate(cases):
            now = 100.0 + 0.7 * index  # walks through the scenarios' windows
            quick = shortcut.quiet_reason(method, path, model, stream, headers, index, now)
            if quick is None:
                declined += 1
                continue
            answered += 1
            facts = RequestFacts(index, method, path, model, stream, "key", "digest", headers, 10, 20)
            assert Decision(reason=quick) == full.decide(facts, now), (name, method, path, model, stream)
            assert "x-busysignal-fault" not in headers
    assert answered and declined


def test_quiet_reason_declines_before_the_clock_starts_and_for_matching_rules() -> None:
    from mockserver.faults import ScenarioEngine, build_engine

    eng = build_engine("launch-day")
    assert isinstance(eng, ScenarioEngine)
    assert eng.quiet_reason("POST", "/v1/messages", "claude-opus-5-5", False, {}, 0, 0.0) is None
    eng.restart(0.0)
    assert eng.quiet_reason("POST", "/v1/messages", "claude-opus-5-5", False, {}, 0, 1.0) is None
    steady = build_engine("steady")
    assert isinstance(steady, ScenarioEngine)
    steady.restart(0.0)
    quiet = steady.quiet_reason("POST", "/v1/messages", "claude-opus-5-5", False, {}, 4, 1.5)
    assert quiet == {"scenario": "steady", "seed": 0, "index": 4, "t": 1.5}


def test_metrics_record_counts_each_request_as_the_plain_code_did() -> None:
    """Metrics.record's shortcuts (plain dict counting, the first latency bucket tested inline)
    give the totals, buckets and float latency sum of the plain per-request code."""
    from bisect import bisect_left
    from collections import Counter

    from mockserver.web.metrics import LATENCY_BUCKETS, Metrics, Stats

    journal = Journal(10)
    metrics = Metrics()
    stats = Stats(metrics)
    counts: Counter[tuple[object, ...]] = Counter()
    buckets = [0] * (len(LATENCY_BUCKETS) + 1)
    latency_sum, bytes_sent, events_sent = 0.0, 0, 0
    for i in range(2600):
        e = journal.open(f"req_{i}", "POST", "/v1/messages", 0.0, i * 0.37, "k", None, kept_header_values({}))
        e.status = (200, 529, None)[i % 3]
        e.model = ("claude-sonnet-4-6", None)[i % 2]
        e.error_type = "overloaded_error" if e.status == 529 else None
        e.fault = ("http_error", None, "reset")[i % 3]
        e.client_gone = i % 7 == 0
        e.bytes_sent, e.events_sent = i % 300, i % 5
        e.end = None if i % 11 == 0 else e.start + (i % 97) * 0.0137
        route = ("messages", "count_tokens")[i % 2]
        metrics.record(e, route)
        counts[(route, e.path, e.status, e.model, e.error_type, e.fault, e.client_gone)] += 1
        bytes_sent += e.bytes_sent
        events_sent += e.events_sent
        if e.end is not None:
            latency = e.end - e.start
            buckets[bisect_left(LATENCY_BUCKETS, latency)] += 1
            latency_sum += latency
        if i == 1500:
            stats.reset()
            at_reset = Counter(counts)
    assert metrics.counts == counts
    assert (metrics.bytes_sent, metrics.events_sent) == (bytes_sent, events_sent)
    assert metrics.bucket_counts == buckets and metrics.latency_sum == latency_sum
    assert stats.counts == counts - at_reset
    text = metrics.render(in_flight=0, journal_len=10, journal_size=10)
    assert f"busysignal_request_duration_seconds_sum {latency_sum}\n" in text


def test_messages_route_journals_the_decoded_path_it_matched() -> None:
    """The messages handler journals method POST and path /v1/messages without asking the request:
    any request the router sends it (a percent-encoded path too) has exactly that path."""
    import http.client

    body = json.dumps(
        {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    )
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    with MockServer() as server:
        statuses = []
        for target in ("/v1/messages", "/v1/%6Dessages", "/v1/messages?beta=true", "/v1//messages"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request("POST", target, body=body, headers=headers)
            statuses.append(conn.getresponse().status)
            conn.close()
        entries = server.journal.entries()
    assert statuses == [200, 200, 200, 404]
    assert [(e.method, e.path) for e in entries] == [("POST", "/v1/messages")] * 3 + [
        ("POST", "/v1//messages")
    ]


def test_answers_carry_their_headers_in_the_order_the_plain_code_gave() -> None:
    """The 200 and error header templates give the headers the plain code built, in its order:
    a 200 {request-id, content-type, **base_headers}; an error response_headers(...)."""
    import http.client

    from mockserver.wire.response_headers import JSON_TYPE

    body = json.dumps(
        {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    )
    base = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    # a still wall clock: the rate-limit headers' reset (the next second) is the same for both
    with MockServer(wall_clock=lambda: 1_800_000_000.5) as server:
        got = []
        for headers in (base, {**base, "x-busysignal-fault": "529"}):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request("POST", "/v1/messages", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            own = [(k.lower(), v) for k, v in resp.getheaders() if k.lower() not in ("date", "server")]
            got.append((resp.status, [(k, v) for k, v in own if k != "content-length"]))
            conn.close()
        ok, overloaded = server.journal.entries()
        state = server.state
        assert got[0] == (
            200,
            list({"request-id": ok.request_id, "content-type": JSON_TYPE, **state.base_headers}.items()),
        )
        plain = state.response_headers(overloaded, {"content-type": JSON_TYPE}, {}, {})
        assert got[1] == (529, list(plain.items()))


def test_arrived_body_is_taken_as_it_lies_only_when_it_arrived_in_one_piece() -> None:
    """arrived_body peeks at a finished reader's one chunk; anything else goes the public way."""
    import asyncio
    from types import SimpleNamespace
    from typing import cast
    from unittest import mock

    import pytest
    from aiohttp import web
    from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

    from mockserver.web.bodies import arrived_body

    loop = asyncio.new_event_loop()
    try:

        def reader(*chunks: bytes, eof: bool = True) -> StreamReader:
            r = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)
            for chunk in chunks:
                r.feed_data(chunk)
            if eof:
                r.feed_eof()
            return r

        def body(content: object) -> bytes | None:
            return arrived_body(cast(web.BaseRequest, SimpleNamespace(content=content)), 1024)

        one = reader(b'{"a":1}')
        assert body(one) == b'{"a":1}'
        assert one.read_nowait(-1) == b'{"a":1}'  # still there: nothing was drained
        two = reader(b'{"a":', b"1}")
        assert body(two) == b'{"a":1}' and two.read_nowait(-1) == b""  # read_nowait joined them
        assert body(reader(b'{"a":1}', eof=False)) is None  # more may come
        assert body(EMPTY_PAYLOAD) == b""  # not a plain StreamReader: its own read_nowait
        failed = reader(b"{}")
        failed.set_exception(ConnectionResetError())
        with pytest.raises(ConnectionResetError):  # read_nowait raises it, as before
            body(failed)
    finally:
        loop.close()
