"""The sampling parameters of a Messages body (``temperature``, ``top_p``, ``top_k``) as the API
judges them: their ranges on every model, and the 400 the models that fix sampling send.

The models after Claude Opus 4.6 (catalogue ``sampling_fixed``) accept only ``temperature`` 1,
``top_p`` of at least 0.99 and no ``top_k`` at all; any other value is refused with
```<name>` is deprecated for this model.`` (the wording clients report). The older models take
the whole ranges. No library knows these rules: they are the API's.
"""

from __future__ import annotations

from typing import Any

from mockserver.wire.catalogue import ModelEntry
from mockserver.wire.errors import invalid

TOP_P_FLOOR = 0.99  # the smallest top_p a model with fixed sampling accepts


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_sampling(body: dict[str, Any]) -> None:
    """temperature and top_p in [0, 1], top_k a non-negative integer (each optional)."""
    for name in ("temperature", "top_p"):
        if name in body and body[name] is not None:
            value = body[name]
            if not _is_number(value):
                raise invalid(f"{name}: Input should be a valid number")
            if not 0.0 <= value <= 1.0:
                raise invalid(f"{name}: Input should be between 0 and 1")
    top_k = body.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise invalid("top_k: Input should be a valid integer")
        if top_k < 0:
            raise invalid("top_k: Input should be greater than or equal to 0")


def check_fixed_sampling(body: dict[str, Any], entry: ModelEntry) -> None:
    """The 400 of a sampling parameter ``entry``'s model refuses (none when it does not fix
    sampling). ``body`` already passed :func:`validate_sampling`; a null is an absent field."""
    if not entry.sampling_fixed:
        return
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise invalid("`temperature` is deprecated for this model.")
    top_p = body.get("top_p")
    if top_p is not None and top_p < TOP_P_FLOOR:
        raise invalid("`top_p` is deprecated for this model.")
    if body.get("top_k") is not None:
        raise invalid("`top_k` is deprecated for this model.")
