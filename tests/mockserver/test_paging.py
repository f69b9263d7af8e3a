"""The documented list paging (``limit``, ``after_id``, ``before_id``) of wire/paging.page: each
cursor alone, and both together (a page between the two ids; nothing shows the API refusing it),
through the SDK's models list."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.wire.errors import ApiError
from mockserver.wire.paging import page

ITEMS = [{"id": f"x{i}"} for i in range(10)]


def ids(query: dict[str, str]) -> tuple[list[str], bool]:
    answer: dict[str, Any] = page(ITEMS, lambda i: str(i["id"]), query)
    data = [str(i["id"]) for i in answer["data"]]
    assert answer["first_id"] == (data[0] if data else None)
    assert answer["last_id"] == (data[-1] if data else None)
    return data, bool(answer["has_more"])


def test_each_cursor_alone() -> None:
    assert ids({"limit": "3"}) == (["x0", "x1", "x2"], True)
    assert ids({"limit": "3", "after_id": "x6"}) == (["x7", "x8", "x9"], False)
    assert ids({"limit": "3", "before_id": "x3"}) == (["x0", "x1", "x2"], False)
    assert ids({"limit": "3", "before_id": "x5"}) == (["x2", "x3", "x4"], True)


def test_both_cursors_give_the_items_between_them() -> None:
    assert ids({"after_id": "x1", "before_id": "x5"}) == (["x2", "x3", "x4"], False)
    assert ids({"limit": "2", "after_id": "x1", "before_id": "x5"}) == (["x2", "x3"], True)
    assert ids({"limit": "3", "after_id": "x1", "before_id": "x5"}) == (["x2", "x3", "x4"], False)
    assert ids({"after_id": "x4", "before_id": "x5"}) == ([], False)
    assert ids({"after_id": "x7", "before_id": "x2"}) == ([], False)  # crossed: nothing between


@pytest.mark.parametrize("query", [{"after_id": "nope"}, {"after_id": "x1", "before_id": "nope"}])
def test_an_unknown_id_is_the_400(query: dict[str, str]) -> None:
    with pytest.raises(ApiError) as caught:
        page(ITEMS, lambda i: str(i["id"]), query)
    assert caught.value.status == 400 and "unknown id 'nope'" in caught.value.message


def test_the_models_list_takes_both_cursors() -> None:
    with MockServer() as server:
        sdk = anthropic.Anthropic(base_url=server.url, api_key=TEST_KEY, _strict_response_validation=True)
        every = [m.id for m in sdk.models.list(limit=100)]
        between = sdk.models.list(after_id=every[0], before_id=every[4])
        assert [m.id for m in between.data] == every[1:4]
        assert between.has_more is False
        response = httpx2.get(
            f"{server.url}/v1/models",
            params={"after_id": every[0], "before_id": every[4], "limit": 2},
            headers={"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"},
        )
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"]] == every[1:3]
        assert response.json()["has_more"] is True
