"""The load-test runner: the mock and Locust as subprocesses, bounded in time, then the report.

For each strategy, one *run*:

1. start the mock (``busysignal serve``) on a free port and wait until it answers; the runner
   drives it through its control plane with :class:`~mockserver.control_client.ControlClient`;
2. start Locust headless (one process, or a master and ``workers`` workers) with the strategy's
   user class and a :class:`~loadtests.config.LoadConfig` in its environment; the schedule starts
   at ``t0`` (a few seconds ahead, so that every Locust process is up), when the runner also resets
   the mock so that the scenario clock starts with the load;
3. every second, pull the new journal entries (``since_seq``) into ``journal.jsonl`` and print
   a progress line; stop Locust if it outlives its time bound;
4. save the mock's stats and metrics, stop the mock, and summarize the run.

Strategies run one after another, each against a fresh mock, so they never share capacity.
Nothing here imports Locust (the pytest process imports this module).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from loadtests.config import CLOSE_GRACE_S, USER_CLASSES, LoadConfig, Mode
from loadtests.report import Attempt, LocustRow, attempts_from_journal, read_locust_json
from mockserver.control_client import ControlClient, ControlError
from mockserver.control_token import ControlTokenError, token_for_serve_args
from mockserver.extras import require
from mockserver.wire import paths

__all__ = ["RunError", "RunResult", "RunSpec", "free_port", "run_strategy"]

LOCUSTFILE = Path(__file__).resolve().parent / "locust_clients.py"
INTERRUPT_GRACE_S = 1.0  # on Ctrl-C or an error, the subprocesses get this long after SIGTERM
Progress = Callable[[str], None]


class RunError(RuntimeError):
    """A run that could not be carried out (the mock or Locust failed); says which and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _JournalMirror:
    """A copy of the mock's journal kept current by polling with ``since_seq``.

    Entries still in flight at a poll are fetched again at the next one (from the oldest open
    ``seq``), so the copy ends with every entry's final state. Entries that fell out of the
    mock's ring buffer before they were copied are counted in ``gaps``.
    """

    def __init__(self, control: ControlClient) -> None:
        self._control = control
        self._by_seq: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._open: set[int] = set()
        self.gaps = 0

    def poll(self) -> None:
        since = min(self._open) if self._open else self._next
        for e in self._control.journal(since):
            seq = int(e["seq"])
            if seq >= self._next:
                self.gaps += seq - self._next
                self._next = seq + 1
            self._by_seq[seq] = e
            if e.get("end") is None:
                self._open.add(seq)
            else:
                self._open.discard(seq)
        # an open entry that is no longer returned fell out of the ring buffer: stop asking
        self._open = {s for s in self._open if s >= since and self._by_seq[s].get("end") is None}

    def entries(self) -> list[dict[str, Any]]:
        return [self._by_seq[k] for k in sorted(self._by_seq)]

    @property
    def open_count(self) -> int:
        """Entries still in flight at the last poll."""
        return len(self._open)


@dataclass(frozen=True)
class RunSpec:
    """One strategy's run. Times in seconds; ``rate`` for the open loop, ``users`` for a closed one."""

    scenario: str  # built-in name or YAML path, as ``busysignal serve --scenario`` takes it
    strategy: str
    duration: float
    out: Path
    rate: float = 0.0
    users: int = 0
    shape: str = "steady"
    workers: int = 0
    seed: int = 1
    drain_s: float = 5.0
    startup_s: float = 0.0  # 0: chosen from the number of Locust processes
    max_in_flight: int = 2000
    model: str = "claude-sonnet-5-5"
    max_tokens: int = 16
    timeout_s: float = 0.0  # per-attempt client timeout for every strategy; 0: the SDK's 600 s
    server_args: tuple[str, ...] = ("--quiet", "--journal-size", "1000000")

    def __post_init__(self) -> None:
        if self.strategy not in USER_CLASSES:
            raise RunError(f"unknown strategy {self.strategy!r}; known: {', '.join(USER_CLASSES)}")
        if (self.rate > 0) == (self.users > 0):
            raise RunError("give exactly one of rate (open loop) or users (closed loop)")
        if self.strategy == "raw" and self.users <= 0:
            raise RunError("the raw FastHttpUser runs closed-loop only: give users")
        if self.workers < 0:
            raise RunError(f"workers must be >= 0, got {self.workers}")
        if not (math.isfinite(self.startup_s) and self.startup_s >= 0):
            raise RunError(f"startup must be a finite number of seconds >= 0, got {self.startup_s}")
        if self.users and self.workers and self.users < self.workers:
            raise RunError(f"{self.users} users cannot be spread over {self.workers} workers")

    @property
    def mode(self) -> Mode:
        return "open" if self.rate > 0 else "closed"

    @property
    def startup(self) -> float:
        return self.startup_s or (4.0 + 1.0 * self.workers)

    def load_config(self, t0: float) -> LoadConfig:
        return LoadConfig(
            strategy=self.strategy,
            mode=self.mode,
            shape=self.shape,
            rate=self.rate,
            duration=self.duration,
            t0=t0,
            seed=self.seed,
            arrival_users=max(1, self.workers),
            max_in_flight=self.max_in_flight,
            drain_s=self.drain_s,
            model=self.model,
            max_tokens=self.max_tokens,
            timeout_s=self.timeout_s,
        )


@dataclass
class RunResult:
    spec: RunSpec
    t0: float
    out: Path
    attempts: list[Attempt]
    locust_rows: list[LocustRow]
    journal_entries: int
    journal_gaps: int  # entries lost between polls (ring buffer overflow); 0 when complete
    locust_returncode: int | None
    wall_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per process role


def _spawn(cmd: Sequence[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> int | None:
    _stop_all([proc], grace)
    return proc.returncode


def _stop_all(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM to every process still running, then SIGKILL to those that outlive ``grace``."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in alive:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()


def _sample_cpu(cpu: dict[str, float], procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Record each live process's CPU seconds so far under its role."""
    for role, proc in procs.items():
        c = _cpu_seconds(proc.pid)
        if c is not None:
            cpu[role] = c


def _log_tail(paths: Sequence[Path], lines: int = 12) -> str:
    """The last lines of each non-empty log, for an error message."""
    parts = []
    for path in paths:
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").strip()
            if text:
                parts.append(f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:]))
    return "\n".join(parts)


def _await_start(procs: Sequence[subprocess.Popen[bytes]], t0: float, logs: Sequence[Path]) -> None:
    """Until the schedule starts (just before ``t0``), only watch that every Locust process stays up."""
    while time.time() < t0 - 0.02:
        if any(p.poll() is not None for p in procs):
            tail = _log_tail(logs)
            raise RunError(
                "Locust exited before the load started"
                + (
                    f"; its output:\n{tail}"
                    if tail
                    else f" without output (logs: {', '.join(map(str, logs))})"
                )
            )
        time.sleep(min(0.2, max(0.0, t0 - 0.02 - time.time())))


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process and its reaped children, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


@contextlib.contextmanager
def _mock(
    spec: RunSpec, out: Path, progress: Progress
) -> Iterator[tuple[ControlClient, subprocess.Popen[bytes]]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "mockserver",  # busysignal serve
        "--port",
        str(port),
        "--scenario",
        spec.scenario,
        "--seed",
        str(spec.seed),
        *spec.server_args,
    ]
    try:  # the control token the mock will demand, found as it finds it
        token = token_for_serve_args(spec.server_args, env=os.environ)
    except ControlTokenError as exc:
        raise RunError(f"the mock's control token: {exc}") from None
    log = (out / "mock.log").open("wb")
    proc = _spawn(cmd, dict(os.environ), log)
    control = ControlClient(f"http://127.0.0.1:{port}", token=token)
    try:
        deadline = time.monotonic() + 20
        while not control.healthy():
            if proc.poll() is not None:
                raise RunError(f"the mock exited with {proc.returncode}; see {out / 'mock.log'}")
            if time.monotonic() > deadline:
                raise RunError(f"the mock did not answer within 20 s; see {out / 'mock.log'}")
            time.sleep(0.1)
        progress(f"mock up on port {port} (scenario {spec.scenario})")
        yield control, proc
    except ControlError as exc:  # the mock refused a reset, or a journal fetch failed
        raise RunError(f"the mock's control plane: {exc}") from exc
    finally:
        _stop(proc)
        log.close()


def _locust_commands(spec: RunSpec, host: str, csv_prefix: Path, run_time: int) -> list[list[str]]:
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    user_class = USER_CLASSES[spec.strategy]
    users = spec.users if spec.mode == "closed" else max(1, spec.workers)
    spawn_rate = max(users, 1)  # all users at once: the schedule, not the spawn, sets the load
    head = [
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "--run-time",
        f"{run_time}s",
        "--csv",
        str(csv_prefix),
        "--csv-full-history",
        "--json-file",
        str(csv_prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    if spec.workers == 0:
        return [[*base, *head, user_class]]
    master_port = free_port()
    master = [
        *base,
        *head,
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(master_port),
        "--expect-workers",
        str(spec.workers),
        "--expect-workers-max-wait",
        "30",
        user_class,
    ]
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port), user_class]
    return [master] + [list(worker) for _ in range(spec.workers)]


def _watch(
    spec: RunSpec,
    procs: Sequence[subprocess.Popen[bytes]],
    mock_proc: subprocess.Popen[bytes],
    journal: _JournalMirror,
    *,
    t0: float,
    bound: int,
    say: Progress,
) -> dict[str, float]:
    """Until Locust ends (or outlives ``bound`` seconds): poll the journal every second, print
    progress, stop a single Locust process once its calls are over; CPU seconds per role."""
    cpu: dict[str, float] = {}
    roles = {**{f"locust-{i}": p for i, p in enumerate(procs)}, "mock": mock_proc}
    deadline = time.monotonic() + bound
    closing = t0 + spec.duration + spec.drain_s
    last_print = 0.0
    stopping = False
    while True:
        now = time.time()
        journal.poll()
        done = procs[0].poll() is not None
        if now - last_print >= 2.0 or done:
            last_print = now
            say(_progress_line(spec, journal.entries(), t0, now))
        if done:
            return cpu
        # after the drain no new attempt starts; once none is open at the server either (or the
        # users' grace is over), the run is complete
        quiet = now >= closing + 0.5 and not journal.open_count
        if spec.workers == 0 and (quiet or now >= closing + CLOSE_GRACE_S + 1.0) and not stopping:
            # the arrival users have drained (or interrupted) their calls: a single Locust
            # process writes its statistics on SIGTERM, so end the wait here
            stopping = True
            procs[0].send_signal(signal.SIGTERM)
        if time.monotonic() > deadline:
            say(f"[{spec.strategy}] Locust outlived its bound of {bound} s: stopping it")
            return cpu
        _sample_cpu(cpu, roles)
        time.sleep(1.0)


def _save_mock_state(out: Path, control: ControlClient, journal: _JournalMirror) -> list[dict[str, Any]]:
    """The final state of every journal entry (calls interrupted at the end included) into
    ``journal.jsonl``, the mock's stats and metrics beside it; the entries."""
    journal.poll()
    entries = journal.entries()
    with (out / "journal.jsonl").open("w") as jfile:
        for e in entries:
            jfile.write(json.dumps(e) + "\n")
    with contextlib.suppress(ControlError, OSError):
        (out / "stats.json").write_text(json.dumps(control.stats(), indent=2))
    with contextlib.suppress(ControlError, OSError):
        (out / "metrics.txt").write_text(control.metrics())
    return entries


def _record_run(spec: RunSpec, t0: float, cmds: list[list[str]], gaps: int) -> list[LocustRow]:
    """``run.json`` (what ran, and ``t0``) beside the run's files; Locust's final statistics."""
    meta = {
        "t0": t0,  # epoch seconds: the origin of every time in the report
        "strategy": spec.strategy,
        "scenario": spec.scenario,
        "load": spec.load_config(t0).to_env(),
        "locust_commands": cmds,
        "journal_gaps": gaps,
    }
    (spec.out / "run.json").write_text(json.dumps(meta, indent=2))
    stats_json = spec.out / "locust.json"  # final statistics (the CSV files keep the history)
    if not stats_json.is_file():
        raise RunError(f"Locust wrote no statistics ({stats_json}); see {spec.out}/locust-0.log")
    return read_locust_json(stats_json.read_text())


def run_strategy(
    spec: RunSpec, *, progress: Progress | None = None, scenario_text: str | None = None
) -> RunResult:
    """Carry out one run and return what it measured (files are left in ``spec.out``)."""
    say: Progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    require("locust")  # it runs as a subprocess (never imported here): look it up first
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _mock(spec, out, say) as (control, mock_proc):
        host = control.url
        # the bound Locust keeps itself: the drain, the users' closing grace, and a margin
        run_time = int(spec.startup + spec.duration + spec.drain_s + CLOSE_GRACE_S + 3)
        bound = run_time + 20  # Locust's own stop, then a margin before the runner kills it
        t0 = time.time() + spec.startup
        env = dict(os.environ)
        env.update(spec.load_config(t0).to_env())
        env["PYTHONUNBUFFERED"] = "1"
        cmds = _locust_commands(spec, host, out / "locust", run_time)
        log_paths = [out / f"locust-{i}.log" for i in range(len(cmds))]
        logs = [path.open("wb") for path in log_paths]
        procs: list[subprocess.Popen[bytes]] = []
        journal = _JournalMirror(control)
        cpu: dict[str, float] = {}
        try:
            procs = [_spawn(cmd, env, log) for cmd, log in zip(cmds, logs, strict=True)]
            say(f"[{spec.strategy}] locust: {len(procs)} process(es); load starts in {spec.startup:.0f} s")
            # reset the mock just before t0, so that the journal and the scenario clock start
            # with the load
            _await_start(procs, t0, log_paths)
            control.reset()
            say(f"[{spec.strategy}] load started")
            cpu = _watch(spec, procs, mock_proc, journal, t0=t0, bound=bound, say=say)
        except BaseException:  # failed or interrupted (Ctrl-C): stop Locust and the mock at once
            _stop_all([*procs, mock_proc], INTERRUPT_GRACE_S)
            raise
        finally:
            codes = [_stop(p) for p in procs]
            for log in logs:
                log.close()
        entries = _save_mock_state(out, control, journal)
    rows = _record_run(spec, t0, cmds, journal.gaps)
    attempts = attempts_from_journal(entries, origin=t0)
    return RunResult(
        spec=spec,
        t0=t0,
        out=out,
        attempts=attempts,
        locust_rows=rows,
        journal_entries=len(entries),
        journal_gaps=journal.gaps,
        locust_returncode=codes[0] if codes else None,
        wall_s=time.monotonic() - started,
        cpu_s=cpu,
    )


def _progress_line(spec: RunSpec, entries: list[dict[str, Any]], t0: float, now: float) -> str:
    """Attempts arriving, and 200s / 529s answered, over the last 2 s (by the server's journal)."""
    t = now - t0
    msgs = [e for e in entries if e.get("path") == paths.MESSAGES]
    arrived = sum(1 for e in msgs if e["wall_start"] >= now - 2.0)
    ok = shed = 0
    for e in msgs:
        if e.get("end") is None:
            continue
        ended = e["wall_start"] + (e["end"] - e["start"])
        if ended >= now - 2.0:
            ok += e.get("status") == 200
            shed += e.get("status") == 529
    phase = "load" if t < spec.duration else "drain"
    return (
        f"[{spec.strategy}] t={t:5.1f}/{spec.duration:.0f}s {phase}: attempts {len(msgs)} "
        f"({arrived / 2.0:.0f}/s now), answered 200 {ok / 2.0:.0f}/s, 529 {shed / 2.0:.0f}/s"
    )
