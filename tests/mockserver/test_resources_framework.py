"""The pieces every stateful route stands on: bounded collections with the real 404, cursor
paging, and faults judged on every payload route (refused before the work, with retries in the
journal), reached by scenario rules that name the route's path."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.faults.compiled import PathPatterns
from mockserver.wire.errors import ApiError
from mockserver.wire.paging import cursor_page
from mockserver.wire.resources import Collection, Resources, timestamp


def _objs(n: int) -> list[dict[str, Any]]:
    return [{"id": f"obj_{i:03d}"} for i in range(n)]


def _ident(o: dict[str, Any]) -> str:
    return str(o["id"])


# ---------------------------------------------------------------- collections


def test_a_collection_keeps_creation_order_and_answers_the_real_404() -> None:
    c = Collection("File")
    for o in _objs(3):
        c.add(o)
    assert [o["id"] for o in c.newest_first()] == ["obj_002", "obj_001", "obj_000"]
    assert c.get("obj_001") == {"id": "obj_001"} and "obj_001" in c and len(c) == 3
    with pytest.raises(ApiError) as err:
        c.get("file_nope")
    assert err.value.status == 404 and err.value.error_type == "not_found_error"
    assert "file_nope" in err.value.message
    c.remove("obj_001")
    assert c.find("obj_001") is None and len(c) == 2
    with pytest.raises(ApiError):
        c.remove("obj_001")


def test_a_full_collection_forgets_its_oldest_object() -> None:
    c = Collection("Agent", most=2)
    for o in _objs(3):
        c.add(o)
    assert [o["id"] for o in c.oldest_first()] == ["obj_001", "obj_002"]


def test_resources_make_a_collection_per_key_bounded_and_cleared() -> None:
    r = Resources(most=2)
    a = r.collection(("version", "agent_a"), "Agent version")
    assert r.collection(("version", "agent_a"), "Agent version") is a
    a.add({"id": "v1"})
    r.collection(("version", "agent_b"), "Agent version")
    r.collection(("version", "agent_c"), "Agent version")
    assert r.existing(("version", "agent_a")) is None  # the oldest went
    r.clear()
    assert r.existing(("version", "agent_c")) is None


def test_timestamps_are_rfc3339_utc_with_microseconds() -> None:
    assert timestamp(0.25) == "1970-01-01T00:00:00.250000Z"


# ---------------------------------------------------------------- cursor paging


def _walk(items: list[dict[str, Any]], limit: int, *, bidirectional: bool = False) -> list[list[str]]:
    pages, query = [], {"limit": str(limit)}
    while True:
        got = cursor_page(items, _ident, query, bidirectional=bidirectional)
        pages.append([o["id"] for o in got["data"]])
        if not got["next_page"]:
            return pages
        query = {"limit": str(limit), "page": got["next_page"]}


def test_cursor_pages_walk_every_item_once_in_order() -> None:
    items = _objs(7)
    pages = _walk(items, 3)
    assert pages == [["obj_000", "obj_001", "obj_002"], ["obj_003", "obj_004", "obj_005"], ["obj_006"]]
    assert _walk(items, 7) == [[o["id"] for o in items]]
    assert _walk([], 3) == [[]]


def test_bidirectional_cursor_pages_go_back_too() -> None:
    items = _objs(5)
    first = cursor_page(items, _ident, {"limit": "2"}, bidirectional=True)
    assert first["prev_page"] is None
    second = cursor_page(items, _ident, {"limit": "2", "page": first["next_page"]}, bidirectional=True)
    assert [o["id"] for o in second["data"]] == ["obj_002", "obj_003"]
    back = cursor_page(items, _ident, {"limit": "2", "page": second["prev_page"]}, bidirectional=True)
    assert [o["id"] for o in back["data"]] == ["obj_000", "obj_001"]


def test_a_page_token_survives_new_objects_and_a_bad_or_stale_one_is_the_400() -> None:
    items = _objs(4)
    token = cursor_page(items, _ident, {"limit": "2"})["next_page"]
    grown = [{"id": "obj_new"}, *items]  # a newer object is listed first
    assert [o["id"] for o in cursor_page(grown, _ident, {"limit": "2", "page": token})["data"]] == [
        "obj_002",
        "obj_003",
    ]
    for bad in ("garbage", "page_!!", token + "x"):
        with pytest.raises(ApiError) as err:
            cursor_page(items, _ident, {"page": bad})
        assert err.value.status == 400
    with pytest.raises(ApiError):  # its object is gone
        cursor_page(items[2:], _ident, {"page": token})


# ---------------------------------------------------------------- faults on every route


def test_path_patterns_match_with_shell_wildcards() -> None:
    p = PathPatterns(["/v1/messages", "/v1/files*"])
    assert "/v1/messages" in p and "/v1/files/file_1/content" in p
    assert "/v1/models" not in p and 3 not in p
    assert "/v1/x" not in PathPatterns([])


def _client(server: MockServer, retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=retries, _strict_response_validation=True
    )


def test_a_rule_naming_a_route_reaches_it_and_the_sdk_retries_it() -> None:
    scenario = {
        "name": "models-flaky",
        "description": "the models list fails once",
        "rules": [
            {
                "match": {"path": "/v1/models*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        client = _client(server, 2)
        assert client.models.list().data
        entries = [e for e in server.journal.entries() if e.path == "/v1/models"]
        assert [e.status for e in entries] == [529, 200]
        assert [e.retry_count for e in entries] == [0, 1]


def test_a_rule_naming_no_path_touches_only_the_routes_that_run_a_model() -> None:
    scenario = {"name": "all-529", "description": "every model call is refused", "rules": [{"fault": 529}]}
    with MockServer(scenario=scenario) as server:
        client = _client(server, 0)
        assert client.models.list().data  # not a model route: untouched
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(
                model="claude-opus-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )


def test_the_override_header_reaches_every_route() -> None:
    with MockServer() as server:
        client = _client(server, 0)
        with pytest.raises(anthropic.RateLimitError):
            client.models.list(extra_headers={"x-busysignal-fault": "429"})
        [entry] = [e for e in server.journal.entries() if e.status == 429]
        assert entry.path == "/v1/models" and entry.fault == "http_error"


def test_rate_limits_count_the_paths_they_name_by_pattern() -> None:
    scenario = {
        "name": "models-rpm",
        "description": "2 reads of the models a minute",
        "rate_limits": {"requests_per_minute": 2, "paths": ["/v1/models*"]},
    }
    with MockServer(scenario=scenario) as server:
        client = _client(server, 0)
        client.models.list()
        client.models.retrieve("claude-opus-4-6")
        with pytest.raises(anthropic.RateLimitError):
            client.models.list()
