"""Reference clients: each a factory ``(base_url) -> ClientUnderTest``, as the docs walk through.

* ``sdk_defaults`` — the official SDK as shipped;
* ``sdk_max_retries_5`` — the SDK with ``max_retries=5``;
* ``article_recipe`` / ``article_recipe_fast`` — tenacity around an SDK that still retries;
* ``fallback_loop`` — the hand-written two-model loop;
* ``bundled_policy`` — ``resilience.ResilientAnthropic`` with the bundled policy.
"""

from mockserver.clients.base import (
    FALLBACK_MODEL,
    PRIMARY_MODEL,
    TEST_API_KEY,
    ClientUnderTest,
    as_client_under_test,
)
from mockserver.clients.bundled import bundled_policy
from mockserver.clients.fallback_loop import fallback_loop
from mockserver.clients.recipe import article_recipe, article_recipe_fast
from mockserver.clients.sdk import sdk_defaults, sdk_max_retries_5

__all__ = [
    "FALLBACK_MODEL",
    "PRIMARY_MODEL",
    "TEST_API_KEY",
    "ClientUnderTest",
    "article_recipe",
    "article_recipe_fast",
    "as_client_under_test",
    "bundled_policy",
    "fallback_loop",
    "sdk_defaults",
    "sdk_max_retries_5",
]
