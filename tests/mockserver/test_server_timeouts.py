"""Read timeouts close slow requests, never slow responses; EMFILE is logged once, then counted."""

from __future__ import annotations

import json
import logging
import resource
import socket

import pytest
from tests.support import TEST_KEY

from mockserver import MockServer, ServerConfig
from mockserver.web.conn_guard import AcceptErrors, install_accept_error_handler, raise_fd_limit


def short(ttft_s: float = 0.0, tokens_per_s: float | None = None) -> ServerConfig:
    return ServerConfig(ttft_s=ttft_s, tokens_per_s=tokens_per_s, header_timeout_s=0.5, body_timeout_s=0.5)


BODY = json.dumps(
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 30,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
).encode()
HEAD = (
    f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {TEST_KEY}\r\n"
    f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n"
).encode()


def connect(srv: MockServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30.0)  # generous: a saturated CI
    return sock


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while piece := sock.recv(65536):
        out += piece
    return out


def test_headers_that_never_end_are_cut() -> None:
    with MockServer(short()) as srv, connect(srv) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ")  # and nothing more
        assert read_all(sock) == b""  # closed by the server, not by our 30 s socket timeout
        assert len(srv.journal) == 0


def test_a_connection_that_sends_nothing_is_cut() -> None:
    with MockServer(short()) as srv, connect(srv) as sock:
        assert read_all(sock) == b""


def test_a_body_that_stops_coming_is_cut() -> None:
    with MockServer(short()) as srv, connect(srv) as sock:
        sock.sendall(HEAD + BODY[:10])
        answer = read_all(sock)
        assert b" 200 " not in answer.split(b"\r\n", 1)[0]  # never answered as if the body were whole


def test_a_slow_stream_and_keep_alive_outlive_the_read_timeouts() -> None:
    """A stream lasting several times both timeouts is written to its end, and the same
    connection then serves a second request (the timeouts bound reading the request only)."""
    with MockServer(short(ttft_s=0.6, tokens_per_s=20.0)) as srv, connect(srv) as sock:
        for _ in range(2):
            sock.sendall(HEAD + BODY)
            answer = b""
            while not (b"event: message_stop" in answer and answer.endswith(b"\r\n0\r\n\r\n")):
                piece = sock.recv(65536)
                assert piece, "the server closed a connection that was being answered"
                answer += piece
            assert answer.startswith(b"HTTP/1.1 200")
        assert [e.status for e in srv.journal] == [200, 200] and not any(e.client_gone for e in srv.journal)


def test_timeouts_are_checked() -> None:
    with pytest.raises(ValueError, match="read timeouts"):
        ServerConfig(header_timeout_s=0)


def test_accept_errors_are_logged_once_then_counted() -> None:
    now = [0.0]
    errors = AcceptErrors(lambda: now[0], every_s=60.0)
    exc = OSError(24, "Too many open files")
    lines = [errors.seen(exc) for _ in range(1000)]
    assert lines[0] is not None and "out of file descriptors" in lines[0] and "ulimit" in lines[0]
    assert lines[1:] == [None] * 999
    now[0] = 61.0
    assert errors.seen(exc) == "out of file descriptors accepting connections: 1000 more times (1001 in all)"


async def test_the_loop_handler_takes_accept_errors_and_passes_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(str(ctx["message"])))
    try:
        errors = install_accept_error_handler(loop)
        with caplog.at_level(logging.WARNING, logger="busysignal.server"):
            for _ in range(500):
                loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": OSError(24, "EMFILE")}
                )
            loop.call_exception_handler({"message": "something else"})
        assert errors.count == 500
        assert len([r for r in caplog.records if "out of file descriptors" in r.getMessage()]) == 1
        assert seen == ["something else"]
    finally:
        loop.set_exception_handler(None)


def test_raise_fd_limit_raises_the_soft_limit_to_the_hard() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            assert raise_fd_limit() == (64, hard)
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert raise_fd_limit()[1] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # never lowers
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
