"""Tests of the load tests: shapes, strategies, the runner, its report and charts (Locust runs in
subprocesses only)."""
