"""Every built-in scenario, end to end: the real SDK against the mock server running it.

Windows that open later in a scenario are reached with the server's injectable monotonic
clock: a ``ShiftClock`` runs in real time but can jump ahead, so no test waits for minutes. Where
a verdict would depend on how much real time the test's own requests take (the capacity model
frees slots as its clock advances), the clock stands still between jumps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from mockserver import MockServer

FAULT = "x-busysignal-fault"


class ShiftClock:
    """time.monotonic, plus an offset the test can move forward (the scenario clock); a
    ``still`` clock moves only when the test moves it."""

    def __init__(self, *, still: bool = False) -> None:
        self.offset = 0.0
        self._still_at = time.monotonic() if still else None

    def __call__(self) -> float:
        return (time.monotonic() if self._still_at is None else self._still_at) + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
def still_clock() -> ShiftClock:
    return ShiftClock(still=True)


@pytest.fixture
def serve(clock: ShiftClock) -> Iterator[Any]:
    servers: list[MockServer] = []

    def start(name: str, seed: int = 7, scenario_clock: ShiftClock | None = None) -> MockServer:
        srv = MockServer(scenario=name, seed=seed, clock=scenario_clock or clock)
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def client(srv: MockServer, **kw: Any) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=srv.url, api_key="sk-ant-e2e", **kw)


def call(c: anthropic.Anthropic, model: str = "claude-opus-5", text: str = "hi", **kw: Any) -> str:
    """The outcome of one create(): "ok", or the exception class name."""
    try:
        c.messages.create(model=model, max_tokens=kw.pop("max_tokens", 8),
                          messages=[{"role": "user", "content": text}], **kw)  # fmt: skip
    except anthropic.APIError as exc:
        return type(exc).__name__
    return "ok"


def entries(srv: MockServer) -> list[dict[str, Any]]:
    return [e.to_dict() for e in srv.journal.entries()]


def test_steady_answers_everything(serve: Any) -> None:
    srv = serve("steady")
    c = client(srv)
    assert [call(c, text=f"q{i}") for i in range(5)] == ["ok"] * 5
    assert all(
        e["status"] == 200 and e["fault"] is None and e["reason"]["scenario"] == "steady"
        for e in entries(srv)
    )


def test_peak_hours_overloads_at_peak_and_not_off_peak(serve: Any, still_clock: ShiftClock) -> None:
    srv = serve("peak-hours", scenario_clock=still_clock)  # its windows, however slow the calls
    c = client(srv)
    still_clock.jump(95)  # 09:30 of the compressed day
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: call(c, text=f"peak {i}"), range(24)))
    assert "OverloadedError" in outcomes and "ok" in outcomes
    peak = entries(srv)
    assert {e["reason"]["rule"] for e in peak if e["status"] == 529} <= {
        "peak-large-529",
        "peak-other-529",
        "offpeak-529",
    }
    assert all(e["reason"]["latency"]["rule"] == "peak-latency" for e in peak)
    srv.journal.clear()
    still_clock.jump(240 - 95 + 30)  # 03:00 of the next day
    assert [call(c, text=f"night {i}") for i in range(5)].count("ok") >= 4
    assert all(e["reason"]["latency"]["rule"] == "base-latency" for e in entries(srv))


def test_launch_day_spikes_on_the_new_model(serve: Any, still_clock: ShiftClock) -> None:
    srv = serve("launch-day", scenario_clock=still_clock)  # its windows, however slow the calls
    c = client(srv)
    still_clock.jump(15)
    new = [call(c, model="claude-opus-5-5", text=f"launch {i}") for i in range(16)]
    assert new.count("OverloadedError") >= 4
    rules = {e["reason"].get("rule") for e in entries(srv) if e["status"] == 529}
    assert "spike-new-model" in rules
    srv.journal.clear()
    still_clock.jump(60)  # 75 s: after the tail
    assert [call(c, model="claude-opus-5-5", text=f"later {i}") for i in range(6)].count("ok") >= 5


def test_major_outage_defeats_the_sdk_retries_then_recovers(serve: Any, still_clock: ShiftClock) -> None:
    srv = serve("major-outage", scenario_clock=still_clock)  # its windows, however slow the calls
    c = client(srv, max_retries=2)
    assert call(c, text="during the outage") == "OverloadedError"
    attempts = entries(srv)
    assert [e["retry_count"] for e in attempts] == [0, 1, 2]
    assert all(e["status"] == 529 and e["reason"]["rule"] == "outage" for e in attempts)
    still_clock.jump(30)
    assert call(c, text="after the outage") == "ok"


def test_one_model_overloaded_spares_the_small_model(serve: Any) -> None:
    srv = serve("one-model-overloaded")
    c = client(srv)
    large = [call(c, model="claude-opus-5", text=f"l{i}") for i in range(12)]
    small = [call(c, model="claude-haiku-5-5", text=f"s{i}") for i in range(12)]
    assert large.count("OverloadedError") >= 8
    assert small == ["ok"] * 12


def test_rate_limited_refuses_the_51st_request_with_true_headers(serve: Any, still_clock: ShiftClock) -> None:
    srv = serve("rate-limited", scenario_clock=still_clock)  # no refill, however slow the 50 calls
    c = client(srv)
    raw = c.messages.with_raw_response.create(
        model="claude-opus-5", max_tokens=8, messages=[{"role": "user", "content": "first"}]
    )
    h = raw.headers
    assert h["anthropic-ratelimit-requests-limit"] == "50"
    assert h["anthropic-ratelimit-requests-remaining"] == "49"
    assert h["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert int(h["anthropic-ratelimit-output-tokens-remaining"]) <= 8000 - 8
    outcomes = [call(c, text=f"r{i}") for i in range(49)]
    assert outcomes == ["ok"] * 49
    with pytest.raises(anthropic.RateLimitError) as info:
        c.messages.create(
            model="claude-opus-5", max_tokens=8, messages=[{"role": "user", "content": "one more"}]
        )
    assert info.value.response.headers["retry-after"] == "2"  # a request back in 1.2 s
    assert info.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert call(c, model="claude-haiku-5-5", text="other class") == "ok"


def test_flaky_5xx_mixes_retryable_errors_that_the_sdk_retries_away(serve: Any) -> None:
    srv = serve("flaky-5xx")
    c = client(srv)
    outcomes = [call(c, text=f"f{i}") for i in range(60)]
    kinds = set(outcomes) - {"ok"}
    assert kinds and kinds <= {"InternalServerError", "ServiceUnavailableError", "GatewayTimeoutError",
                               "APIConnectionError"}  # fmt: skip
    assert {e["fault"] for e in entries(srv)} >= {None, "http_error"}
    srv.journal.clear()
    retrying = client(srv, max_retries=2)
    assert [call(retrying, text=f"g{i}") for i in range(6)] == ["ok"] * 6


def test_mid_stream_overload_breaks_streams_after_the_200(serve: Any) -> None:
    srv = serve("mid-stream-overload", seed=3)
    c = client(srv)
    statuses: list[Any] = []
    for i in range(16):
        try:
            with c.messages.stream(
                model="claude-opus-5", max_tokens=30, messages=[{"role": "user", "content": f"m{i}"}]
            ) as stream:
                for _ in stream:
                    pass
            statuses.append("ok")
        except anthropic.APIStatusError as exc:
            statuses.append(exc.status_code)
        except Exception as exc:  # a cut stream surfaces as the transport's own error
            statuses.append(type(exc).__name__)
    journal = entries(srv)
    assert all(e["status"] == 200 for e in journal)
    assert statuses.count(200) == sum(e["fault"] == "stream_error_event" for e in journal) >= 1


def test_slow_tokens_delays_the_first_token(serve: Any) -> None:
    srv = serve("slow-tokens")
    c = client(srv)
    start = time.monotonic()
    with c.messages.stream(
        model="claude-opus-5", max_tokens=2, messages=[{"role": "user", "content": "slow"}]
    ) as stream:
        first = next(iter(stream.text_stream))
        first_at = time.monotonic() - start
    assert first and first_at >= 1.5
    (entry,) = entries(srv)
    assert entry["reason"]["tokens"] == {"rule": "slow-generation", "ttft_s": 1.5, "tokens_per_s": 15}


def test_capacity_overload_sheds_above_capacity_during_the_capacity_loss(
    serve: Any, still_clock: ShiftClock
) -> None:
    # the clock stands still at 31 s: all 30 arrive at once on the scenario's clock, however
    # long this machine takes to send them (no slot frees, the capacity loss never ends)
    srv = serve("capacity-overload", scenario_clock=still_clock)
    c = client(srv)
    still_clock.jump(31)  # half capacity: 10 slots, and ~10 more can queue before the wait passes 2 s
    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(lambda i: call(c, text=f"c{i}", max_tokens=100), range(30)))
    journal = entries(srv)
    shed = [e for e in journal if e["status"] == 529]
    # 10 generate, 10 queue (each wait under 2 s), the other 10 are shed
    assert outcomes.count("OverloadedError") == len(shed) == 10
    assert all(e["reason"]["source"] == "capacity" for e in shed)
    assert max(e["reason"]["capacity"]["in_flight"] for e in journal) <= 10
    assert outcomes.count("ok") == 20


def test_retry_after_storm_tells_everyone_to_come_back_in_one_second(serve: Any, clock: ShiftClock) -> None:
    srv = serve("retry-after-storm")
    c = client(srv)
    errors: list[anthropic.APIStatusError] = []
    for i in range(12):
        try:
            c.messages.create(
                model="claude-opus-5", max_tokens=8, messages=[{"role": "user", "content": f"s{i}"}]
            )
        except anthropic.APIStatusError as exc:
            errors.append(exc)
    assert errors and all(e.status_code == 529 and e.response.headers["retry-after"] == "1" for e in errors)
    clock.jump(12)
    later = [call(c, text=f"t{i}") for i in range(12)]
    assert "RateLimitError" in later and "OverloadedError" not in later


@pytest.mark.parametrize("holds", [True, False])
def test_abandoned_work_keeps_its_capacity_slot_only_when_configured(
    still_clock: ShiftClock, holds: bool
) -> None:
    scenario = {
        "name": "one-slot",
        "description": "a single generation slot that takes about two seconds",
        "capacity": {
            "client_gone_holds": holds,
            "pools": [{"concurrency": 1, "ttft_s": 2.0, "stream_tokens_per_s": 1000, "slowdown": 0}],
        },
    }
    # the clock stands still: the abandoned generation's two seconds never run out, however long
    # this machine takes between the two calls
    with MockServer(scenario=scenario, clock=still_clock) as srv:
        impatient = client(srv, timeout=0.2)
        assert call(impatient, text="gives up") == "APITimeoutError"
        deadline = time.monotonic() + 30  # generous: a saturated machine notices late
        while not any(e["client_gone"] and e["end"] is not None for e in entries(srv)):
            assert time.monotonic() < deadline, "the server never noticed the client leaving"
            time.sleep(0.01)
        outcome = call(client(srv), text="next one")
    assert outcome == ("OverloadedError" if holds else "ok")
