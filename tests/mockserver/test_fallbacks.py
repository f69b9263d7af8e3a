"""Refusals and fallbacks on POST /v1/messages: the scenario's ``refusal`` fault (JSON and stream,
its ``stop_details``, a ``fallback_credit_token`` under the fallback-credit beta), the token's
redemption on a retry (``usage.fallback_credit``), and the SDK's own
``BetaRefusalFallbackMiddleware`` retrying a refused request on its fallback model."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.lib.middleware import BetaFallbackState, BetaRefusalFallbackMiddleware
from tests.support import TEST_KEY

from mockserver import MockServer

REFUSER = "claude-sonnet-4-6"
FALLBACK = "claude-opus-4-6"
HI: Any = [{"role": "user", "content": "hi"}]
CREDIT_BETA: Any = "fallback-credit-2026-07-01"
SCENARIO = {
    "name": "sonnet-refuses",
    "description": "one model declines every request; the others answer",
    "rules": [
        {
            "id": "refuse",
            "match": {"model": REFUSER},
            "fault": {"refusal": {"category": "cyber", "recommended_model": FALLBACK}},
        }
    ],
}


def _client(server: MockServer, *middleware: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url,
        api_key=TEST_KEY,
        max_retries=0,
        _strict_response_validation=True,
        middleware=list(middleware),
    )


@pytest.fixture()
def server() -> Any:
    with MockServer(scenario=SCENARIO) as srv:
        yield srv


def test_a_refusal_fault_answers_200_with_its_stop_details(server: MockServer) -> None:
    message = _client(server).beta.messages.create(model=REFUSER, max_tokens=16, messages=HI)
    assert message.stop_reason == "refusal" and message.content == []
    details = message.stop_details
    assert details is not None and details.type == "refusal"
    assert (details.category, details.recommended_model) == ("cyber", FALLBACK)
    assert details.fallback_credit_token is None  # no fallback-credit beta: no token
    plain = _client(server).messages.create(model=REFUSER, max_tokens=16, messages=HI)
    assert plain.stop_reason == "refusal" and plain.stop_details is not None
    assert [e.fault for e in server.journal.entries()] == ["refusal", "refusal"]


def test_a_streamed_refusal_ends_in_the_refusal_delta(server: MockServer) -> None:
    client = _client(server)
    with client.beta.messages.stream(
        model=REFUSER, max_tokens=16, messages=HI, betas=[CREDIT_BETA]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal" and final.stop_details is not None
    assert final.stop_details.fallback_credit_token


def test_the_credit_token_is_redeemed_on_another_model(server: MockServer) -> None:
    client = _client(server)
    refused = client.beta.messages.create(model=REFUSER, max_tokens=16, messages=HI, betas=[CREDIT_BETA])
    assert refused.stop_details is not None
    token = refused.stop_details.fallback_credit_token
    assert token
    retry = client.beta.messages.create(
        model=FALLBACK, max_tokens=16, messages=HI, betas=[CREDIT_BETA], fallback_credit_token=token
    )
    assert retry.usage.fallback_credit is not None
    assert retry.usage.fallback_credit.status.type == "redeemed"
    best_effort = client.beta.messages.create(
        model=FALLBACK,
        max_tokens=16,
        messages=HI,
        betas=[CREDIT_BETA],
        fallback_credit_token={"token": "fct_unknown", "mode": "best_effort"},
    )
    assert best_effort.usage.fallback_credit is not None
    status = best_effort.usage.fallback_credit.status
    assert status.type == "not_applied" and status.reason == "expired"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.messages.create(
            model=FALLBACK,
            max_tokens=16,
            messages=HI,
            betas=[CREDIT_BETA],
            fallback_credit_token="fct_unknown",
        )


def test_the_sdks_middleware_falls_back_when_the_model_refuses(server: MockServer) -> None:
    client = _client(server, BetaRefusalFallbackMiddleware([{"model": FALLBACK}]))
    state = BetaFallbackState()
    with state:
        message = client.beta.messages.create(model=REFUSER, max_tokens=16, messages=HI)
    assert state.index == 0
    assert message.model == FALLBACK and message.stop_reason != "refusal"
    seam = message.content[0]
    assert seam.type == "fallback" and seam.from_.model == REFUSER and seam.to.model == FALLBACK
    assert message.usage.fallback_credit is not None
    assert message.usage.fallback_credit.status.type == "redeemed"
    entries = server.journal.entries()
    assert [(e.model, e.status, e.fault) for e in entries] == [
        (REFUSER, 200, "refusal"),
        (FALLBACK, 200, None),
    ]


def test_the_sdks_middleware_splices_a_streamed_fallback(server: MockServer) -> None:
    client = _client(server, BetaRefusalFallbackMiddleware([{"model": FALLBACK}]))
    with (
        BetaFallbackState(),
        client.beta.messages.stream(model=REFUSER, max_tokens=16, messages=HI) as stream,
    ):
        final = stream.get_final_message()
    assert final.model == FALLBACK and final.stop_reason != "refusal"
    assert [b.type for b in final.content][:1] == ["fallback"]
    assert final.usage.iterations is not None
    assert [i.type for i in final.usage.iterations] == ["message", "fallback_message"]
    assert [e.model for e in server.journal.entries()] == [REFUSER, FALLBACK]


async def test_the_async_middleware_falls_back(server: MockServer) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=server.url,
        api_key=TEST_KEY,
        max_retries=0,
        _strict_response_validation=True,
        middleware=[BetaRefusalFallbackMiddleware([{"model": FALLBACK}])],
    )
    with BetaFallbackState():
        message = await client.beta.messages.create(model=REFUSER, max_tokens=16, messages=HI)
    assert message.model == FALLBACK and message.content[0].type == "fallback"
    await client.close()


def test_the_override_header_refuses_one_request(server: MockServer) -> None:
    message = _client(server).messages.create(
        model=FALLBACK,
        max_tokens=16,
        messages=HI,
        extra_headers={"x-busysignal-fault": "refusal;category=bio"},
    )
    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.category == "bio"


def test_a_malformed_credit_token_is_the_api_400(server: MockServer) -> None:
    bad: Any = {"token": "fct_x", "mode": "lenient"}
    with pytest.raises(anthropic.BadRequestError):
        _client(server).beta.messages.create(
            model=FALLBACK, max_tokens=16, messages=HI, betas=[CREDIT_BETA], fallback_credit_token=bad
        )
