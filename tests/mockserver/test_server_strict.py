"""The strict switch (``ServerConfig.strict``, on by default; ``busysignal serve --lenient`` turns it
off) and what it refuses as the real API does: unknown ``anthropic-beta`` values on every API
route, and the sampling parameters the newer models reject."""

from __future__ import annotations

import argparse
import io
import typing
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import MessageParam
from anthropic.types.anthropic_beta_param import AnthropicBetaParam
from tests.support import TEST_KEY, user

from mockserver import MockServer, ServerConfig
from mockserver.cli.serve import add_arguments, build_config
from mockserver.wire.betas import KNOWN_BETAS, check_betas, unknown_betas_message
from mockserver.wire.catalogue import CatalogueError, catalogue_from_data
from mockserver.wire.errors import ApiError

API = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": user()}
HI: list[MessageParam] = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def lenient() -> Iterator[MockServer]:
    with MockServer(strict=False) as srv:
        yield srv


def client(server: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
    )


def serve_config(*argv: str) -> ServerConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return build_config(parser.parse_args(list(argv)), io.StringIO())


# ---- the switch ---------------------------------------------------------------------------


def test_strict_is_the_default_and_lenient_turns_it_off() -> None:
    assert ServerConfig().strict is True
    assert serve_config().strict is True
    assert serve_config("--lenient").strict is False
    with MockServer(strict=False) as srv:
        assert srv.config.strict is False


# ---- anthropic-beta ---------------------------------------------------------------------------


def test_the_table_knows_every_beta_of_the_installed_sdk() -> None:
    """Fails when an SDK upgrade brings a beta name the table lacks (add it to wire/betas.py)."""
    (_, literal) = typing.get_args(AnthropicBetaParam)
    missing = sorted(set(typing.get_args(literal)) - KNOWN_BETAS)
    assert not missing, f"anthropic-beta values of the installed SDK missing from KNOWN_BETAS: {missing}"


def test_unknown_betas_are_named_in_order_each_once() -> None:
    with pytest.raises(ApiError) as caught:
        check_betas(["files-api-2025-04-14, nope-1", "zz-2,nope-1,", ""])
    assert caught.value.status == 400 and caught.value.error_type == "invalid_request_error"
    assert caught.value.message == unknown_betas_message(["nope-1", "zz-2"])
    assert caught.value.message == (
        "Unexpected value(s) `nope-1`, `zz-2` for the `anthropic-beta` header. Please consult our "
        "documentation at docs.anthropic.com or try again without the header."
    )
    check_betas([" files-api-2025-04-14 ,skills-2025-10-02", ""])  # known, spaced, empty: fine


def test_the_sdk_betas_pass_and_an_unknown_one_is_the_real_400(server: MockServer) -> None:
    sdk = client(server)
    message = sdk.beta.messages.create(
        model="claude-haiku-4-5",
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}],
        betas=["files-api-2025-04-14", "context-1m-2025-08-07"],
    )
    assert message.type == "message"
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk.beta.messages.create(
            model="claude-haiku-4-5",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            betas=["files-api-2025-04-14", "made-up-2099-01-01"],
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": unknown_betas_message(["made-up-2099-01-01"])},
        "request_id": caught.value.request_id,
    }


async def test_async_sdk_gets_the_same_400(server: MockServer) -> None:
    sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=TEST_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="Unexpected value"):
        await sdk.models.list(extra_headers={"anthropic-beta": "nope-2000-01-01"})
    await sdk.close()


def test_repeated_headers_are_all_read(server: MockServer) -> None:
    headers = httpx2.Headers(API)
    headers.update({"anthropic-beta": "files-api-2025-04-14"})
    raw = [*headers.raw, (b"anthropic-beta", b"skills-2025-10-02, nope-3")]
    response = httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=raw)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == unknown_betas_message(["nope-3"])
    good = [*headers.raw, (b"anthropic-beta", b"skills-2025-10-02")]
    assert httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=good).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-haiku-4-5"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/messages/batches"),
    ],
)
def test_every_api_route_checks_the_header(server: MockServer, method: str, path: str) -> None:
    headers = {**API, "anthropic-beta": "nope-4"}
    body = {"model": "claude-haiku-4-5", "messages": user()} if method == "POST" else None
    response = httpx2.request(method, f"{server.url}{path}", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": unknown_betas_message(["nope-4"]),
    }
    entry = server.journal.entries()[-1]
    assert entry.status == 400 and entry.error_type == "invalid_request_error"


def test_the_key_is_checked_before_the_betas(server: MockServer) -> None:
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "nope-5"}
    assert httpx2.post(f"{server.url}/v1/messages", json=BODY, headers=headers).status_code == 401


def test_lenient_lets_unknown_betas_through(lenient: MockServer) -> None:
    headers = {**API, "anthropic-beta": "nope-6"}
    assert httpx2.post(f"{lenient.url}/v1/messages", json=BODY, headers=headers).status_code == 200
    assert client(lenient).models.list(extra_headers={"anthropic-beta": "nope-6"}).data


# ---- sampling on the models that fix it ------------------------------------------------------


def test_the_catalogue_marks_the_models_after_opus_4_6() -> None:
    catalogue = ServerConfig().catalogue
    fixed = {m.id for m in catalogue.models if m.sampling_fixed}
    assert {"claude-opus-4-7", "claude-opus-4-8", "claude-opus-5", "claude-fable-5-2"} <= fixed
    assert not fixed & {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5-20251001"}
    loaded = catalogue_from_data({"models": [{"id": "m", "max_tokens": 10, "sampling_fixed": True}]})
    assert loaded.models[0].sampling_fixed is True
    with pytest.raises(CatalogueError, match="sampling_fixed"):
        catalogue_from_data({"models": [{"id": "m", "max_tokens": 10, "sampling_fixed": "yes"}]})


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"temperature": 0.5}, "temperature"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 0.9}, "top_p"),
        ({"top_k": 5}, "top_k"),
        ({"top_k": 0, "temperature": 1}, "top_k"),
    ],
)
def test_a_fixed_sampling_model_refuses_other_values(
    server: MockServer, extra: dict[str, float], name: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(server).messages.create(model="claude-opus-4-7", max_tokens=5, messages=HI, extra_body=extra)
    body: Any = caught.value.body
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": f"`{name}` is deprecated for this model.",
    }


def test_a_fixed_sampling_model_takes_the_values_it_fixes(server: MockServer) -> None:
    extra = {"temperature": 1, "top_p": 0.99, "top_k": None}
    ok = client(server).messages.create(model="claude-opus-5", max_tokens=5, messages=HI, extra_body=extra)
    assert ok.stop_reason in ("end_turn", "max_tokens")


def test_older_models_and_lenient_servers_take_any_sampling(server: MockServer, lenient: MockServer) -> None:
    extra = {"temperature": 0.2, "top_p": 0.5, "top_k": 40}
    assert (
        client(server)
        .messages.create(model="claude-opus-4-6", max_tokens=5, messages=HI, extra_body=extra)
        .content
    )
    assert (
        client(lenient)
        .messages.create(model="claude-opus-4-7", max_tokens=5, messages=HI, extra_body=extra)
        .content
    )


def test_a_batch_item_with_a_refused_temperature_is_errored(server: MockServer) -> None:
    sdk = client(server)
    params: Any = {"model": "claude-opus-4-8", "max_tokens": 5, "messages": HI, "temperature": 0.3}
    batch = sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
    (result,) = list(sdk.messages.batches.results(batch.id))
    assert result.result.type == "errored"
    assert result.result.error.error.message == "`temperature` is deprecated for this model."
