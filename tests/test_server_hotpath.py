"""Pins for the hot-path shortcuts: they must give exactly what the plain code gave."""

from __future__ import annotations

import json

from multidict import CIMultiDict

from mockserver import MockServer
from mockserver.errors import error_body
from mockserver.journal import KEPT_HEADERS, Journal, kept_header_values


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


def test_kept_header_values_are_in_kept_order_case_insensitive_and_shared() -> None:
    first = CIMultiDict({"User-Agent": "sdk/1", "Anthropic-Version": "2023-06-01", "x-other": "no"})
    second = CIMultiDict({"user-agent": "sdk/1", "anthropic-version": "2023-06-01"})
    values = kept_header_values(first)
    assert values == tuple(
        {"user-agent": "sdk/1", "anthropic-version": "2023-06-01"}.get(name) for name in KEPT_HEADERS
    )
    assert kept_header_values(second) is values  # one tuple per combination
    entry = Journal(4).open("req_1", "POST", "/v1/messages", 0.0, 0.0, "", None, first)
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
