"""The retry recipe most blog posts give, faithfully reproduced so the kit can show what it does.

::

    @retry(
        retry=retry_if_exception_type(APIStatusError),
        wait=wait_exponential(min=4, max=60),
        stop=stop_after_attempt(5),
    )
    def ask(**params):
        return client.messages.create(**params)   # client = anthropic.Anthropic()

It looks careful; the harness shows three faults. ``APIStatusError`` includes 400/401/403/404/413,
so it retries requests that can never succeed. ``wait_exponential`` has no jitter, so clients
that failed together retry together. And the SDK underneath still retries on its own, so one call
can make 5 × 3 = 15 attempts while the code says 5.

Time scale: the real recipe waits 4, 4, 4 and 8 s between its tries (about 20 s per failing call,
plus the SDK's own waits). ``time_scale`` multiplies the tenacity waits only (``min``, ``max`` and
the multiplier), so tests can run it in a tenth of the time; the SDK underneath keeps its real
timing. ``article_recipe_fast`` is the 0.1 scale. A scaled recipe is not the recipe: its tenacity
waits fall below the SDK's, so it fails "backs off", which the real one passes. The catalogue's
``article-recipe`` (``verify``, ``demo``, ``loadtest``) is always the real one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic

from mockserver.clients.base import ClientUnderTest, sdk_stream
from mockserver.clients.connection import Target, connection
from mockserver.extras import require

if TYPE_CHECKING:
    from tenacity import Retrying

RECIPE_ATTEMPTS = 5


def _retrying(time_scale: float) -> Retrying:
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    return Retrying(
        retry=retry_if_exception_type(anthropic.APIStatusError),
        wait=wait_exponential(multiplier=time_scale, min=4 * time_scale, max=60 * time_scale),
        stop=stop_after_attempt(RECIPE_ATTEMPTS),
        reraise=True,
    )


def article_recipe(target: Target, *, time_scale: float = 1.0) -> ClientUnderTest:
    """The recipe at its real timing (``time_scale=1``) or scaled (see the module docstring)."""
    if not time_scale > 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale}")
    require("tenacity")  # the recipe is tenacity's: a missing one is named with its extra
    sdk = connection(target).sdk()  # the SDK as shipped: its own 2 retries underneath

    def create(**params: Any) -> Any:
        return _retrying(time_scale)(sdk.messages.create, **params)

    stream_once = sdk_stream(sdk)

    def stream(**params: Any) -> Any:
        return _retrying(time_scale)(stream_once, **params)

    name = "article-recipe" if time_scale == 1.0 else f"article-recipe (waits ×{time_scale:g})"
    return ClientUnderTest(
        name=name,
        create=create,
        stream=stream,
        claimed_max_attempts=RECIPE_ATTEMPTS,
        close=sdk.close,
    )


def article_recipe_fast(target: Target) -> ClientUnderTest:
    """The recipe with its tenacity waits scaled by 0.1 (0.4, 0.4, 0.4, 0.8 s)."""
    return article_recipe(target, time_scale=0.1)
