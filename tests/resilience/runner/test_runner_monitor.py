"""The runner's feed into the error-rate monitor: only outcomes that reached the service."""

from __future__ import annotations

from resilience.instrumentation.alerts import AlertEvent, ErrorRateMonitor
from resilience.runner.core import AttemptOutcome
from resilience.runner.output import monitor_observer


def test_breaker_refusals_and_cache_hits_do_not_count_in_the_error_rate() -> None:
    alerts: list[AlertEvent] = []
    monitor = ErrorRateMonitor(min_requests=4, fire_above=0.3, clock=lambda: 0.0, on_alert=alerts.append)
    observe = monitor_observer(monitor)
    for _ in range(4):
        observe(AttemptOutcome(200, message={"type": "message"}))
    for _ in range(10):  # an open breaker refusing locally: no request, no status
        observe(AttemptOutcome(None, error_type="circuit_open", sent=False))
    observe(AttemptOutcome(200, message={"type": "message"}, sent=False))  # a cache hit
    assert monitor.rate() == 0.0 and alerts == []
    observe(AttemptOutcome(529))
    observe(AttemptOutcome(None, error_type="connection_error"))  # sent, no response: the service failed
    assert monitor.rate() == 2 / 6 and [a.kind for a in alerts] == ["fired"]
