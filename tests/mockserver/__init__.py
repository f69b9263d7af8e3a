"""Tests of the mock server: its wire answers, routes, control plane and CLI, the Python and
TypeScript SDKs against it, the pytest plugin, and the throughput benchmark's servers."""
