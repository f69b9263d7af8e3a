"""Run a client through the probes, each on its own mock server, and judge the journals.

This is the I/O shell around the pure checks: it starts servers, builds clients from the
factory, makes the calls in threads, and hands the journal entries to :func:`judge`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockserver.clients.base import ClientUnderTest, as_client_under_test
from mockserver.conformance import checks
from mockserver.conformance.probes import (
    MAX_ATTEMPTS_PER_CALL,
    MAX_SECONDS_PER_CALL,
    RETRY_AFTER_MS,
    RETRY_AFTER_S,
    Probe,
    probes,
)
from mockserver.conformance.raised import ClientError, client_error, is_api_error
from mockserver.conformance.verdicts import CheckResult, Score, Verdict, result
from mockserver.journal import JournalEntry, generation_entries, parse_entries

ClientFactory = Callable[[str], Any]
Progress = Callable[[str], None]


class _Journal(Protocol):
    def entries(self) -> Sequence[Any]: ...


class ServerLike(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def journal(self) -> _Journal: ...


# (scenario: a name, a path, YAML text or a mapping; seed) -> a running server
ServerFactory = Callable[[Any, int], AbstractContextManager[ServerLike]]


@contextmanager
def mock_server_factory(spec: Any, seed: int) -> Iterator[ServerLike]:
    from mockserver.web.server import MockServer

    with MockServer(scenario=dict(spec) if isinstance(spec, Mapping) else spec, seed=seed) as server:
        yield server


class Cancelled(Exception):
    """The run was cancelled (Ctrl-C) before every probe had finished."""


@dataclass
class ProbeRun:
    probe: Probe
    entries: list[JournalEntry]
    unfinished: int = 0  # calls still running when the kit stopped waiting (judged by check 4)
    raised: dict[str, int] = field(default_factory=dict)  # exception class → count, as the caller saw
    elapsed_s: float = 0.0
    errors: list[ClientError] = field(default_factory=list)  # non-API exceptions the calls raised
    waited_s: float = 0.0  # how long the kit waited for the calls

    @property
    def reached_mock(self) -> bool:
        return bool(generation_entries(self.entries))

    @property
    def broken(self) -> bool:
        """Nothing reached the mock, or a call raised something no API failure raises: whatever
        the journal shows, the probe judged the client's bug, not its resilience."""
        return bool(self.errors) or not self.reached_mock


@dataclass
class Verification:
    client: str
    models: tuple[str, ...]
    claimed_max_attempts: int | None
    results: list[CheckResult]
    runs: dict[str, ProbeRun]

    @property
    def score(self) -> Score:
        return Score.of(self.results)

    @property
    def passed(self) -> bool:
        """No check failed, and at least one was judged."""
        return self.score.ok

    @property
    def entries(self) -> list[JournalEntry]:
        return [e for run in self.runs.values() for e in run.entries]


def judge(
    runs: Mapping[str, ProbeRun], *, chain: Sequence[str], claimed_max_attempts: int | None
) -> list[CheckResult]:
    """The eight checks over the probes' journals (pure)."""

    def of(*names: str) -> list[JournalEntry]:
        return [e for n in names if n in runs for e in runs[n].entries]

    refusals = [n for n in runs if n.startswith("refusal-")]
    outage = runs.get("outage")
    results = [
        checks.check_backs_off(of("backoff")),
        checks.check_honours_retry_after(
            [
                checks.RetryAfterCase("retry-after-ms 250", of("retry-after-ms"), RETRY_AFTER_MS / 1000),
                checks.RetryAfterCase("retry-after 1", of("retry-after"), RETRY_AFTER_S),
            ]
        ),
        checks.check_jitter(of("burst")),
        checks.check_caps(
            of("outage"),
            max_attempts=MAX_ATTEMPTS_PER_CALL,
            max_total_s=MAX_SECONDS_PER_CALL,
            unfinished=0 if outage is None else outage.unfinished,
            waited_s=None if outage is None else outage.waited_s,
        ),
        checks.check_no_forbidden_retries(of(*refusals)),
        checks.check_fallback(of("fallback", *refusals), chain=chain),
        checks.check_no_stacking(of(*runs), claimed_max_attempts=claimed_max_attempts),
        checks.check_survives(of("mid-stream-error", "dropped-connection", "dropped-stream")),
    ]
    return [_unless_broken(r, runs) for r in results]


def _unless_broken(r: CheckResult, runs: Mapping[str, ProbeRun]) -> CheckResult:
    """``r``, or a failure naming what the client raised when a probe check ``r`` reads is broken
    (check 7 reads every probe)."""
    broken = [run for run in runs.values() if run.broken and (r.number in run.probe.checks or r.number == 7)]
    if not broken:
        return r
    errors = list(dict.fromkeys(e for run in broken for e in run.errors))
    raised: dict[str, int] = {}
    for run in broken:
        for name, n in run.raised.items():
            raised[name] = raised.get(name, 0) + n
    silent = [run.probe.name for run in broken if not run.reached_mock]
    parts = [f"raised {_counts(raised)} in {_probes([run.probe.name for run in broken])}"] if raised else []
    if silent:
        parts.append(f"no attempt reached the mock in {_probes(silent)}")
    measured = "; ".join(parts)
    explanation = (
        "The client raised what no API failure raises, so nothing about its resilience was judged: "
        + "; ".join(str(e) for e in errors[:3])
        if errors
        else "No request reached the mock, so there was nothing to judge."
    )
    return result(r.number, Verdict.FAIL, measured, explanation + ".", errors=errors)


def _probes(names: Sequence[str]) -> str:
    return f"probe {names[0]}" if len(names) == 1 else f"{len(names)} probes"


def _counts(raised: Mapping[str, int]) -> str:
    return ", ".join(f"{name} ×{n}" for name, n in raised.items())


def _call_params(probe: Probe, model: str, client_no: int, call_no: int, nonce: str) -> dict[str, Any]:
    text = f"busysignal probe {probe.name}: client {client_no}, call {call_no} ({nonce})"
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **probe.params}


def run_probe(
    factory: ClientFactory,
    probe: Probe,
    *,
    seed: int = 0,
    timeout_s: float = 45.0,
    server_factory: ServerFactory = mock_server_factory,
    nonce: str | None = None,
    cancel: threading.Event | None = None,
) -> ProbeRun:
    """One probe: a fresh server on the probe's scenario, ``probe.clients`` client instances
    started together, each making ``probe.calls`` concurrent calls; the server's journal after.
    Once ``cancel`` is set the kit stops waiting for the calls (their threads are daemons)."""
    nonce = nonce or uuid.uuid4().hex[:12]
    cancel = cancel or threading.Event()
    raised: dict[str, int] = {}
    errors: list[ClientError] = []
    lock = threading.Lock()
    started = time.monotonic()
    if cancel.is_set():  # cancelled before this probe's server started: start none
        return ProbeRun(probe, [], elapsed_s=0.0)
    with server_factory(probe.scenario, seed) as server:
        clients = _build_clients(factory, server.url, probe.clients, cancel)
        barrier = threading.Barrier(probe.clients * probe.calls)

        def one(cut: ClientUnderTest, client_no: int, call_no: int) -> None:
            params = _call_params(probe, cut.models[0], client_no, call_no, nonce)
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                return  # another thread is gone (the run was cancelled); nothing to call
            try:
                (cut.stream if probe.stream else cut.create)(**params)
            except Exception as exc:  # the caller's view: counted; the journal is what is judged
                with lock:
                    raised[type(exc).__name__] = raised.get(type(exc).__name__, 0) + 1
                    if not is_api_error(exc):
                        errors.append(client_error(exc))

        threads = [
            threading.Thread(
                target=one, args=(cut, c, i), daemon=True, name=f"busysignal-{probe.name}-{c}-{i}"
            )
            for c, cut in enumerate(clients)
            for i in range(probe.calls)
        ]
        if len(clients) == probe.clients and not cancel.is_set():
            for t in threads:
                t.start()
        wait_s = timeout_s if probe.timeout_s is None else max(timeout_s, probe.timeout_s)
        unfinished = join_all(threads, deadline=started + wait_s, cancel=cancel)
        if cancel.is_set():
            barrier.abort()
        entries = settled_entries(server.journal.entries, wait=not unfinished and not cancel.is_set())
        for cut in clients:
            with suppress(Exception):  # closing a client must not hide the probe's result
                cut.close()
    unique = list(dict.fromkeys(errors))
    return ProbeRun(probe, entries, unfinished, raised, time.monotonic() - started, unique, wait_s)


def as_finished(futures: Iterable[Future[Any]], *, poll_s: float = 0.1) -> Iterator[Future[Any]]:
    """``futures`` as they finish, like ``as_completed``, but waking every ``poll_s``: the OS may
    deliver Ctrl-C's SIGINT to any thread, and the main thread raises KeyboardInterrupt only once
    it runs again, which a wait without a timeout would put off until a future finished."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=poll_s, return_when=FIRST_COMPLETED)
        yield from done


def _build_clients(
    factory: ClientFactory, url: str, n: int, cancel: threading.Event
) -> list[ClientUnderTest]:
    """``n`` client instances, or fewer once ``cancel`` is set (then the probe makes no call)."""
    clients: list[ClientUnderTest] = []
    while len(clients) < n and not cancel.is_set():
        clients.append(as_client_under_test(factory(url)))
    return clients


def join_all(threads: Sequence[threading.Thread], *, deadline: float, cancel: threading.Event) -> int:
    """Wait for ``threads`` until ``deadline`` (monotonic) or until ``cancel`` is set; the number
    of threads still running then."""
    for t in threads:
        while t.is_alive() and not cancel.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t.join(min(remaining, 0.1))  # short joins, so that a cancel is seen within 0.1 s
    return sum(1 for t in threads if t.is_alive())


def settled_entries(
    read: Callable[[], Iterable[Any]], *, wait: bool = True, settle_s: float = 5.0
) -> list[JournalEntry]:
    """The journal (``read()``: the server's raw entries) once the server has closed the entries
    of responses that just finished.

    A client may hold its whole answer a moment before the server closes that request's entry
    (a loaded machine stretches the moment), so an entry read too early looks unfinished and its
    call unanswered. With ``wait`` (every call returned), poll until no entry is open, for at most
    ``settle_s``; an entry still open then (a hung connection) is judged as it is."""
    deadline = time.monotonic() + settle_s
    entries = parse_entries(read())
    while wait and any(e.end is None for e in entries) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the server thread, not waiting for time
        entries = parse_entries(read())
    return entries


def verify(
    factory: ClientFactory,
    *,
    seed: int = 0,
    timeout_s: float = 45.0,
    server_factory: ServerFactory = mock_server_factory,
    progress: Progress | None = None,
    only: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> Verification:
    """Run every probe (concurrently, one server each) and judge the client.

    On an exception here (Ctrl-C's KeyboardInterrupt included) or once ``cancel`` is set, the
    probes stop waiting for their calls and stop their servers, and the exception propagates
    (:class:`Cancelled` for ``cancel``) without waiting for the probes to finish."""
    cancel = cancel or threading.Event()
    # one throwaway instance tells the kit the client's name, chain and claims
    sample = as_client_under_test(factory("http://127.0.0.1:9"))
    sample.close()
    selected = [p for p in probes(sample.models[0]) if only is None or p.name in only]
    nonce = uuid.uuid4().hex[:12]
    runs: dict[str, ProbeRun] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="busysignal-probe")
    try:
        names = {
            pool.submit(
                run_probe,
                factory,
                p,
                seed=seed,
                timeout_s=timeout_s,
                server_factory=server_factory,
                nonce=nonce,
                cancel=cancel,
            ): p.name
            for p in selected
        }
        if progress is not None:
            progress(f"{sample.name}: {len(selected)} probes started")
        for fut in as_finished(names):
            run: ProbeRun = fut.result()
            if cancel.is_set():
                raise Cancelled(f"verify {sample.name}: cancelled")
            runs[names[fut]] = run
            if progress is not None:
                n_req = len(run.entries)
                progress(f"{sample.name}: probe {names[fut]} done ({n_req} requests, {run.elapsed_s:.1f} s)")
    except BaseException:
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    runs = {p.name: runs[p.name] for p in selected}  # probe order, whatever finished first
    results = judge(runs, chain=sample.models, claimed_max_attempts=sample.claimed_max_attempts)
    if only is not None:
        wanted = {c for p in selected for c in p.checks} | {7}  # stacking is judged on every probe
        results = [r for r in results if r.number in wanted]
    return Verification(sample.name, sample.models, sample.claimed_max_attempts, results, runs)
