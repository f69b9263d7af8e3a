"""Journal contract, ring buffer, logical requests, control plane, stats, metrics, bind safety."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from tests.support import TEST_KEY, ScriptedEngine, user

from mockserver import AsyncMockServer, MockServer, UnsafeBindError
from mockserver.faults import Decision, HttpError
from mockserver.journal import Journal, JournalFilter, kept_header_values, logical_requests
from mockserver.journal import export as journal_export

MODEL = "claude-haiku-4-5"
ENTRY_KEYS = {
    "seq",
    "request_id",
    "method",
    "path",
    "wall_start",
    "start",
    "end",
    "model",
    "api_key_id",
    "retry_count",
    "body_digest",
    "prompt_digest",
    "logical_id",
    "stream",
    "status",
    "error_type",
    "fault",
    "reason",
    "bytes_sent",
    "events_sent",
    "client_gone",
    "headers",
}
API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def post(server: MockServer, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.post(f"{server.url}/v1/messages", json=body, headers={**API, **headers})


def msg(model: str = MODEL, text: str = "hi", max_tokens: int = 5) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": user(text)}


def test_journal_entries_follow_the_contract(server: MockServer) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key=TEST_KEY)
    client.messages.create(model=MODEL, max_tokens=5, messages=user())
    with client.messages.stream(model=MODEL, max_tokens=5, messages=user()) as stream:
        stream.get_final_message()
    data = httpx2.get(f"{server.url}/_busysignal/journal").json()
    first, second = data["entries"]
    assert set(first) == ENTRY_KEYS and set(second) == ENTRY_KEYS
    assert first["seq"] == 0 and second["seq"] == 1
    assert first["request_id"].startswith("req_") and first["status"] == 200 and not first["stream"]
    assert second["stream"] and second["events_sent"] > 0 and second["bytes_sent"] > 0
    assert first["retry_count"] == 0 and first["headers"]["x-stainless-lang"] == "python"
    assert first["api_key_id"] and TEST_KEY not in json.dumps(data)
    assert first["end"] >= first["start"] and isinstance(first["reason"], dict) and first["fault"] is None
    # same prompt, different stream flag: different logical request, prompt digest too
    assert first["logical_id"] != second["logical_id"] and first["prompt_digest"] != second["prompt_digest"]
    assert [e.to_dict() for e in server.journal.entries()] == data["entries"]


def test_prompt_digest_groups_a_call_across_model_fallback(server: MockServer) -> None:
    post(server, msg(model="claude-opus-4-6"))
    post(server, msg(model="claude-haiku-4-5"))
    a, b = server.journal.entries()
    assert a.prompt_digest == b.prompt_digest and a.logical_id != b.logical_id


def test_journal_filters_and_jsonl(server: MockServer) -> None:
    post(server, msg())
    post(server, msg(model="claude-opus-4-6"))
    post(server, {"model": MODEL})
    httpx2.get(f"{server.url}/v1/models", headers=API)
    url = f"{server.url}/_busysignal/journal"

    def seqs(**params: Any) -> list[int]:
        return [e["seq"] for e in httpx2.get(url, params=params).json()["entries"]]

    assert seqs() == [0, 1, 2, 3]
    assert seqs(path="/v1/models") == [3]
    assert seqs(status=400) == [2]
    assert seqs(model="claude-opus-4-6") == [1]
    assert seqs(since_seq=2) == [2, 3]
    assert seqs(limit=2) == [0, 1]
    logical = server.journal.entries()[1].logical_id
    assert seqs(logical_id=logical) == [1]
    key_id = server.journal.entries()[0].api_key_id
    assert seqs(api_key_id=key_id) == [0, 1, 2, 3]
    lines = httpx2.get(url, params={"format": "jsonl"}).text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3]
    assert httpx2.get(url, params={"since_seq": "x"}).status_code == 400


def test_delete_clears_the_journal_but_seq_keeps_counting(server: MockServer) -> None:
    post(server, msg())
    assert httpx2.delete(f"{server.url}/_busysignal/journal").json() == {"cleared": 1}
    post(server, msg())
    assert [e.seq for e in server.journal.entries()] == [1]


def test_ring_buffer_keeps_only_the_newest_entries() -> None:
    with MockServer(journal_size=3) as srv:
        for i in range(7):
            post(srv, msg(text=str(i)))
        assert [e.seq for e in srv.journal.entries()] == [4, 5, 6]
        assert httpx2.get(f"{srv.url}/_busysignal/health").json()["next_seq"] == 7


def test_logical_requests_group_retries_with_gaps() -> None:
    journal = Journal(10)
    for i, (key, digest, start) in enumerate(
        [("k", "a", 1.0), ("k", "b", 1.5), ("k", "a", 2.0), ("k", "a", 3.5)]
    ):
        entry = journal.open(f"req_{i}", "POST", "/v1/messages", 0.0, start, key, i, kept_header_values({}))
        entry.body_digest = digest
        entry.logical_id = f"{key}:{digest}"
        entry.end = start + 0.25
        entry.status = 529 if i < 3 else 200
    a, b = journal.logical_requests()
    assert [e.seq for e in a.attempts] == [0, 2, 3] and a.starts == (1.0, 2.0, 3.5)
    assert a.gaps == (1.0, 1.5) and a.idle_gaps == (0.75, 1.25) and a.succeeded
    assert b.attempts[0].seq == 1 and b.gaps == () and not b.succeeded
    assert logical_requests(journal.entries(JournalFilter(since_seq=2)))[0].starts == (2.0, 3.5)


def test_stats_count_by_status_error_type_and_model(server: MockServer) -> None:
    post(server, msg())
    post(server, msg(model="claude-opus-4-6"))
    post(server, msg(model="claude-nope"))
    stats = httpx2.get(f"{server.url}/_busysignal/stats").json()
    assert stats["requests"] == 3 and stats["in_flight"] == 0
    assert stats["by_status"] == {"200": 2, "404": 1}
    assert stats["by_error_type"] == {"not_found_error": 1}
    assert stats["by_model"] == {MODEL: 1, "claude-opus-4-6": 1, "claude-nope": 1}


def test_reset_clears_journal_and_stats_and_restarts_the_engine() -> None:
    engine = ScriptedEngine()
    with MockServer(engine=engine) as srv:
        post(srv, msg())
        before = len(engine.restarts)
        assert httpx2.post(f"{srv.url}/_busysignal/reset").status_code == 200
        assert len(srv.journal) == 0 and len(engine.restarts) == before + 1
        assert httpx2.get(f"{srv.url}/_busysignal/stats").json()["requests"] == 0
        post(srv, msg())
        assert [f.index for f in engine.decided] == [0, 0]


def test_scenario_put_by_name_yaml_and_json_and_errors(server: MockServer) -> None:
    url = f"{server.url}/_busysignal/scenario"
    assert httpx2.get(url).json()["name"] == "steady"
    r = httpx2.put(url, json={"name": "flaky-5xx"})
    assert r.status_code == 200 and httpx2.get(url).json()["name"] == "flaky-5xx"
    yaml_text = (
        "name: all-529\n"
        "description: every request is overloaded\n"
        "rules:\n"
        "  - {id: always, match: {path: /v1/messages}, fault: 529}\n"
    )
    r = httpx2.put(url, content=yaml_text.encode(), headers={"content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    answer = post(server, msg())
    assert answer.status_code == 529 and answer.json()["error"]["type"] == "overloaded_error"
    assert server.journal.entries()[-1].fault == "http_error"
    bad = httpx2.put(url, json={"name": "no-such-scenario"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert "no-such-scenario" in bad.json()["error"]["message"]
    assert httpx2.put(url, content=b"").status_code == 400
    assert post(server, msg()).status_code == 529  # a refused PUT leaves the running scenario alone


def test_scenario_put_restarts_the_index_and_clock() -> None:
    engine = ScriptedEngine([Decision(error=HttpError(529, "overloaded_error", "Overloaded"))])
    with MockServer(engine=engine) as srv:
        assert post(srv, msg()).status_code == 529
        httpx2.put(f"{srv.url}/_busysignal/scenario", json={"name": "steady"})
        assert srv.engine is not engine and post(srv, msg()).status_code == 200


def test_metrics_are_prometheus_text(server: MockServer) -> None:
    post(server, msg())
    post(server, msg(model="claude-nope"))
    r = httpx2.get(f"{server.url}/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE busysignal_requests_total counter" in text
    assert f'busysignal_requests_total{{route="messages",status="200",model="{MODEL}"}} 1' in text
    assert 'busysignal_errors_total{type="not_found_error"} 1' in text
    assert 'busysignal_request_duration_seconds_bucket{le="+Inf"} 2' in text
    assert "busysignal_in_flight 0" in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_control_token_guards_the_control_plane_only() -> None:
    with MockServer(control_token="s3cret") as srv:
        health = f"{srv.url}/_busysignal/health"
        denied = httpx2.get(health)
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
        assert httpx2.get(health, headers={"x-busysignal-token": "s3cret"}).status_code == 200
        assert httpx2.get(health, headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert httpx2.get(f"{srv.url}/metrics").status_code == 401
        assert post(srv, msg()).status_code == 200


def test_non_loopback_bind_needs_a_control_token() -> None:
    with pytest.raises(UnsafeBindError, match="control token"):
        MockServer(host="0.0.0.0")
    with pytest.raises(UnsafeBindError):
        AsyncMockServer(host="192.0.2.10")
    MockServer(host="0.0.0.0", control_token="t")  # allowed (not started here)
    MockServer(host="::1")


def test_unknown_route_and_method_are_journalled(server: MockServer) -> None:
    assert httpx2.get(f"{server.url}/v1/messages").status_code == 404
    [entry] = server.journal.entries()
    assert entry.method == "GET" and entry.status == 404 and entry.error_type == "not_found_error"


async def test_async_server_exposes_journal_engine_and_set_scenario() -> None:
    async with AsyncMockServer() as srv:
        async with httpx2.AsyncClient() as client:
            r = await client.post(f"{srv.url}/v1/messages", json=msg(), headers=API)
            assert r.status_code == 200
        assert len(srv.journal) == 1
        srv.set_scenario("rate-limited")
        assert srv.state.scenario == "rate-limited"


def test_journal_exports_jsonl_and_ignores_non_integer_retry_counts(
    server: MockServer, tmp_path: Any
) -> None:
    post(server, msg(), **{"x-stainless-retry-count": "1_0"})
    post(server, msg(), **{"x-stainless-retry-count": "2"})
    path = tmp_path / "journal.jsonl"
    assert server.journal.write_jsonl(path) == 2
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["retry_count"] for r in rows] == [None, 2]
    assert rows[0]["headers"]["x-stainless-retry-count"] == "1_0"


def test_model_catalogue_can_be_replaced_from_a_file(tmp_path: Any) -> None:
    from mockserver import load_catalogue

    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - {id: tiny-model, display_name: Tiny, created_at: '2026-01-01T00:00:00Z', max_tokens: 16}\n"
        "  - {id: big-model, max_tokens: 1000, aliases: [big]}\n"
    )
    with MockServer(catalogue=load_catalogue(path)) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key=TEST_KEY, _strict_response_validation=True)
        assert [m.id for m in client.models.list()] == ["tiny-model", "big-model"]
        assert client.messages.create(model="big", max_tokens=20, messages=user()).model == "big"
        with pytest.raises(anthropic.BadRequestError, match="maximum allowed number of output tokens"):
            client.messages.create(model="tiny-model", max_tokens=17, messages=user())
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model=MODEL, max_tokens=5, messages=user())


def test_journal_is_streamed_in_chunks(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_export, "JOURNAL_CHUNK", 2)
    for i in range(5):
        post(server, msg(text=str(i)))
    url = f"{server.url}/_busysignal/journal"
    assert [e["seq"] for e in httpx2.get(url).json()["entries"]] == [0, 1, 2, 3, 4]
    lines = httpx2.get(url, params={"format": "jsonl"}).text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3, 4]
    assert httpx2.get(url, params={"format": "xml"}).status_code == 400
