"""Per-call overhead of ``Policy.default()`` on the success path, against a no-op call and
against tenacity's ``Retrying`` around the same call, measured in the same run.

Run: ``.venv/bin/pytest benchmarks/bench_resilience.py --benchmark-only -p no:xdist``

Targets (issue 4): the policy's overhead (its time minus the bare call's) is at most 1.2x
tenacity's, and under 50 µs. The figures are printed after the benchmarks (nothing here asserts
on time) with a note saying whether each target was met.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from resilience import Attempt, Policy, ResilientAnthropic

RESULTS: dict[str, float] = {}


def noop() -> int:
    return 1


def _median(benchmark: Any) -> float:
    return float(benchmark.stats.stats.median)


def test_bare_call(benchmark: Any) -> None:
    benchmark(noop)
    RESULTS["bare"] = _median(benchmark)


def test_tenacity_retrying(benchmark: Any) -> None:
    retrying = Retrying(
        stop=stop_after_attempt(4),
        wait=wait_exponential_jitter(initial=1.0, max=20.0),
        retry=retry_if_exception_type(ConnectionError),
        reraise=True,
    )
    assert retrying(noop) == 1
    benchmark(retrying, noop)
    RESULTS["tenacity"] = _median(benchmark)


def test_policy_default(benchmark: Any) -> None:
    policy = Policy.default(seed=0)
    policy.log_events = False

    def attempt(a: Attempt) -> int:
        return noop()

    assert policy.call(attempt, model="claude-sonnet-5-5") == 1
    benchmark(policy.call, attempt, model="claude-sonnet-5-5")
    RESULTS["policy_default"] = _median(benchmark)


def test_policy_default_with_an_event_hook(benchmark: Any) -> None:
    seen: list[object] = []
    policy = Policy.default(seed=0, on_event=seen.append)

    def attempt(a: Attempt) -> int:
        seen.clear()
        return noop()

    benchmark(policy.call, attempt, model="claude-sonnet-5-5")
    RESULTS["policy_default_hooked"] = _median(benchmark)


def _sdk_pair() -> tuple[Any, Any]:
    """The SDK on an in-process transport (no sockets), bare and wrapped in Policy.default()."""
    import anthropic
    import httpx2

    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body, headers={"request-id": "req_1"})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    sdk = anthropic.Anthropic(api_key="k", base_url="http://bench.invalid", max_retries=0, http_client=http)
    policy = Policy.default(seed=0)
    policy.log_events = False
    return sdk, ResilientAnthropic(sdk, policy=policy)


PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hello"}],
}


def test_sdk_create_bare(benchmark: Any) -> None:
    sdk, _ = _sdk_pair()
    benchmark(lambda: sdk.messages.create(**PARAMS))
    RESULTS["sdk_bare"] = _median(benchmark)


def test_sdk_create_wrapped(benchmark: Any) -> None:
    _, client = _sdk_pair()
    benchmark(lambda: client.messages.create(**PARAMS))
    RESULTS["sdk_wrapped"] = _median(benchmark)


def _figures() -> list[str]:
    bare = RESULTS["bare"]
    tenacity_overhead = RESULTS["tenacity"] - bare
    policy_overhead = RESULTS["policy_default"] - bare
    ratio = policy_overhead / tenacity_overhead
    lines = [
        "",
        "resilience per-call overhead on the success path (medians, same run)",
        f"  bare call                      {bare * 1e6:8.2f} µs",
        f"  tenacity Retrying overhead     {tenacity_overhead * 1e6:8.2f} µs",
        f"  Policy.default() overhead      {policy_overhead * 1e6:8.2f} µs   ratio to tenacity {ratio:.2f}x "
        f"(target <= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}; < 50 µs: "
        f"{'met' if policy_overhead < 50e-6 else 'NOT met'})",
    ]
    if "policy_default_hooked" in RESULTS:
        hooked = RESULTS["policy_default_hooked"] - bare
        lines.append(f"  ... with one event hook        {hooked * 1e6:8.2f} µs")
    if {"sdk_bare", "sdk_wrapped"} <= set(RESULTS):
        sdk_bare, wrapped = RESULTS["sdk_bare"], RESULTS["sdk_wrapped"]
        lines.append(
            f"  SDK messages.create, in-process transport: bare {sdk_bare * 1e6:.1f} µs, ResilientAnthropic "
            f"{wrapped * 1e6:.1f} µs (+{(wrapped - sdk_bare) * 1e6:.1f} µs, includes with_raw_response)"
        )
    return lines


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module's benchmarks ran, print the overhead figures and the ratio."""
    yield
    if not {"bare", "tenacity", "policy_default"} <= set(RESULTS):
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n".join(_figures()), flush=True)
