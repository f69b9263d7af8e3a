"""The names of the client strategies (each is described in :mod:`loadtests.strategies`).

Kept apart from the strategies themselves, which import the SDK, so that ``busysignal loadtest
--help`` and the load config can name them without importing it.
"""

from __future__ import annotations

STRATEGIES: tuple[str, ...] = (
    "no-retry",
    "immediate-retry",
    "sdk-defaults",
    "article-recipe",
    "bundled",
    "bundled-adaptive",
)
