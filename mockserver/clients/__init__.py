"""Reference clients: each a factory ``(base_url) -> ClientUnderTest``, as the docs walk through.

* ``sdk_defaults`` — the official SDK as shipped;
* ``sdk_max_retries_5`` — the SDK with ``max_retries=5``;
* ``article_recipe`` / ``article_recipe_fast`` — tenacity around an SDK that still retries;
* ``fallback_loop`` — the hand-written two-model loop;
* ``bundled_policy`` — ``resilience.ResilientAnthropic`` with the bundled policy.

The factories are imported when first named (``mockserver.clients.sdk_defaults``), not with this
package: they import the SDK, and the article recipe needs tenacity (the ``demo`` extra), while
the conformance runner and ``busysignal --help`` import the package for ``base`` alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mockserver.clients.base import (
    FALLBACK_MODEL,
    PRIMARY_MODEL,
    TEST_API_KEY,
    ClientUnderTest,
    as_client_under_test,
)

if TYPE_CHECKING:
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

_WHERE = {
    "bundled_policy": "mockserver.clients.bundled",
    "fallback_loop": "mockserver.clients.fallback_loop",
    "article_recipe": "mockserver.clients.recipe",
    "article_recipe_fast": "mockserver.clients.recipe",
    "sdk_defaults": "mockserver.clients.sdk",
    "sdk_max_retries_5": "mockserver.clients.sdk",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver.clients' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
