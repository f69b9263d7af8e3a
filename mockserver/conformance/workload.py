"""The demo's workload: the same stream of calls, arriving at a fixed rate, against one client.

Open loop: a call starts every ``1 / rate_per_s`` seconds whether or not earlier calls have
finished (as user traffic does), each in its own thread, all through one client instance (as an
application shares one client). The server's journal is the result.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mockserver.clients.base import ClientUnderTest, as_client_under_test
from mockserver.conformance.runner import (
    Cancelled,
    ClientFactory,
    Progress,
    ServerFactory,
    join_all,
    mock_server_factory,
    settled_entries,
)
from mockserver.journal import JournalEntry


@dataclass(frozen=True, slots=True)
class Workload:
    calls: int = 24
    rate_per_s: float = 4.0
    stream_every: int = 4  # every n-th call streams (0: none)
    max_tokens: int = 32
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.calls < 1:
            raise ValueError(f"workload calls must be >= 1, got {self.calls}")
        if not self.rate_per_s > 0:
            raise ValueError(f"workload rate_per_s must be > 0, got {self.rate_per_s}")
        if self.stream_every < 0:
            raise ValueError(f"workload stream_every must be >= 0, got {self.stream_every}")


@dataclass
class WorkloadRun:
    client: str
    entries: list[JournalEntry]
    t0: float  # server monotonic time of the first call's start (for timelines)
    elapsed_s: float
    unfinished: int = 0
    raised: dict[str, int] = field(default_factory=dict)


def run_workload(
    factory: ClientFactory,
    scenario: Any,
    workload: Workload,
    *,
    seed: int = 0,
    server_factory: ServerFactory = mock_server_factory,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> WorkloadRun:
    """Run ``workload`` against one client on its own server. Once ``cancel`` is set, no more
    calls start, the kit stops waiting for the running ones, and :class:`Cancelled` is raised."""
    cancel = cancel or threading.Event()
    raised: dict[str, int] = {}
    lock = threading.Lock()
    started = time.monotonic()
    with server_factory(scenario, seed) as server:
        cut: ClientUnderTest = as_client_under_test(factory(server.url))
        done = [0]

        def one(i: int) -> None:
            params: dict[str, Any] = {
                "model": cut.models[0],
                "max_tokens": workload.max_tokens,
                "messages": [{"role": "user", "content": f"busysignal demo call {i}: summarise the news"}],
            }
            streaming = workload.stream_every > 0 and i % workload.stream_every == workload.stream_every - 1
            try:
                (cut.stream if streaming else cut.create)(**params)
            except Exception as exc:
                with lock:
                    raised[type(exc).__name__] = raised.get(type(exc).__name__, 0) + 1
            finally:
                with lock:
                    done[0] += 1
                    if progress is not None and (done[0] % max(1, workload.calls // 4) == 0):
                        progress(f"{cut.name}: {done[0]}/{workload.calls} calls finished")

        threads: list[threading.Thread] = []
        t_start = time.monotonic()
        for i in range(workload.calls):
            delay = t_start + i / workload.rate_per_s - time.monotonic()
            if delay > 0 and cancel.wait(delay):
                break
            t = threading.Thread(target=one, args=(i,), daemon=True, name=f"busysignal-demo-{i}")
            t.start()
            threads.append(t)
        deadline = t_start + workload.calls / workload.rate_per_s + workload.timeout_s
        unfinished = join_all(threads, deadline=deadline, cancel=cancel)
        entries = settled_entries(server.journal.entries, wait=not unfinished and not cancel.is_set())
        cut.close()
    if cancel.is_set():
        raise Cancelled(f"workload {cut.name}: cancelled")
    t0 = min((e.start for e in entries), default=0.0)
    return WorkloadRun(cut.name, entries, t0, time.monotonic() - started, unfinished, raised)
