"""Tests of the resilience library: policy, backoff, breaker, throttle, classifier, the client
wrapper, the response cache, metrics and alerts."""
