"""Prometheus text rendering, the policy event hook, the runner hook and the HTTP exporter."""

from __future__ import annotations

import urllib.request

import pytest

from resilience.instrumentation.metrics import (
    CONTENT_TYPE,
    MetricsExporter,
    PolicyMetrics,
    Registry,
    RunnerMetrics,
)
from resilience.runner.core import AttemptOutcome


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_registry_renders_the_text_exposition_format() -> None:
    reg = Registry()
    c = reg.counter("demo_requests_total", "Requests.\nSecond line", ["code"])
    g = reg.gauge("demo_temperature", "A gauge")
    c.inc(code="200")
    c.inc(2, code='5"29\\')
    g.set(0.25)
    assert reg.render() == (
        "# HELP demo_requests_total Requests.\\nSecond line\n"
        "# TYPE demo_requests_total counter\n"
        'demo_requests_total{code="200"} 1\n'
        'demo_requests_total{code="5\\"29\\\\"} 2\n'
        "# HELP demo_temperature A gauge\n"
        "# TYPE demo_temperature gauge\n"
        "demo_temperature 0.25\n"
    )


def test_registry_rejects_bad_names_labels_and_decrements() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="_total"):
        reg.counter("demo_requests", "x")
    with pytest.raises(ValueError, match="invalid Prometheus metric name"):
        reg.gauge("1bad", "x")
    c = reg.counter("demo_total", "x", ["a"])
    with pytest.raises(ValueError, match="already registered"):
        reg.counter("demo_total", "x")
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(b="1")
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, a="1")


def test_policy_metrics_count_each_event_kind() -> None:
    from resilience.breaker import BreakerState
    from resilience.instrumentation.events import (
        AttemptFinished,
        BreakerChanged,
        CallFinished,
        FallbackTaken,
        GaveUp,
        RetryScheduled,
    )

    clock = FakeClock()
    m = PolicyMetrics(clock=clock)
    m(AttemptFinished("big", 1, False, "overloaded", 529, 0.01))
    m(RetryScheduled("big", 1, 3, 0.5, "overloaded", 529, "overloaded_error", "req_1", None))
    m(AttemptFinished("big", 2, True, None, 200, 0.01))
    m(AttemptFinished("big", 3, False, "overloaded", 529, 0.01))
    m(GaveUp("big", 3, "attempts", "overloaded", 529, "overloaded_error", "req_2", 1.0))
    m(FallbackTaken("big", "small", "overloaded"))
    m(BreakerChanged("big", BreakerState.CLOSED, BreakerState.OPEN))
    m(CallFinished("big", "small", True, 4, 1.2))
    m(CallFinished("big", "big", True, 0, 0.0, cached=True))
    m.cache_lookup(False)
    assert m.attempts.value(model="big", status="529") == 2
    assert m.attempts.value(model="big", status="200") == 1
    assert m.retries.value(model="big", kind="overloaded") == 1
    assert m.give_ups.value(model="big", reason="attempts") == 1
    assert m.fallbacks.value(from_model="big", to_model="small", reason="overloaded") == 1
    assert m.breaker_state.value(model="big") == 2
    assert m.breaker_changes.value(model="big", state="open") == 1
    assert m.calls.value(outcome="ok") == 1 and m.calls.value(outcome="cached") == 1
    assert m.cache.value(result="hit") == 1 and m.cache.value(result="miss") == 1
    text = m.registry.render()
    assert "busysignal_client_overload_rate 0.6666666666666666\n" in text
    clock.now = 61.0  # the 529s leave the 60 s window
    assert "busysignal_client_overload_rate 0\n" in m.registry.render()


def test_runner_metrics_count_attempts_by_status_and_requeues() -> None:
    m = RunnerMetrics(clock=FakeClock())
    m.observe_attempt(AttemptOutcome(529))
    m.observe_attempt(AttemptOutcome(200, message={"type": "message"}))
    m.observe_attempt(AttemptOutcome(None, error_type="connection_error"))
    assert m.attempts.value(status="529") == 1
    assert m.attempts.value(status="none") == 1
    assert m.requeues.value() == 2
    assert "busysignal_runner_overload_rate 0.3333333333333333" in m.registry.render()


def test_exporter_serves_metrics_on_loopback() -> None:
    reg = Registry()
    reg.counter("demo_total", "x").inc()
    with MetricsExporter(reg, port=0) as exporter:
        with urllib.request.urlopen(exporter.url, timeout=60) as resp:
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            assert "demo_total 1" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(exporter.url.replace("/metrics", "/other"), timeout=60)
        assert err.value.code == 404
    with pytest.raises(ValueError, match="loopback"):
        MetricsExporter(reg, host="0.0.0.0")


def test_policy_metrics_count_a_real_call_through_the_resilient_client() -> None:
    import anthropic

    from mockserver import MockServer
    from resilience import Policy, ResilientAnthropic, Retry, no_waits

    script = {
        "name": "two-529s",
        "description": "the first two requests are overloaded, then all pass",
        "rules": [{"id": "s", "match": {"path": "/v1/messages"}, "trigger": {"sequence": [529, 529, "ok"]}}],
    }
    reg = Registry()
    metrics = PolicyMetrics(reg)
    with MockServer(scenario=script, seed=1) as server, no_waits():
        sdk = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        client = ResilientAnthropic(sdk, policy=Policy(retry=Retry(max_attempts=4), log_events=False))
        metrics.attach(client.policy)
        client.messages.create(
            model="claude-haiku-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        sdk.close()
        assert len(server.journal.entries()) == 3
    with MetricsExporter(reg) as exporter, urllib.request.urlopen(exporter.url, timeout=60) as resp:
        text = resp.read().decode()
    assert 'busysignal_client_attempts_total{model="claude-haiku-5-5",status="529"} 2' in text
    assert 'busysignal_client_attempts_total{model="claude-haiku-5-5",status="200"} 1' in text
    assert 'busysignal_client_retries_total{model="claude-haiku-5-5",kind="overloaded"} 2' in text
    assert 'busysignal_client_calls_total{outcome="ok"} 1' in text
    assert "busysignal_client_overload_rate 0.6666666666666666" in text


def test_an_overloaded_error_inside_a_200_stream_counts_in_the_overload_rate() -> None:
    from resilience.instrumentation.events import AttemptFinished

    m = PolicyMetrics(clock=FakeClock())
    m(AttemptFinished("big", 1, True, None, 200, 0.01))
    m(AttemptFinished("big", 2, False, "overloaded", 200, 0.01))
    assert "busysignal_client_overload_rate 0.5\n" in m.registry.render()


def test_runner_metrics_do_not_count_outcomes_that_sent_nothing_as_attempts() -> None:
    m = RunnerMetrics(clock=FakeClock())
    m.observe_attempt(AttemptOutcome(529))
    m.observe_attempt(AttemptOutcome(None, error_type="circuit_open", sent=False))  # the breaker refused
    m.observe_attempt(AttemptOutcome(200, message={"type": "message"}, sent=False))  # a cache hit
    assert m.attempts.value(status="529") == 1 and m.attempts.value(status="none") == 0
    assert m.attempts.value(status="200") == 0
    assert m.requeues.value() == 2  # the 529 and the refusal both go back to the queue
    assert "busysignal_runner_overload_rate 1\n" in m.registry.render()
