"""What the library tells the outside world, split from the library itself: the typed events
a policy emits (:mod:`~resilience.instrumentation.events`), Prometheus metrics fed by them
(:mod:`~resilience.instrumentation.metrics`) and error-rate alerts with hysteresis
(:mod:`~resilience.instrumentation.alerts`). The public names are exported from
:mod:`resilience`."""
