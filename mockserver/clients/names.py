"""The one catalogue of reference client names, shared by ``demo``, ``verify`` and ``loadtest``.

Pure data, importing nothing. ``verify`` and ``demo`` run a name's factory as it is; the load
tests' strategies (loadtests/strategies.py) run the same factory with a recording connection
(:class:`~mockserver.clients.connection.Connection`). A name means the same client in every verb.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReferenceClient:
    name: str
    summary: str
    factory: str  # "module:attr" of its factory for verify and demo
    strategy: bool  # ``loadtest`` has a strategy of this name


CATALOGUE: tuple[ReferenceClient, ...] = (
    ReferenceClient(
        "no-retry",
        "the SDK with max_retries=0: one attempt per call",
        "mockserver.clients.sdk:no_retry",
        True,
    ),
    ReferenceClient(
        "immediate-retry",
        "the SDK with max_retries=0 in a loop that retries retryable failures at once (3 attempts)",
        "mockserver.clients.sdk:immediate_retry",
        True,
    ),
    ReferenceClient(
        "sdk-defaults",
        "the SDK as shipped: 2 retries, 0.5 s doubling backoff with jitter, retry-after honoured",
        "mockserver.clients.sdk:sdk_defaults",
        True,
    ),
    ReferenceClient(
        "sdk-max-retries-5",
        "the SDK with max_retries=5 (6 attempts, up to ~15 s)",
        "mockserver.clients.sdk:sdk_max_retries_5",
        False,
    ),
    ReferenceClient(
        "article-recipe",
        "tenacity retry_if_exception_type(APIStatusError), wait_exponential(min=4, max=60), "
        "stop_after_attempt(5) around the default SDK (up to 5 x 3 attempts)",
        "mockserver.clients.recipe:article_recipe",
        True,
    ),
    ReferenceClient(
        "fallback-loop",
        "a hand-written two-model loop that catches every APIError",
        "mockserver.clients.fallback:fallback_loop",
        False,
    ),
    ReferenceClient(
        "bundled",
        "resilience.ResilientAnthropic with Policy.default(), its concurrency limit static",
        "mockserver.clients.bundled:bundled_static",
        True,
    ),
    ReferenceClient(
        "bundled-adaptive",
        "resilience.ResilientAnthropic with Policy.default() as shipped (adaptive AIMD limit)",
        "mockserver.clients.bundled:bundled_adaptive",
        True,
    ),
)

# Names an earlier release used, still accepted by verify and demo.
OLD_NAMES: dict[str, str] = {"bundled-policy": "bundled-adaptive"}

BY_NAME: dict[str, ReferenceClient] = {c.name: c for c in CATALOGUE}
STRATEGY_NAMES: tuple[str, ...] = tuple(c.name for c in CATALOGUE if c.strategy)


def canonical(name: str) -> str:
    """``name``, or the catalogue name an old name stands for."""
    return OLD_NAMES.get(name, name)
