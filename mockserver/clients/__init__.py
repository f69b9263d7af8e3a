"""Reference clients: each a factory ``(target) -> ClientUnderTest``, as the docs walk through.

A target is the mock's base URL or a :class:`~.connection.Connection` (API key, timeout, HTTP
client: how the load tests record every attempt). Their names, the same in ``demo``, ``verify``
and ``loadtest`` (:func:`reference_client` finds a name's factory), are in :mod:`.names`:

* ``no_retry`` / ``immediate_retry`` — the SDK with no retries, or retrying at once;
* ``sdk_defaults`` — the official SDK as shipped;
* ``sdk_max_retries_5`` — the SDK with ``max_retries=5``;
* ``article_recipe`` — tenacity around an SDK that still retries (``article_recipe_fast``: its
  waits ×0.1, for tests only; it has no name of its own);
* ``fallback_loop`` — the hand-written two-model loop;
* ``bundled_adaptive`` / ``bundled_static`` — ``resilience.ResilientAnthropic`` with the bundled
  policy, its concurrency limit adaptive (as shipped) or static; ``bundled_policy`` takes any policy.

Imports are lazy, so that the name table costs nothing to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from mockserver._lazy import lazy_face
from mockserver.clients.names import BY_NAME, canonical

if TYPE_CHECKING:
    from mockserver.clients.base import (
        FALLBACK_MODEL,
        PRIMARY_MODEL,
        TEST_API_KEY,
        ClientUnderTest,
        as_client_under_test,
    )
    from mockserver.clients.bundled import bundled_adaptive, bundled_policy, bundled_static
    from mockserver.clients.connection import Connection, Target
    from mockserver.clients.fallback import fallback_loop
    from mockserver.clients.recipe import article_recipe, article_recipe_fast
    from mockserver.clients.sdk import immediate_retry, no_retry, sdk_defaults, sdk_max_retries_5

_HOMES: dict[str, str] = {
    "FALLBACK_MODEL": "base",
    "PRIMARY_MODEL": "base",
    "TEST_API_KEY": "base",
    "ClientUnderTest": "base",
    "as_client_under_test": "base",
    "Connection": "connection",
    "Target": "connection",
    "bundled_adaptive": "bundled",
    "bundled_policy": "bundled",
    "bundled_static": "bundled",
    "fallback_loop": "fallback",
    "article_recipe": "recipe",
    "article_recipe_fast": "recipe",
    "immediate_retry": "sdk",
    "no_retry": "sdk",
    "sdk_defaults": "sdk",
    "sdk_max_retries_5": "sdk",
}

__all__ = [
    "FALLBACK_MODEL",
    "PRIMARY_MODEL",
    "TEST_API_KEY",
    "ClientUnderTest",
    "Connection",
    "Target",
    "article_recipe",
    "article_recipe_fast",
    "as_client_under_test",
    "bundled_adaptive",
    "bundled_policy",
    "bundled_static",
    "fallback_loop",
    "immediate_retry",
    "no_retry",
    "reference_client",
    "sdk_defaults",
    "sdk_max_retries_5",
]


def reference_client(name: str) -> Callable[..., ClientUnderTest]:
    """The factory of the catalogue's client ``name`` (or of the name an old release gave it)."""
    entry = BY_NAME.get(canonical(name))
    if entry is None:
        raise KeyError(f"no reference client {name!r}; the catalogue has {', '.join(BY_NAME)}")
    module, _, attr = entry.factory.partition(":")
    factory: Callable[..., ClientUnderTest] = getattr(importlib.import_module(module), attr)
    return factory


__getattr__, __dir__ = lazy_face(
    __name__, globals(), {name: (f"{__name__}.{home}", name) for name, home in _HOMES.items()}
)
