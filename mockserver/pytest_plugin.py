"""The busysignal pytest plugin (loaded through the ``pytest11`` entry point).

Fixtures
  ``busysignal_server``       one mock server per session (per xdist worker), in process; or, with
                              ``--busysignal-url``, a server running elsewhere, driven through its
                              control plane.
  ``mock_api``                the per-test view: journal cleared, scenario from the marker; gives
                              ``url``, ``entries()``, ``logical_requests()``, ``calls()`` and the
                              conformance assertions (``assert_backs_off()`` ...).
  ``anthropic_client``        ``anthropic.Anthropic`` pointed at the mock, test-friendly timeouts.
  ``async_anthropic_client``  the same, ``anthropic.AsyncAnthropic`` (a sync fixture: with
                              pytest-asyncio, strict or auto mode; see the README).
  ``busysignal_conformance``  the conformance kit on a client factory (``assert_conforms``).

Marker ``@pytest.mark.busysignal(scenario=NAME | dict | path, seed=N)``. Options
``--busysignal-scenario``, ``--busysignal-seed``, ``--busysignal-url``. When a test that used
``mock_api`` fails, its report gets a "busysignal journal" section with every attempt.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from mockserver.conformance import assertions
from mockserver.conformance.journal_text import format_journal
from mockserver.conformance.verdicts import CheckResult, Verdict
from mockserver.control_client import ControlClient
from mockserver.journal import Call, JournalEntry, LogicalRequest, calls, logical_requests
from scenarios.library import is_path

TEST_API_KEY = "sk-ant-busysignal-test"
SECTION = "busysignal journal"
_MOCK_API_KEY = pytest.StashKey["MockAPI"]()

ScenarioSpec = str | Path | Mapping[str, Any] | None


class ServerHandle(Protocol):
    """What the fixtures need from a server, in process or remote."""

    url: str

    def raw_entries(self) -> list[dict[str, Any]]: ...

    def clear(self) -> None: ...

    def set_scenario(self, spec: ScenarioSpec, seed: int | None) -> None: ...

    def close(self) -> None: ...


class LocalServer:
    """A ``mockserver.MockServer`` running in a background thread of this process."""

    def __init__(self, scenario: ScenarioSpec, seed: int) -> None:
        # imported late: loading the plugin (in every pytest run) stays cheap until a test needs it
        from mockserver.web.server import MockServer

        spec = _normalise(scenario)
        self._server = MockServer(scenario=str(spec) if isinstance(spec, Path) else spec, seed=seed)
        self._server.start()
        self.url: str = self._server.url
        self._seed = seed

    def raw_entries(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self._server.journal.entries()]

    def clear(self) -> None:
        self._server.journal.clear()

    def set_scenario(self, spec: ScenarioSpec, seed: int | None) -> None:
        spec = _normalise(spec)
        self._server.set_scenario(
            str(spec) if isinstance(spec, Path) else spec, seed=self._seed if seed is None else seed
        )

    def close(self) -> None:
        self._server.stop()


class RemoteServer:
    """A busysignal server running elsewhere, driven through its ``/_busysignal/`` control plane
    (by :class:`mockserver.control_client.ControlClient`)."""

    def __init__(self, url: str, *, token: str | None = None, token_file: str | None = None) -> None:
        """``token`` (or ``token_file``) as ``serve`` takes it; by default the token is found
        as ``serve`` finds it: ``$BUSYSIGNAL_CONTROL_TOKEN`` or ``$BUSYSIGNAL_CONTROL_TOKEN_FILE``."""
        self._control = ControlClient.from_env(url, token=token, token_file=token_file)
        self.url = self._control.url

    def raw_entries(self) -> list[dict[str, Any]]:
        return self._control.journal()

    def clear(self) -> None:
        self._control.clear_journal()

    def set_scenario(self, spec: ScenarioSpec, seed: int | None) -> None:
        """The remote server keeps its own seed (its ``--seed``); ``seed`` is not sent."""
        spec = _normalise(spec)
        self._control.set_scenario("steady" if spec is None else spec)

    def close(self) -> None:
        return None


def _normalise(spec: ScenarioSpec, *, base: Path | None = None) -> str | Path | dict[str, Any] | None:
    """Names and YAML text stay strings, mappings become dicts, files become Paths (a relative
    path is looked up next to the test file ``base`` first, then in the working directory)."""
    __tracebackhide__ = True  # a bad scenario is the test's error, not the plugin's
    if isinstance(spec, Path):
        spec = str(spec)
    if spec is None:
        return spec
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str):
        if is_path(spec):
            path = Path(spec)
            if base is not None and not path.is_absolute() and (base / path).is_file():
                path = base / path
            if not path.is_file():
                raise pytest.UsageError(f"busysignal: scenario file not found: {spec}")
            return path
        return spec
    raise pytest.UsageError(
        f"busysignal: a scenario is a name, a path or a mapping, not {type(spec).__name__}"
    )


class MockAPI:
    """One test's view of the mock server (every member, with an example, in
    mockserver/conformance/README.md; tests/mockserver/test_plugin_docs.py keeps the two in step)."""

    def __init__(self, server: ServerHandle) -> None:
        self._server = server
        self.url = server.url

    # the journal ------------------------------------------------------------------------------
    def raw_entries(self) -> list[dict[str, Any]]:
        return self._server.raw_entries()

    def entries(self) -> list[JournalEntry]:
        """The journal, once the server has closed the entries of calls that already returned
        (it may close one a moment after the client holds the whole answer)."""
        from mockserver.conformance.runner import settled_entries

        return settled_entries(self._server.raw_entries, settle_s=2.0)

    def logical_requests(self) -> list[LogicalRequest]:
        """The journal's logical requests: the type ``MockServer.journal.logical_requests()`` returns."""
        return logical_requests(self.entries())

    def calls(self) -> list[Call]:
        """The journal's calls (same API key and prompt, across model fallback)."""
        return calls(self.entries())

    def clear(self) -> None:
        self._server.clear()

    def journal_text(self) -> str:
        return format_journal(self.entries())

    def set_scenario(self, spec: ScenarioSpec, *, seed: int | None = None) -> None:
        """Swap the scenario now (its clock restarts)."""
        self._server.set_scenario(spec, seed)

    # the conformance checks as assertions -------------------------------------------------------
    def assert_backs_off(self, **kw: Any) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_backs_off(self.entries(), **kw)

    def assert_honours_retry_after(self, *, required_wait_s: float) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_honours_retry_after(self.entries(), required_wait_s=required_wait_s)

    def assert_jitters(self, **kw: Any) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_jitters(self.entries(), **kw)

    def assert_caps(self, **kw: Any) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_caps(self.entries(), **kw)

    def assert_no_forbidden_retries(self) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_no_forbidden_retries(self.entries())

    def assert_falls_back(self, *, chain: Sequence[str]) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_falls_back(self.entries(), chain=chain)

    def assert_no_stacking(self, *, claimed_max_attempts: int | None) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_no_stacking(self.entries(), claimed_max_attempts=claimed_max_attempts)

    def assert_survives(self) -> CheckResult:
        __tracebackhide__ = True
        return assertions.assert_survives(self.entries())


# ---------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("busysignal", "busysignal mock Anthropic API")
    group.addoption(
        "--busysignal-scenario",
        default=None,
        help="scenario for tests without a busysignal marker: built-in name or YAML path (default: steady)",
    )
    group.addoption(
        "--busysignal-seed", type=int, default=0, help="seed of the mock's fault engine (default 0)"
    )
    group.addoption(
        "--busysignal-url",
        default=os.environ.get("BUSYSIGNAL_URL"),
        help="use a busysignal server already running at URL (its control plane) instead of one in process",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "busysignal(scenario=NAME|dict|path, seed=N): the mock's scenario (and seed) for this test",
    )


@pytest.fixture(scope="session")
def busysignal_server(pytestconfig: pytest.Config) -> Iterator[ServerHandle]:
    """The mock server for this session (one per xdist worker)."""
    url = pytestconfig.getoption("--busysignal-url")
    scenario = pytestconfig.getoption("--busysignal-scenario")
    seed = pytestconfig.getoption("--busysignal-seed")
    server: ServerHandle = RemoteServer(url) if url else LocalServer(scenario, seed)
    try:
        yield server
    finally:
        server.close()


def _marker_scenario(request: pytest.FixtureRequest) -> tuple[ScenarioSpec, int | None]:
    __tracebackhide__ = True
    default: ScenarioSpec = request.config.getoption("--busysignal-scenario")
    marker = request.node.get_closest_marker("busysignal")
    if marker is None:
        return default, None
    unknown = set(marker.kwargs) - {"scenario", "seed"}
    if unknown or len(marker.args) > 1:
        raise pytest.UsageError(
            f"{request.node.nodeid}: @pytest.mark.busysignal takes scenario= and seed= "
            f"(got {sorted(unknown) or marker.args})"
        )
    scenario = marker.kwargs.get("scenario", marker.args[0] if marker.args else default)
    scenario = _normalise(scenario, base=Path(str(request.node.path)).parent)
    seed = marker.kwargs.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise pytest.UsageError(f"{request.node.nodeid}: busysignal seed must be an int, got {seed!r}")
    return scenario, seed


@pytest.fixture
def mock_api(busysignal_server: ServerHandle, request: pytest.FixtureRequest) -> Iterator[MockAPI]:
    """This test's view of the mock: journal cleared, scenario from the marker (or the option)."""
    __tracebackhide__ = True
    scenario, seed = _marker_scenario(request)
    if seed is None:
        seed = request.config.getoption("--busysignal-seed")
    busysignal_server.set_scenario(scenario, seed)
    busysignal_server.clear()
    api = MockAPI(busysignal_server)
    request.node.stash[_MOCK_API_KEY] = api
    yield api


@pytest.fixture
def anthropic_client(mock_api: MockAPI) -> Iterator[Any]:
    """``anthropic.Anthropic`` on the mock: SDK retry defaults, 10 s timeouts (5 s to connect)."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=mock_api.url, api_key=TEST_API_KEY, timeout=anthropic.Timeout(10.0, connect=5.0)
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def async_anthropic_client(mock_api: MockAPI) -> Iterator[Any]:
    """``anthropic.AsyncAnthropic`` on the mock, same settings as ``anthropic_client``."""
    import anthropic

    yield anthropic.AsyncAnthropic(
        base_url=mock_api.url, api_key=TEST_API_KEY, timeout=anthropic.Timeout(10.0, connect=5.0)
    )


class Conformance:
    """Run the conformance kit on a client factory from a test (each probe on its own server)."""

    def verify(self, factory: Any, *, only: Sequence[str] | None = None, seed: int = 0) -> Any:
        """A :class:`mockserver.conformance.runner.Verification` (every check's result)."""
        from mockserver.conformance.runner import verify

        return verify(factory, only=only, seed=seed)

    def assert_conforms(
        self, factory: Any, *, only: Sequence[str] | None = None, allow: Sequence[int] = (), seed: int = 0
    ) -> Any:
        """Fail the test, with the scorecard, unless every check passes (or is in ``allow``) and at
        least one check outside ``allow`` was judged (all n/a is no verdict, so no pass)."""
        __tracebackhide__ = True
        from mockserver.conformance.scorecard import render_scorecard

        v = self.verify(factory, only=only, seed=seed)
        failed = [r for r in v.results if not r.passed and r.number not in allow]
        judged = [r for r in v.results if r.verdict is not Verdict.NOT_APPLICABLE and r.number not in allow]
        if failed or not judged:
            problem = (
                f"fails check(s) {', '.join(str(r.number) for r in failed)}"
                if failed
                else "was not judged: every check outside allow= was n/a"
            )
            raise AssertionError(f"{v.client} {problem}\n" + render_scorecard({v.client: v.results}))
        return v


@pytest.fixture
def busysignal_conformance() -> Conformance:
    """The conformance kit: ``busysignal_conformance.assert_conforms(my_factory)``."""
    return Conformance()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and call.when in ("call", "setup"):
        api = item.stash.get(_MOCK_API_KEY, None)
        if api is not None:
            try:
                text = api.journal_text()
            except Exception as exc:  # the report must not hide the test's own failure
                text = f"(journal unavailable: {exc})"
            report.sections.append((SECTION, text))
    return report
