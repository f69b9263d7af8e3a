"""Shared fixtures: a scripted fault engine and a fake clock for the mock-server suites, a
real redis-server on a free loopback port for the Redis cache and Celery suites, and the SDK's
own exceptions for error responses (the resilience suites).

The scripted engine implements the FaultEngine protocol with a fixed list of Decisions, so the
server's application of every Decision field can be tested without the real scenario engine.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported lazily: a conftest failure would break every test module
    from mockserver.faults import Decision, RequestFacts

TEST_KEY = "sk-test-key"

try:  # the SDK 1.x environment (make sdk1) runs the SDK-mapping tests without Hypothesis
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - the dev environment has it
    pass
else:
    # Property tests judge what the code returns, never how fast: Hypothesis's per-example
    # deadline (200 ms) and its "data generation is too slow" check would fail them on a
    # saturated machine.
    settings.register_profile("busysignal", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("busysignal")


@dataclass
class Completed:
    facts: RequestFacts
    decision: Decision
    now: float
    status: int
    output_tokens: int
    client_gone: bool


@dataclass
class ScriptedEngine:
    """Returns the scripted decisions in order (then passes), recording every call."""

    script: list[Decision] = field(default_factory=list)
    decided: list[RequestFacts] = field(default_factory=list)
    completed: list[Completed] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)

    def decide(self, facts: RequestFacts, now: float) -> Decision:
        from mockserver.faults import Decision

        self.decided.append(facts)
        return self.script.pop(0) if self.script else Decision()

    def complete(
        self,
        facts: RequestFacts,
        decision: Decision,
        now: float,
        *,
        status: int,
        output_tokens: int,
        client_gone: bool,
    ) -> None:
        self.completed.append(Completed(facts, decision, now, status, output_tokens, client_gone))

    def restart(self, now: float) -> None:
        self.restarts.append(now)

    def push(self, decisions: Iterable[Decision]) -> None:
        self.script.extend(decisions)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def scripted_engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def user(text: str = "Hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@functools.cache
def _sdk_client() -> Any:
    import anthropic  # lazily, like everything this module imports from the project's stack

    return anthropic.Anthropic(api_key="test-key", base_url="http://127.0.0.1:9")


def sdk_status_error(
    status: int,
    error_type: str | None,
    headers: dict[str, str] | None = None,
    *,
    request_id: str = "req_x",
    **error_fields: Any,
) -> Exception:
    """The exception the installed SDK raises for this error response: its own choice of class
    for the status, with the body ``{"type": "error", "error": {"type": ..., "message": "m",
    **error_fields}}`` and a ``request-id`` header."""
    import httpx2

    error: dict[str, Any] = {"type": error_type or "api_error", "message": "m", **error_fields}
    response = httpx2.Response(
        status,
        headers={"request-id": request_id, **(headers or {})},
        request=httpx2.Request("POST", "http://127.0.0.1:9/v1/messages"),
    )
    return _sdk_client()._make_status_error(
        f"Error code: {status}", body={"type": "error", "error": error}, response=response
    )


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the module's own (no persistence), ``redis://127.0.0.1:PORT/0``.

    Skips the module when the ``redis`` package or the ``redis-server`` binary is missing."""
    redis = pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):  # CI installs it (make services): a skip there would hide the suites
            pytest.fail("redis-server is not installed (make services installs it)")
        pytest.skip("redis-server is not installed")
    workdir = tmp_path_factory.mktemp("redis")
    for _ in range(5):  # another process may take the port between probe and bind
        port = free_port()
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 60  # generous: a saturated machine starts it slowly
        ready = False
        try:
            while not ready and time.monotonic() < deadline and proc.poll() is None:
                try:
                    ready = bool(client.ping())
                except redis.ConnectionError:
                    time.sleep(0.01)  # polling the server until it listens
        finally:
            client.close()
        if proc.poll() is None:
            if not ready:
                proc.kill()
                pytest.fail("redis-server did not answer PING within 60 s")
            break
    else:
        pytest.fail("could not start redis-server on a free port")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(autouse=True)
def _locust_stays_out_of_the_test_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """Locust patches the whole interpreter with gevent when imported, and every later test in the
    same worker then runs on patched threads: name the test that imported it, where it happened."""
    yield
    if "locust" in sys.modules or "gevent.monkey" in sys.modules:
        pytest.fail(f"{request.node.nodeid} imported Locust (or gevent) into the test process", pytrace=False)
