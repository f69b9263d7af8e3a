"""Run the mock: in the current event loop (:class:`AsyncMockServer`) or in a background thread
(:class:`MockServer`), on a free port of 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar, cast, overload

from aiohttp import web

from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.faults import FaultEngine, build_engine
from mockserver.journal import Journal
from mockserver.web.conn_guard import AcceptErrors, GuardedRunner, ReadTimeouts, install_accept_error_handler
from mockserver.web.scenario_status import scenario_status
from mockserver.web.state import STATE, MockState, Spec

T = TypeVar("T")


class UnsafeBindError(RuntimeError):
    """Binding the control plane to a non-loopback interface without a control token."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config(config: ServerConfig | None, overrides: dict[str, Any]) -> ServerConfig:
    base = config or ServerConfig()
    return dataclasses.replace(base, **overrides) if overrides else base


def check_bind(host: str, config: ServerConfig) -> None:
    if not is_loopback_host(host) and not config.control_token:
        raise UnsafeBindError(
            f"refusing to bind {host}: the control plane would be reachable from other machines; "
            "set a control token (--control-token / control_token=...) or bind 127.0.0.1"
        )


class AsyncMockServer:
    """``async with AsyncMockServer(seed=1) as server: ...`` — the mock in the running loop.

    Keyword arguments other than ``config``, ``host``, ``port``, ``scenario``, ``engine`` and
    ``shutdown_timeout`` (seconds in-flight requests get on stop) override fields of
    :class:`ServerConfig` (``ttft_s``, ``tokens_per_s``, ``seed``...).
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Spec = None,
        engine: FaultEngine | None = None,
        shutdown_timeout: float = 0.5,
        **overrides: Any,
    ) -> None:
        self.config = _config(config, overrides)
        self.shutdown_timeout = shutdown_timeout
        check_bind(host, self.config)
        self.host = host
        self._requested_port = port
        self.port = port
        self.app = create_app(self.config, scenario=scenario, engine=engine)
        self.state: MockState = self.app[STATE]
        self.state.bind_host = host
        self._runner: web.AppRunner | None = None
        self.accept_errors: AcceptErrors | None = None  # EMFILE on accept(), counted (conn_guard)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def journal(self) -> Journal:
        return self.state.journal

    @property
    def engine(self) -> FaultEngine:
        return self.state.engine

    @property
    def scenario(self) -> Spec:
        """The spec of the loaded scenario (None: the steady default)."""
        return self.state.scenario

    async def start(self) -> AsyncMockServer:
        # in-flight requests (a hanging fault, a slow stream) get this long to finish on stop
        if self.accept_errors is None:
            self.accept_errors = install_accept_error_handler(asyncio.get_running_loop())
        timeouts = ReadTimeouts(self.config.header_timeout_s, self.config.body_timeout_s)
        runner = GuardedRunner(
            self.app, timeouts, access_log=None, handle_signals=False, shutdown_timeout=self.shutdown_timeout
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def key_id(self, api_key: str) -> str:
        """The journal's ``api_key_id`` of ``api_key`` on this server (salted: see keyids)."""
        return self.state.key_ids[api_key] if api_key else ""

    def set_scenario(self, spec: Spec, *, seed: int | None = None) -> None:
        """Load a scenario (raises ScenarioError); restarts the engine clock and the index.

        ``seed`` defaults to the server's seed."""
        seed = self.config.seed if seed is None else seed
        self.state.set_engine(build_engine(spec, seed=seed), spec, seed=seed)

    def set_engine(self, engine: FaultEngine) -> None:
        self.state.set_engine(engine, "custom")

    def scenario_status(self) -> dict[str, Any]:
        """What ``GET /_busysignal/scenario`` answers now: the scenario's name, its windows,
        the seconds since its clock started (the server's clock) and what happens next."""
        state = self.state
        return scenario_status(
            state.engine, state.scenario, seed=state.scenario_seed, index=state.index, now=state.clock()
        )

    def reset(self) -> None:
        """Clear the journal and stats, restart the engine: its scenario clock starts again at 0
        and its request index, counters, buckets and capacity start afresh."""
        self.state.reset()

    async def __aenter__(self) -> AsyncMockServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class _FromAsync(Generic[T]):
    """A read-only attribute of :class:`MockServer`: the same attribute of the server it runs."""

    def __init__(self, doc: str | None = None) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type[Any] | None = None) -> _FromAsync[T]: ...
    @overload
    def __get__(self, obj: MockServer, objtype: type[Any] | None = None) -> T: ...
    def __get__(self, obj: MockServer | None, objtype: type[Any] | None = None) -> T | _FromAsync[T]:
        if obj is None:
            return self
        return cast(T, getattr(obj._server, self._name))


class MockServer:
    """``with MockServer() as server: client = Anthropic(base_url=server.url, api_key="k")``.

    Runs the mock in a background thread with its own event loop. Same options and
    attributes as :class:`AsyncMockServer`; ``set_scenario``/``reset`` are applied on the
    server's loop, between requests.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Spec = None,
        engine: FaultEngine | None = None,
        shutdown_timeout: float = 0.5,
        **overrides: Any,
    ) -> None:
        self._server = AsyncMockServer(
            config,
            host=host,
            port=port,
            scenario=scenario,
            engine=engine,
            shutdown_timeout=shutdown_timeout,
            **overrides,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # the same attributes as the AsyncMockServer it runs
    config = _FromAsync[ServerConfig]()
    url = _FromAsync[str]()
    port = _FromAsync[int]()
    host = _FromAsync[str]()
    journal = _FromAsync[Journal]()
    engine = _FromAsync[FaultEngine]()
    state = _FromAsync[MockState]()
    scenario = _FromAsync[Spec]("The spec of the loaded scenario (None: the steady default).")

    def start(self) -> MockServer:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._server.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._server.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=f"busysignal-mock-{id(self):x}", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop = loop
        self._thread = thread
        return self

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop, between requests (directly when not running)."""
        loop = self._loop
        if loop is None:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def set_scenario(self, spec: Spec, *, seed: int | None = None) -> None:
        """Load a scenario (raises ScenarioError in the caller); swapped on the server loop.

        ``seed`` defaults to the server's seed."""
        seed = self.config.seed if seed is None else seed
        engine = build_engine(spec, seed=seed)  # here, so that a bad scenario raises in the caller
        self._on_loop(lambda: self._server.state.set_engine(engine, spec, seed=seed))

    def set_engine(self, engine: FaultEngine) -> None:
        self._on_loop(lambda: self._server.set_engine(engine))

    def key_id(self, api_key: str) -> str:
        """The journal's ``api_key_id`` of ``api_key`` on this server (salted: see keyids)."""
        return self._server.key_id(api_key)

    def scenario_status(self) -> dict[str, Any]:
        """See :meth:`AsyncMockServer.scenario_status` (read on the server loop)."""
        return self._on_loop(self._server.scenario_status)

    def reset(self) -> None:
        """Clear the journal and stats, restart the engine (on the server loop)."""
        self._on_loop(self._server.reset)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
