"""The base of every model of the scenario language: unknown keys are errors, values are frozen and
finite (no ``.inf`` / ``.nan`` anywhere: a non-finite duration or rate is a mistake, never a setting)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def exactly_one_of(model: BaseModel, what: str, fields: tuple[str, ...]) -> None:
    """ValueError unless exactly one of ``fields`` is set on ``model``."""
    given = [k for k in fields if getattr(model, k) is not None]
    if len(given) != 1:
        raise ValueError(f"{what} needs exactly one of {', '.join(fields)} (got {given or 'none'})")
