"""Locust users, one per client strategy. Runs only inside Locust's own processes.

Started by the runner (``busysignal loadtest``), configured by ``BUSYSIGNAL_LT_*`` environment
variables (:mod:`loadtests.config`). Every user reports two kinds of Locust requests:

* ``HTTP`` / ``attempt POST /v1/messages``: every HTTP attempt the client stack made (seen by the
  transport under the SDK), failed when the status is not 2xx or no response came back;
* ``CALL`` / ``<strategy>``: every logical call, end to end, failed when the call raised;
* ``DROP`` / ``harness in-flight cap``: an arrival the harness could not start because this
  process already had ``max_in_flight`` calls open (the harness is saturated; never hidden);
  ``DROP`` / ``harness late start``: an arrival skipped because this Locust process came up more
  than a second after the schedule started (a loaded machine; raise the runner's startup time);
* ``LAG`` / ``arrival behind schedule``: per arrival, how late (ms) the call started against its
  scheduled time: the harness's own health (a saturated Locust process falls behind).

Open loop (``mode=open``): each user is an *arrival generator*. It draws a seeded Poisson
schedule from the load shape (its share of the rate) before the run, sleeps until each arrival's
absolute time and starts the call in its own greenlet, so a slow server never slows arrivals
down. After the schedule, open calls may go on for ``drain_s``; then no new attempt may start
(calls still waiting to retry end as "run ended" without sending anything), attempts in flight
get ``CLOSE_GRACE_S`` to finish, and only then is the rest interrupted (and still reported). An
attempt is never cut between the client and the server, so Locust's count matches the journal.

Closed loop (``mode=closed``): Locust's usual users, each making one call after another.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import gevent
import gevent.pool
from gevent import GreenletExit
from locust import FastHttpUser, User, constant, task

from loadtests.config import CLOSE_GRACE_S, USER_CLASSES, LoadConfig
from loadtests.strategies import STRATEGIES, AttemptRecord, CallFn, RunEnded, build_strategy, new_prompt
from mockserver.wire import paths

ATTEMPT_TYPE = "HTTP"
CALL_TYPE = "CALL"
DROP_TYPE = "DROP"
DROP_NAME = "harness in-flight cap"
LATE_NAME = "harness late start"
LAG_TYPE = "LAG"
LAG_NAME = "arrival behind schedule"

_CONFIG: LoadConfig | None = None
_CLIENTS: dict[str, CallFn] = {}
_local_users = 0


def config() -> LoadConfig:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = LoadConfig.from_env(os.environ)
    return _CONFIG


class AttemptFailed(Exception):
    """An HTTP attempt that got no 2xx (its message is what Locust's failure table groups by)."""


class CallInterrupted(Exception):
    """A call still open when the run ended."""


def _sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        gevent.sleep(delay)


def run_closing() -> bool:
    """True once the schedule and its drain are over: no new attempt may start."""
    return time.time() >= config().closes_at


class _Driver:
    """Shared by the user classes: builds the strategy and reports attempts and calls."""

    strategy: ClassVar[str]
    environment: Any
    host: str | None

    def _setup(self) -> None:
        global _local_users
        cfg = config()
        self._cfg = cfg
        runner = self.environment.runner
        self._worker_index = int(getattr(runner, "worker_index", 0))
        self._local_index = _local_users
        _local_users += 1
        # one client per process, shared by its users, as an application shares one SDK client
        # (and one policy: its budget, breakers and concurrency limit see all the calls)
        call = _CLIENTS.get(self.strategy)
        if call is None:
            call = _CLIENTS[self.strategy] = build_strategy(
                self.strategy,
                base_url=self.host or "",
                api_key=cfg.api_key,
                on_attempt=self._report_attempt,
                model=cfg.model,
                max_tokens=cfg.max_tokens,
                timeout_s=cfg.timeout_s or None,
                is_closed=run_closing,
            )
        self._call: CallFn = call

    def _fire(self, request_type: str, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exc,
            context={},
        )

    def _report_attempt(self, rec: AttemptRecord) -> None:
        exc: Exception | None = None
        if rec.status is None:
            exc = AttemptFailed(f"no response: {rec.error}")
        elif not 200 <= rec.status < 300:
            exc = AttemptFailed(f"HTTP {rec.status}")
        elif rec.error is not None:
            exc = AttemptFailed(f"body: {rec.error}")
        self._fire(
            ATTEMPT_TYPE, f"attempt {rec.method} {rec.path}", rec.duration_s * 1000, rec.response_bytes, exc
        )

    def _one_call(self) -> None:
        t0 = time.perf_counter()
        exc: BaseException | None = None
        try:
            self._call(new_prompt())
        except GreenletExit:
            self._fire(
                CALL_TYPE, self.strategy, (time.perf_counter() - t0) * 1000, 0, CallInterrupted("run ended")
            )
            raise
        except RunEnded:
            exc = CallInterrupted("run ended")
        except Exception as error:
            exc = error
        self._fire(CALL_TYPE, self.strategy, (time.perf_counter() - t0) * 1000, 0, exc)

    def _open_loop(self) -> None:
        cfg = self._cfg
        schedule = cfg.arrivals(self._worker_index, self._local_index)
        pool = gevent.pool.Pool(cfg.max_in_flight)
        try:
            _sleep_until(cfg.t0)
            late = time.time() - cfg.t0
            for t in schedule:
                if t < late - 1.0:  # this process started after the schedule did: skip, do not burst
                    self._fire(
                        DROP_TYPE, LATE_NAME, 0, 0, CallInterrupted("Locust started after the schedule")
                    )
                    continue
                _sleep_until(cfg.t0 + t)
                lag_ms = cfg.lag_ms(t, time.time())
                self._fire(LAG_TYPE, LAG_NAME, lag_ms, 0, None)
                if pool.full():
                    self._fire(DROP_TYPE, DROP_NAME, 0, 0, CallInterrupted("harness in-flight cap reached"))
                    continue
                pool.spawn(self._one_call)
            # calls may finish until the drain ends; then no new attempt starts (run_closing) and
            # the attempts in flight get CLOSE_GRACE_S before whatever is left is interrupted
            pool.join(timeout=max(0.0, cfg.closes_at + CLOSE_GRACE_S - time.time()))
        finally:
            # also when Locust stops this user early: every open call is reported as interrupted
            pool.kill(block=True, timeout=5)
        self._idle()

    def _closed_call(self) -> None:
        cfg = self._cfg
        _sleep_until(cfg.t0)
        if time.time() >= cfg.t0 + cfg.duration:
            self._idle()
        self._one_call()

    def _idle(self) -> None:
        while True:  # the schedule is over; Locust's --run-time ends the process
            gevent.sleep(3600)


class _StrategyUser(_Driver, User):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        self._setup()

    @task
    def drive(self) -> None:
        if self._cfg.mode == "open":
            self._open_loop()
        else:
            self._closed_call()


def _user_class(name: str, strategy: str) -> type[_StrategyUser]:
    """The Locust user class that drives ``strategy``."""
    return type(name, (_StrategyUser,), {"strategy": strategy, "__module__": __name__, "__qualname__": name})


# One user class per strategy, by the name loadtests.config.USER_CLASSES gives it (the runner
# hands that name to Locust, which finds its user classes among this module's globals).
globals().update({name: _user_class(name, s) for s, name in USER_CLASSES.items() if s in STRATEGIES})


class RawFastHttpUser(FastHttpUser):
    """No SDK: one raw POST per call with Locust's fastest client (the harness's ceiling)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        cfg = config()
        self._cfg = cfg
        self._headers = {
            "x-api-key": cfg.api_key,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        }

    @task
    def post(self) -> None:
        cfg = self._cfg
        _sleep_until(cfg.t0)
        if time.time() >= cfg.t0 + cfg.duration:
            while True:
                gevent.sleep(3600)
        body = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "messages": [{"role": "user", "content": new_prompt()}],
        }
        with self.client.post(
            paths.MESSAGES,
            json=body,
            headers=self._headers,
            name=f"attempt POST {paths.MESSAGES}",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
