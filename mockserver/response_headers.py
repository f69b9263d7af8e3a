"""The headers every API response of the mock carries, made once a second, not once a request.

As the real API's do, every response says which organization answered and the state of its
rate limits (``anthropic-ratelimit-*``). Unless the scenario's rate limits cover a request (then
the engine's decision brings the true bucket headers, which replace these), the limits are those
of :data:`~mockserver.faults.ratelimits.DEFAULT_TIER`, whose buckets are always full: their
``reset`` is now, so the templates are remade when the wall clock passes the next whole second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from multidict import CIMultiDict

from mockserver.faults.ratelimits import DEFAULT_TIER, tier_headers

JSON_TYPE = "application/json"
ORGANIZATION_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True, slots=True)
class HeaderTemplates:
    """``base``: every response's own headers; ``json``: a 200 JSON answer's, request-id to fill
    in (copying it is cheaper than building it); ``error``: an error's when neither the decision
    nor the error adds any. Valid for wall-clock times up to ``until``."""

    base: dict[str, str]
    json: CIMultiDict[str]
    error: CIMultiDict[str]
    until: float


def header_templates(wall: float) -> HeaderTemplates:
    """The templates for epoch second ``wall`` (the reset times name the next whole second)."""
    base = {"anthropic-organization-id": ORGANIZATION_ID, **tier_headers(DEFAULT_TIER, wall)}
    return HeaderTemplates(
        base,
        CIMultiDict({"request-id": "", "content-type": JSON_TYPE, **base}),
        CIMultiDict({"request-id": "", **base, "content-type": JSON_TYPE}),
        float(math.ceil(wall)),
    )
