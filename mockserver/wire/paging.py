"""The documented list paging of the API: ``limit`` with ``after_id`` / ``before_id`` (:func:`page`),
and the newer APIs' cursor tokens (:func:`cursor_page`), their 400s included."""

from __future__ import annotations

import base64
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


def _position(ids: list[str], name: str, ident: str) -> int:
    if ident not in ids:
        raise invalid(f"{name}: unknown id {ident!r}")
    return ids.index(ident)


def page(items: list[Any], ident: Callable[[Any], str], query: Mapping[str, str]) -> dict[str, Any]:
    """The documented list paging over ``items`` (already in listing order).

    ``after_id`` pages forwards from just after its item, ``before_id`` backwards from just before
    its item. Both together (the SDKs never send that, and nothing shows the API refusing it) are
    the items between the two, the first ``limit`` of them; ``has_more`` says whether more lie
    before ``before_id``."""
    limit = _limit(query)
    after, before = query.get("after_id"), query.get("before_id")
    ids = [ident(i) for i in items]
    if after is not None:
        start = _position(ids, "after_id", after) + 1
        end = len(items) if before is None else max(start, _position(ids, "before_id", before))
        chosen = items[start : min(end, start + limit)]
        has_more = start + limit < end
    elif before is not None:
        end = _position(ids, "before_id", before)
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


def _token(direction: str, ident: str) -> str:
    raw = f"{direction}:{ident}".encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, str]:
    """(direction, id) of a page token this module made; the 400 for any other."""
    body = token[5:] if token.startswith("page_") else ""
    try:
        direction, _, ident = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        direction, ident = "", ""
    if direction not in ("after", "before") or not ident:
        raise invalid(f"page: Invalid page token {token!r}")
    return direction, ident


def cursor_page(
    items: list[Any],
    ident: Callable[[Any], str],
    query: Mapping[str, str],
    *,
    bidirectional: bool = False,
) -> dict[str, Any]:
    """The cursor paging of the newer APIs (``limit`` and an opaque ``page`` token; the answer
    names ``next_page``, and with ``bidirectional`` also ``prev_page``), over ``items`` already in
    listing order. A token names the item the page starts after (or ends before), so objects made
    or deleted between two pages do not shift the rest; a token whose item is gone is the 400."""
    limit = _limit(query)
    ids = [ident(i) for i in items]
    token = query.get("page")
    start = 0
    if token:
        direction, at = _untoken(token)
        if at not in ids:
            raise invalid(f"page: the page token {token!r} names an object that is gone")
        start = ids.index(at) + 1 if direction == "after" else max(0, ids.index(at) - limit)
    chosen = items[start : start + limit]
    answer: dict[str, Any] = {
        "data": chosen,
        "next_page": _token("after", ids[start + limit - 1]) if start + limit < len(items) else None,
    }
    if bidirectional:
        answer["prev_page"] = _token("before", ids[start]) if start > 0 and chosen else None
    return answer
