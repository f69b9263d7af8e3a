"""The headers every API response of the mock carries, made once a second, not once a request.

As the real API's do, every response says which organization answered and the state of its
rate limits (``anthropic-ratelimit-*``). Unless the scenario's rate limits cover a request (then
the engine's decision brings the true bucket headers, which replace these), the limits are those
of the default tier, whose buckets are always full: their ``reset`` is now, so the templates are
remade when the wall clock passes the next whole second. The caller brings that tier's headers
(the fault engine knows the tiers; this module knows only the wire).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import CIMultiDict

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


def header_templates(wall: float, ratelimit: Mapping[str, str]) -> HeaderTemplates:
    """The templates for epoch second ``wall`` (the reset times name the next whole second), with
    the ``anthropic-ratelimit-*`` headers ``ratelimit`` of full buckets at that second."""
    base = {"anthropic-organization-id": ORGANIZATION_ID, **ratelimit}
    return HeaderTemplates(
        base,
        CIMultiDict({"request-id": "", "content-type": JSON_TYPE, **base}),
        CIMultiDict({"request-id": "", **base, "content-type": JSON_TYPE}),
        float(math.ceil(wall)),
    )
