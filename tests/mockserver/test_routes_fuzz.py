"""Hypothesis fuzzing of every API route the mock serves: a state machine makes objects through
the routes that create them, then calls any route, with ids it made or made up, arbitrary JSON
bodies and paging queries. Every answer is a 200 or an Anthropic-shaped 4xx: never a 500 that
was not injected, never a hang (the client's timeout fails the test).

The routes come from the mock's own route table, so a family added later is fuzzed with no change
here. (POST /v1/messages has its own, deeper fuzzing in test_server_fuzz.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, cast

import httpx2
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, multiple, rule, run_state_machine_as_test
from tests.support import TEST_KEY

from mockserver import MockServer
from mockserver.app import create_app

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def api_routes() -> list[tuple[str, str]]:
    """(method, path pattern) of every API route in the mock's table (control plane, metrics and
    the catch-all aside), in a stable order."""
    found: set[tuple[str, str]] = set()
    for resource in create_app().router.resources():
        path = resource.canonical
        if not path.startswith("/v1/"):
            continue
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, path))
    return sorted(found)


ROUTES = api_routes()
# routes whose answer names a new object: POSTs to a path that ends in a collection, not an id
MAKERS = [(m, p) for m, p in ROUTES if m == "POST" and not p.endswith("}")]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)
# field names the API's create and update bodies use, so that some bodies get past the first check
field_names = st.sampled_from(
    [
        "name", "model", "description", "metadata", "title", "display_title", "agent", "agent_id",
        "environment_id", "config", "content", "type", "events", "requests", "system", "tools",
        "max_tokens", "messages", "prompt", "max_tokens_to_sample", "stream", "instructions",
        "resources", "vault_ids", "path", "status", "url",
    ]
) | st.text(max_size=10)  # fmt: skip
bodies = (
    st.dictionaries(field_names, json_values, max_size=5).map(lambda b: json.dumps(b).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=48)
)
queries = st.dictionaries(
    st.sampled_from(["limit", "page", "after_id", "before_id", "include_archived", "beta"]),
    st.sampled_from(["1", "2", "0", "1001", "-1", "x", "true", "page_bm9wZQ", ""]) | st.text(max_size=8),
    max_size=3,
)
made_up_ids = st.sampled_from(
    ["x", "file_0", "agent_0", "sesn_0", "msgbatch_0", "claude-haiku-4-5"]
) | st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
    min_size=1,
    max_size=12,
)

HEADERS = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
# the beta values the newer families want (every one of them known, so the header alone refuses nothing)
BETAS = st.sampled_from(
    [
        "",
        "managed-agents-2026-04-01",
        "files-api-2025-04-14",
        "skills-2025-10-02",
        "dreaming-2026-04-21",
        "mcp-tunnels-2026-06-22",
    ]
)


def check_answer(response: httpx2.Response) -> None:
    """A 200 (JSON, a stream or bytes) or an Anthropic-shaped 4xx; never a 5xx."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:300])
    rid = response.headers["request-id"]
    assert rid.startswith("req_")
    if response.status_code >= 400:
        body = response.json()
        assert body["type"] == "error" and body["request_id"] == rid, body
        assert isinstance(body["error"]["type"], str) and body["error"]["message"], body
    elif response.headers.get("content-type", "").startswith("application/json"):
        assert isinstance(response.json(), dict)


def _fill(path: str, ident: str) -> str:
    return _PLACEHOLDER.sub(lambda _: ident, path)


class RouteFuzz(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self, http: httpx2.Client) -> None:
        super().__init__()
        self.http = http

    def _call(
        self, method: str, path: str, body: bytes, query: dict[str, str], beta: str = ""
    ) -> httpx2.Response:
        content = body if method in ("POST", "PUT", "PATCH") else None
        headers = {**HEADERS, "anthropic-beta": beta} if beta else HEADERS
        response = self.http.request(method, path, content=content, params=query, headers=headers)
        check_answer(response)
        return response

    @rule(target=ids, route=st.sampled_from(MAKERS or ROUTES), body=bodies, parent=made_up_ids, beta=BETAS)
    def make(self, route: tuple[str, str], body: bytes, parent: str, beta: str) -> Any:
        method, path = route
        response = self._call(method, _fill(path, parent), body, {}, beta)
        found = (
            response.json().get("id")
            if response.status_code == 200 and "json" in response.headers.get("content-type", "")
            else None
        )
        return multiple(found) if isinstance(found, str) else multiple()

    @rule(route=st.sampled_from(ROUTES), ident=ids | made_up_ids, body=bodies, query=queries, beta=BETAS)
    def call(self, route: tuple[str, str], ident: str, body: bytes, query: dict[str, str], beta: str) -> None:
        method, path = route
        self._call(method, _fill(path, ident), body, query, beta)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    with MockServer(seed=1) as server, httpx2.Client(base_url=server.url, timeout=30.0) as client:
        yield client


def test_the_route_table_has_the_api() -> None:
    assert ("POST", "/v1/messages") in ROUTES and ("GET", "/v1/models/{model_id}") in ROUTES
    assert not any(p.startswith("/_busysignal") for _, p in ROUTES)


def test_any_call_on_any_route_gets_200_or_an_anthropic_4xx(http: httpx2.Client) -> None:
    calls_before = len(http.get("/_busysignal/journal").json()["entries"])
    run_state_machine_as_test(
        cast("type[RuleBasedStateMachine]", lambda: RouteFuzz(http)),
        settings=settings(
            max_examples=40,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
    # the machine really called the mock, on many routes (a run that called nothing would pass)
    entries = http.get("/_busysignal/journal").json()["entries"][calls_before:]
    assert len(entries) >= 100
    assert len({(e["method"], e["path"]) for e in entries}) >= 8
