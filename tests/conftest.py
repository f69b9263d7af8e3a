"""Shared fixtures: a scripted fault engine and a fake clock for the mock-server suites, a
real redis-server on a free loopback port for the Redis cache and Celery suites, the Hypothesis
profile, and the guard that keeps Locust out of the test process. The helpers they build on
(and that tests import) are in tests/support.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from tests.support import FakeClock, ScriptedEngine, free_port

try:  # the SDK 1.x environment (make sdk1) runs the SDK-mapping tests without Hypothesis
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - the dev environment has it
    pass
else:
    # Property tests judge what the code returns, never how fast: Hypothesis's per-example
    # deadline (200 ms) and its "data generation is too slow" check would fail them on a
    # saturated machine. Under CI the examples are derived from each test's name (derandomize),
    # so a run there is reproducible; elsewhere every run explores new examples.
    settings.register_profile(
        "busysignal",
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=bool(os.environ.get("CI")),
    )
    settings.load_profile("busysignal")


@pytest.fixture
def scripted_engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


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
