"""The documented list paging of the API (``limit``, ``after_id``, ``before_id``), its 400s included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mockserver.wire.errors import invalid


def _limit(query: Mapping[str, str]) -> int:
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid(f"limit: Input should be a valid integer, got {raw_limit!r}") from None
    if not 1 <= limit <= 1000:
        raise invalid("limit: Input should be between 1 and 1000")
    return limit


def page(items: list[Any], ident: Callable[[Any], str], query: Mapping[str, str]) -> dict[str, Any]:
    """The documented list paging over ``items`` (already in listing order)."""
    limit = _limit(query)
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise invalid("after_id and before_id cannot both be given")
    ids = [ident(i) for i in items]
    if after is not None:
        if after not in ids:
            raise invalid(f"after_id: unknown id {after!r}")
        start = ids.index(after) + 1
        chosen = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before is not None:
        if before not in ids:
            raise invalid(f"before_id: unknown id {before!r}")
        end = ids.index(before)
        chosen = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        chosen = items[:limit]
        has_more = limit < len(items)
    return {
        "data": chosen,
        "has_more": has_more,
        "first_id": ident(chosen[0]) if chosen else None,
        "last_id": ident(chosen[-1]) if chosen else None,
    }
