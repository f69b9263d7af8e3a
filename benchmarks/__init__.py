"""Benchmarks: scripts and pytest-benchmark files that print figures (never collected as tests)."""
