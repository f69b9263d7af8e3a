"""The Files API against the real SDK (GA ``client.files`` and beta ``client.beta.files``, sync
and async): real bytes round-trip, cursor paging, delete, the real 404s, the size limit and the
bounded store, ``file_id`` blocks in a message, a fault rule on the family, and reset."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import FileExpiredError, FileNotDownloadableError
from tests.support import TEST_KEY, strict_client

from mockserver import AsyncMockServer, MockServer
from mockserver.wire.errors import ApiError
from mockserver.wire.files import parse_upload

MODEL = "claude-opus-4-6"
PDF = b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n\x00\xff\x00--boundary\r\n\r\n1 0 obj<<>>endobj\r\n%%EOF"


def _document(file_id: str) -> list[Any]:
    block = {"type": "document", "source": {"type": "file", "file_id": file_id}}
    return [{"role": "user", "content": [block, {"type": "text", "text": "summarise"}]}]


# ---------------------------------------------------------------- the routes, GA and beta


def test_upload_metadata_download_list_delete_with_the_ga_client() -> None:
    with MockServer(wall_clock=lambda: 1_700_000_000.5) as server:
        client = strict_client(server)
        meta = client.files.upload(file=("notes/a.txt", b"hello", "text/plain"))
        assert meta.id.startswith("file_") and meta.type == "file"
        assert (meta.filename, meta.mime_type, meta.size_bytes) == ("a.txt", "text/plain", 5)
        assert meta.created_at.timestamp() == 1_700_000_000.5 and meta.expires_at is None
        assert meta.downloadable is True
        assert client.files.retrieve_metadata(meta.id) == meta
        download = client.files.download(meta.id)
        assert download.read() == b"hello" and download.headers["content-type"] == "text/plain"
        assert [f.id for f in client.files.list()] == [meta.id]
        deleted = client.files.delete(meta.id)
        assert (deleted.id, deleted.type) == (meta.id, "file_deleted")
        assert client.files.list().data == []


def test_unknown_or_deleted_ids_are_the_real_404_on_every_route() -> None:
    with MockServer() as server:
        client = strict_client(server)
        gone = client.files.upload(file=("a.txt", b"x", "text/plain")).id
        client.files.delete(gone)
        for call in (client.files.retrieve_metadata, client.files.download, client.files.delete):
            with pytest.raises(anthropic.NotFoundError) as err:
                call(gone)
            assert err.value.type == "not_found_error" and gone in str(err.value.api_message)
            assert err.value.error_code is None and err.value.details is None  # no code: no details
            assert "details" not in err.value.body["error"]  # type: ignore[index]


def test_binary_bytes_round_trip_exactly_with_the_beta_client() -> None:
    with MockServer() as server:
        client = strict_client(server)
        meta = client.beta.files.upload(
            file=("report.pdf", PDF), betas=["files-api-2025-04-14"], expires_in_seconds=3600
        )
        assert meta.mime_type == "application/pdf" and meta.size_bytes == len(PDF)  # guessed by name
        assert meta.expires_at is not None and meta.scope is None
        assert client.beta.files.download(meta.id).read() == PDF
        assert client.beta.files.retrieve_metadata(meta.id).id == meta.id
        assert [f.id for f in client.beta.files.list()] == [meta.id]
        assert client.beta.files.list(scope_id="sesn_1").data == []  # an upload has no scope
        assert client.beta.files.delete(meta.id).type == "file_deleted"
        [upload] = [e for e in server.journal.entries() if e.method == "POST"]
        assert upload.path == "/v1/files" and upload.status == 200


async def test_the_async_clients_do_the_same() -> None:
    async with AsyncMockServer() as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        ga = await client.files.upload(file=("a.bin", b"\x00\x01\x02", "application/octet-stream"))
        beta = await client.beta.files.upload(file=("b.json", b"{}", "application/json"))
        assert ga.mime_type == "application/octet-stream" and beta.mime_type == "application/json"
        assert await (await client.files.download(ga.id)).read() == b"\x00\x01\x02"
        assert await (await client.beta.files.download(beta.id)).read() == b"{}"
        assert [f.id async for f in client.files.list(limit=1)] == [beta.id, ga.id]
        assert (await client.beta.files.retrieve_metadata(ga.id)).size_bytes == 3
        assert (await client.files.delete(ga.id)).id == ga.id
        with pytest.raises(anthropic.NotFoundError):
            await client.beta.files.delete(ga.id)


# ---------------------------------------------------------------- listing


def test_the_list_is_newest_first_in_cursor_pages_and_by_ids() -> None:
    with MockServer() as server:
        client = strict_client(server)
        ids = [client.files.upload(file=(f"{i}.txt", b"x", "text/plain")).id for i in range(5)]
        first = client.files.list(limit=2)
        assert [f.id for f in first.data] == ids[:2:-1][:2] and first.next_page
        assert [f.id for f in client.files.list(limit=2)] == ids[::-1]  # the SDK walks every page
        named = client.files.list(ids=[ids[0], ids[3], "file_unknown"])
        assert [f.id for f in named.data] == [ids[3], ids[0]] and named.next_page is None
        with pytest.raises(anthropic.BadRequestError):
            client.files.list(ids=[ids[0]], limit=2)
        with pytest.raises(anthropic.BadRequestError):
            client.files.list(page="page_garbage")


# ---------------------------------------------------------------- limits and bad uploads


def test_a_file_over_the_configured_limit_is_the_413_and_is_not_kept() -> None:
    with MockServer(max_file_bytes=10) as server:
        client = strict_client(server)
        assert client.files.upload(file=("ok.txt", b"0123456789", "text/plain")).size_bytes == 10
        with pytest.raises(anthropic.ContentTooLargeError) as err:
            client.files.upload(file=("big.txt", b"0123456789a", "text/plain"))
        assert err.value.status_code == 413 and err.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
        assert [f.filename for f in client.files.list()] == ["ok.txt"]


def test_the_store_forgets_its_oldest_files_past_its_byte_cap() -> None:
    with MockServer(max_stored_file_bytes=10) as server:
        client = strict_client(server)
        old = client.files.upload(file=("old.txt", b"123456", "text/plain")).id
        new = client.files.upload(file=("new.txt", b"abcdef", "text/plain")).id
        assert [f.id for f in client.files.list()] == [new]
        with pytest.raises(anthropic.NotFoundError):
            client.files.download(old)


def test_a_body_without_a_file_part_or_not_multipart_is_a_clear_400() -> None:
    with MockServer() as server:
        headers = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
        url = f"{server.url}/v1/files"
        as_json = httpx2.post(url, json={"file": "x"}, headers=headers)
        no_file = httpx2.post(url, files={"other": ("a.txt", b"x")}, headers=headers)
        for resp in (as_json, no_file):
            assert resp.status_code == 400
            assert resp.json()["error"]["type"] == "invalid_request_error"
        assert "multipart/form-data" in as_json.json()["error"]["message"]
        assert no_file.json()["error"]["message"] == "file: Field required"
        with pytest.raises(anthropic.BadRequestError):
            strict_client(server).files.upload(file=("a.txt", b"x"), expires_in_seconds=60)


def test_the_multipart_parser_keeps_the_name_type_and_bytes() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="C:\\\\dir\\\\r.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\n7200\r\n--XyZ--\r\n'
    )
    upload = parse_upload('multipart/form-data; boundary="XyZ"', body)
    assert (upload.filename, upload.mime_type, upload.data) == ("r.pdf", "application/pdf", PDF)
    assert upload.expires_in_seconds == 7200
    unnamed = parse_upload(
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--',
    )
    assert unnamed.filename == "unnamed.txt" and unnamed.data == b"hi"
    with pytest.raises(ApiError):
        parse_upload("multipart/form-data; boundary=b", b"--b\r\nno end")


# ---------------------------------------------------------------- downloadable and expiry


def test_the_real_services_answers_for_an_upload_it_does_not_give_back_and_an_expired_one() -> None:
    with MockServer(files_downloadable=False) as server:
        client = strict_client(server)
        meta = client.files.upload(file=("a.txt", b"x", "text/plain"))
        assert meta.downloadable is False
        with pytest.raises(FileNotDownloadableError) as err:  # the SDK's class for (400, the code)
            client.files.download(meta.id)
        assert err.value.error_code == "file_not_downloadable"
        assert err.value.details is not None and err.value.details.error_code == "file_not_downloadable"
    now = [1_000_000.0]
    with MockServer(wall_clock=lambda: now[0]) as server:
        client = strict_client(server)
        meta = client.files.upload(file=("a.txt", b"x", "text/plain"), expires_in_seconds=3600)
        assert client.files.download(meta.id).read() == b"x"
        now[0] += 3600
        with pytest.raises(FileExpiredError) as expired:  # the SDK's class for (404, the code)
            client.files.download(meta.id)
        assert expired.value.error_code == "file_expired" and expired.value.type == "not_found_error"
        assert expired.value.request_id == expired.value.body["request_id"]  # type: ignore[index]
        assert client.files.retrieve_metadata(meta.id).id == meta.id  # the metadata stays


# ---------------------------------------------------------------- file ids in messages


def test_a_message_may_name_a_kept_file_and_an_unknown_one_is_the_400() -> None:
    with MockServer() as server:
        client = strict_client(server)
        known = client.files.upload(file=("r.pdf", PDF, "application/pdf")).id
        reply = client.messages.create(model=MODEL, max_tokens=5, messages=_document(known))
        assert reply.content
        assert client.messages.count_tokens(model=MODEL, messages=_document(known)).input_tokens > 0
        with pytest.raises(anthropic.BadRequestError) as err:
            client.messages.create(model=MODEL, max_tokens=5, messages=_document("file_unknown"))
        assert "file_unknown" in str(err.value.api_message)
        with pytest.raises(anthropic.BadRequestError, match="file_unknown"):
            client.messages.count_tokens(model=MODEL, messages=_document("file_unknown"))
        image: list[Any] = [
            {"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}
        ]
        with pytest.raises(anthropic.BadRequestError, match=r"messages\.0\.content\.0\.source\.file_id"):
            client.messages.create(model=MODEL, max_tokens=5, messages=image)


# ---------------------------------------------------------------- faults and reset


def test_a_rule_on_the_files_paths_is_retried_by_the_sdk_and_a_refusal_stores_nothing() -> None:
    scenario = {
        "name": "files-flaky",
        "description": "the first two file calls are refused",
        "rules": [
            {
                "match": {"path": "/v1/files*"},
                "trigger": {
                    "sequence": [
                        {"error": {"status": 529, "retry_after_ms": 1}},
                        {"error": {"status": 529, "retry_after_ms": 1}},
                        "ok",
                    ]
                },
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        meta = strict_client(server, 2).files.upload(file=("a.txt", b"x", "text/plain"))
        uploads = [e for e in server.journal.entries() if e.path == "/v1/files"]
        assert [e.status for e in uploads] == [529, 529, 200]
        assert [e.retry_count for e in uploads] == [0, 1, 2]
        assert len({e.logical_id for e in uploads}) == 1  # one logical request, retried
        assert [f.id for f in strict_client(server).files.list()] == [meta.id]  # refusals stored nothing
    always = {
        "name": "files-down",
        "description": "every file call is refused",
        "rules": [{"match": {"path": "/v1/files*"}, "fault": 529}],
    }
    with MockServer(scenario=always) as server:
        with pytest.raises(anthropic.OverloadedError):
            strict_client(server, 1).files.list()
        assert [e.retry_count for e in server.journal.entries()] == [0, 1]


def test_reset_forgets_every_file() -> None:
    with MockServer() as server:
        client = strict_client(server)
        meta = client.files.upload(file=("a.txt", b"x", "text/plain"))
        server.reset()
        assert client.files.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            client.files.download(meta.id)
