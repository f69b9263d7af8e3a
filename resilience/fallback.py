"""Model fallback: an ordered chain of models, tried in order when one is overloaded or down.

A request for a model in the chain is tried on that model and then on the models after it;
a request for a model not in the chain goes to that model alone (the chain never sends a
request to a model that comes *before* the one asked for, nor to an unrelated one).

The chain moves on only for failures that another model may not share (:data:`FALL_BACK_ON`:
overload, 5xx, timeouts, connection errors, a retryable 429, an open breaker), after the
retries on the current model are spent, and never for the caller's own 4xx or a spend limit.
Parameters are kept; ``model`` is replaced and ``max_tokens`` is clamped to the fallback
model's limit (``max_tokens=`` mapping) when one is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from resilience.classify import Failure, Kind

__all__ = ["FALL_BACK_ON", "FallbackChain"]

FALL_BACK_ON: frozenset[Kind] = frozenset(
    {Kind.OVERLOADED, Kind.SERVER, Kind.TIMEOUT, Kind.CONNECTION, Kind.RATE_LIMITED, Kind.CIRCUIT_OPEN}
)


class FallbackChain:
    """An ordered list of model ids, e.g. ``FallbackChain(["claude-sonnet-5-5", "claude-haiku-5-5"],
    max_tokens={"claude-haiku-5-5": 64_000})``.

    ``overload_attempts``: on a 529 (overloaded) from a model that has a next model in the
    chain, at most this many attempts on it before moving on (None: the retry's
    ``max_attempts``, as for every other failure). An overloaded model is out of capacity for
    a while; a caller who named a fallback is better served by it than by seconds of backoff.
    The last model of the chain always gets the full ``max_attempts``."""

    __slots__ = ("_index", "fall_back_on", "max_tokens", "models", "overload_attempts")

    def __init__(
        self,
        models: Iterable[str],
        *,
        max_tokens: Mapping[str, int] | None = None,
        fall_back_on: Iterable[Kind] = FALL_BACK_ON,
        overload_attempts: int | None = None,
    ) -> None:
        if isinstance(models, str):
            raise TypeError("FallbackChain: models must be a list of model ids, not one string")
        chain = tuple(models)
        if not chain:
            raise ValueError("FallbackChain: at least one model is required")
        for model in chain:
            if not isinstance(model, str) or not model:
                raise ValueError(f"FallbackChain: model ids must be non-empty strings, got {model!r}")
        if len(set(chain)) != len(chain):
            raise ValueError(f"FallbackChain: a model appears twice in {list(chain)}")
        limits = dict(max_tokens or {})
        for model, limit in limits.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"FallbackChain: max_tokens[{model!r}] must be an int >= 1, got {limit!r}")
        kinds = frozenset(fall_back_on)
        if Kind.CALLER in kinds or Kind.SPEND_LIMITED in kinds:
            raise ValueError("FallbackChain: never fall back on the caller's own errors or a spend limit")
        if overload_attempts is not None and (
            isinstance(overload_attempts, bool)
            or not isinstance(overload_attempts, int)
            or overload_attempts < 1
        ):
            raise ValueError(
                f"FallbackChain: overload_attempts must be an int >= 1 or None, got {overload_attempts!r}"
            )
        self.models = chain
        self.overload_attempts = overload_attempts
        self.max_tokens = limits
        self.fall_back_on = kinds
        self._index = {model: i for i, model in enumerate(chain)}

    def plan(self, requested: str) -> tuple[str, ...]:
        """The models to try, in order, for a request that asked for ``requested``."""
        i = self._index.get(requested)
        return (requested,) if i is None else self.models[i:]

    def should_fall_back(self, failure: Failure) -> bool:
        return failure.kind in self.fall_back_on

    def attempts_on(self, model: str, failure: Failure, max_attempts: int) -> int:
        """How many attempts ``model`` gets when the last one failed with ``failure``: fewer
        after an overload when ``overload_attempts`` is set and a next model is left."""
        if (
            self.overload_attempts is None
            or failure.kind is not Kind.OVERLOADED
            or Kind.OVERLOADED not in self.fall_back_on
            or self._index.get(model, len(self.models) - 1) >= len(self.models) - 1
        ):
            return max_attempts
        return min(max_attempts, self.overload_attempts)

    def params_for(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` for ``model``: same parameters, model replaced, max_tokens clamped."""
        out = dict(params)
        out["model"] = model
        limit = self.max_tokens.get(model)
        requested = out.get("max_tokens")
        if limit is not None and isinstance(requested, int) and requested > limit:
            out["max_tokens"] = limit
        return out

    def __repr__(self) -> str:
        return f"FallbackChain({list(self.models)!r})"
