"""Server-side fallbacks on POST /v1/messages (beta ``server-side-fallback-2026-07-01``): when the
requested model declines, the server tries the request's ``fallbacks`` in order, each hop judged
by the scenario as an attempt on its own model. The SDK's own types read the answer under strict
validation: the ``fallback`` blocks, the serving model, ``usage.iterations``; the chain's 400s;
a hop that is overloaded is skipped and named as the refusal's ``recommended_model``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from tests.support import TEST_KEY, error_message

from mockserver import MockServer
from mockserver.wire.catalogue import CatalogueError, catalogue_from_data

REFUSER = "claude-fable-5-2"  # allows claude-sonnet-5-5, then claude-opus-5-5
FIRST, SECOND = "claude-sonnet-5-5", "claude-opus-5-5"
NO_FALLBACKS = "claude-sonnet-4-6"  # allows none
BETA: Any = "server-side-fallback-2026-07-01"
HI: Any = [{"role": "user", "content": "hi"}]


def _refuse(model: str, category: str = "cyber") -> dict[str, Any]:
    return {"match": {"model": model}, "fault": {"refusal": {"category": category}}}


def _overload(model: str, **match: Any) -> dict[str, Any]:
    return {"match": {"model": model, **match}, "fault": {"error": {"status": 529}}}


def _scenario(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": "chain", "description": "models that decline or are overloaded", "rules": list(rules)}


def _client(server: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
    )


def _ask(server: MockServer, model: str = REFUSER, **params: Any) -> Any:
    params.setdefault("betas", [BETA])
    return _client(server).beta.messages.create(model=model, max_tokens=16, messages=HI, **params)


@pytest.fixture()
def refuser() -> Iterator[MockServer]:
    with MockServer(scenario=_scenario(_refuse(REFUSER))) as srv:
        yield srv


def test_the_next_model_serves_when_the_requested_one_declines(refuser: MockServer) -> None:
    message = _ask(refuser, fallbacks=[{"model": FIRST}, {"model": SECOND}])
    assert message.model == FIRST and message.stop_reason == "end_turn"
    seam, *rest = message.content
    assert seam.type == "fallback" and (seam.from_.model, seam.to.model) == (REFUSER, FIRST)
    assert seam.trigger.type == "refusal" and seam.trigger.category == "cyber"
    assert rest and all(block.type == "text" for block in rest)
    iterations = message.usage.iterations
    assert [(i.type, i.model) for i in iterations] == [("message", REFUSER), ("fallback_message", FIRST)]
    assert iterations[1].output_tokens == message.usage.output_tokens > 0
    (entry,) = refuser.journal.entries()  # one HTTP request: the hops are the server's own
    assert (entry.model, entry.status, entry.fault) == (REFUSER, 200, None)
    assert entry.reason["fault"] == "refusal"
    assert [hop["model"] for hop in entry.reason["fallbacks"]] == [FIRST]


def test_a_streamed_chain_is_what_the_sdk_accumulates(refuser: MockServer) -> None:
    client = _client(refuser)
    params: Any = {"model": REFUSER, "max_tokens": 16, "messages": HI, "betas": [BETA]}
    with client.beta.messages.stream(fallbacks=[{"model": FIRST}], **params) as stream:
        final = stream.get_final_message()
    assert final.model == FIRST and final.stop_reason == "end_turn"
    assert [b.type for b in final.content][:2] == ["fallback", "text"]
    assert final.usage.iterations is not None
    assert [i.type for i in final.usage.iterations] == ["message", "fallback_message"]


async def test_the_async_client_reads_a_chain(refuser: MockServer) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=refuser.url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
    )
    params: Any = {"model": REFUSER, "max_tokens": 16, "messages": HI, "betas": [BETA]}
    message = await client.beta.messages.create(fallbacks="default", **params)
    assert message.model == FIRST and message.content[0].type == "fallback"
    async with client.beta.messages.stream(fallbacks=[{"model": SECOND}], **params) as stream:
        final = await stream.get_final_message()
    assert final.model == SECOND
    await client.close()


def test_a_hop_that_declines_too_leaves_its_own_block() -> None:
    with MockServer(scenario=_scenario(_refuse(REFUSER), _refuse(FIRST, "bio"))) as server:
        message = _ask(server, fallbacks=[{"model": FIRST}, {"model": SECOND}])
    assert message.model == SECOND
    seams = [(b.from_.model, b.to.model, b.trigger.category) for b in message.content if b.type == "fallback"]
    assert seams == [(REFUSER, FIRST, "cyber"), (FIRST, SECOND, "bio")]
    kinds = [(i.type, i.model) for i in message.usage.iterations]
    assert kinds == [("message", REFUSER), ("message", FIRST), ("fallback_message", SECOND)]


def test_an_overloaded_hop_is_skipped_without_a_block() -> None:
    with MockServer(scenario=_scenario(_refuse(REFUSER), _overload(FIRST))) as server:
        message = _ask(server, fallbacks=[{"model": FIRST}, {"model": SECOND}])
        (entry,) = server.journal.entries()
    assert message.model == SECOND
    (seam,) = [b for b in message.content if b.type == "fallback"]
    assert (seam.from_.model, seam.to.model) == (REFUSER, SECOND)
    assert [i.model for i in message.usage.iterations] == [REFUSER, SECOND]
    assert [(hop["model"], hop.get("fault")) for hop in entry.reason["fallbacks"]] == [
        (FIRST, "529"),
        (SECOND, None),
    ]


def test_when_every_hop_is_overloaded_the_refusal_recommends_the_last() -> None:
    rules = (_refuse(REFUSER), _overload(FIRST), _overload(SECOND))
    with MockServer(scenario=_scenario(*rules)) as server:
        message = _ask(server, fallbacks=[{"model": FIRST}, {"model": SECOND}])
        client = _client(server)
        params: Any = {"model": REFUSER, "max_tokens": 16, "messages": HI, "betas": [BETA]}
        with client.beta.messages.stream(fallbacks=[{"model": SECOND}], **params) as stream:
            streamed = stream.get_final_message()
        (first, _) = server.journal.entries()
    assert message.model == REFUSER and message.stop_reason == "refusal" and message.content == []
    assert message.stop_details is not None and message.stop_details.recommended_model == SECOND
    assert [i.model for i in message.usage.iterations] == [REFUSER]
    assert streamed.stop_reason == "refusal" and streamed.stop_details is not None
    assert streamed.stop_details.recommended_model == SECOND
    assert first.fault == "refusal"


def test_fast_is_inherited_only_where_the_hop_has_fast_mode() -> None:
    # claude-opus-5-5 (fast mode) allows claude-sonnet-5 (none) and claude-opus-5 (fast mode)
    with MockServer(scenario=_scenario(_refuse(SECOND))) as server:
        to_fast = _ask(server, SECOND, speed="fast", fallbacks=[{"model": "claude-opus-5"}])
        to_standard = _ask(server, SECOND, speed="fast", fallbacks=[{"model": "claude-sonnet-5"}])
        own = _ask(server, SECOND, speed="fast", fallbacks=[{"model": "claude-opus-5", "speed": "standard"}])
    assert (to_fast.model, to_fast.usage.speed) == ("claude-opus-5", "fast")
    assert (to_standard.model, to_standard.usage.speed) == ("claude-sonnet-5", None)
    assert own.usage.speed == "standard"


def test_fast_capacity_overloaded_sends_the_chain_on() -> None:
    rules = (_refuse(SECOND), _overload("claude-opus-5", speed="fast"))
    with MockServer(scenario=_scenario(*rules)) as server:
        chain = [{"model": "claude-opus-5"}, {"model": "claude-sonnet-5"}]
        message = _ask(server, SECOND, speed="fast", fallbacks=chain)
    assert message.model == "claude-sonnet-5"


def test_default_is_the_models_own_chain_and_nothing_on_a_model_without_one() -> None:
    with MockServer(scenario=_scenario(_refuse(REFUSER), _refuse(NO_FALLBACKS))) as server:
        assert _ask(server, fallbacks="default").model == FIRST
        alone = _ask(server, NO_FALLBACKS, fallbacks="default")
    assert alone.stop_reason == "refusal" and alone.model == NO_FALLBACKS


def test_a_chain_nobody_needs_changes_nothing(refuser: MockServer) -> None:
    message = _ask(refuser, FIRST, fallbacks=[{"model": SECOND}])
    assert message.model == FIRST and message.usage.iterations is None
    assert all(block.type != "fallback" for block in message.content)


@pytest.mark.parametrize(
    ("model", "fallbacks", "betas", "message"),
    [
        (
            NO_FALLBACKS,
            [{"model": FIRST}],
            [BETA],
            f"fallbacks: model {NO_FALLBACKS} does not support fallbacks",
        ),
        (
            REFUSER,
            [{"model": "claude-haiku-4-5"}],
            [BETA],
            "fallbacks.0.model: 'claude-haiku-4-5' is not a fallback model for claude-fable-5-2 "
            "(allowed: claude-sonnet-5-5, claude-opus-5-5)",
        ),
        (
            REFUSER,
            [{"model": FIRST, "max_tokens": 200_000}],
            [BETA],
            "fallbacks.0.max_tokens: 200000 > 128000, which is the maximum allowed number of output "
            "tokens for claude-sonnet-5-5",
        ),
        (
            REFUSER,
            [{"model": FIRST, "speed": "fast"}],
            [BETA],
            "fallbacks.0.speed: `speed` is not supported for model claude-sonnet-5-5",
        ),
        (REFUSER, [{"model": FIRST}], [], f"fallbacks: the `fallbacks` parameter needs the `{BETA}` beta"),
    ],
)
def test_a_chain_the_api_refuses_is_its_400(
    refuser: MockServer, model: str, fallbacks: Any, betas: Any, message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        _ask(refuser, model, fallbacks=fallbacks, betas=betas)
    assert error_message(err) == message
    assert [e.status for e in refuser.journal.entries()] == [400]


def test_lenient_takes_a_chain_without_the_beta() -> None:
    with MockServer(scenario=_scenario(_refuse(REFUSER)), strict=False) as server:
        assert _ask(server, fallbacks=[{"model": FIRST}], betas=[]).model == FIRST


def test_a_catalogue_file_sets_each_models_fallbacks_and_fast_mode() -> None:
    loaded = catalogue_from_data(
        {
            "models": [
                {"id": "big", "max_tokens": 10, "allowed_fallback_models": ["small"], "fast_mode": True},
                {"id": "small", "max_tokens": 10, "fast_mode": True, "fast_mode_beta": True},
            ]
        },
        source="models.yaml",
    )
    big, small = loaded.models
    assert (big.fallback_models, big.fast_mode, big.fast_mode_beta) == (("small",), True, False)
    assert (small.fallback_models, small.fast_mode_beta) == ((), True)
    assert big.info()["allowed_fallback_models"] == ["small"]
    with pytest.raises(
        CatalogueError, match=r"models\.yaml: models\[0\]: allowed_fallback_models names 'gone'"
    ):
        catalogue_from_data(
            {"models": [{"id": "m", "max_tokens": 1, "allowed_fallback_models": ["gone"]}]},
            source="models.yaml",
        )
    with pytest.raises(CatalogueError, match="field 'fast_mode' must be true or false"):
        catalogue_from_data({"models": [{"id": "m", "max_tokens": 1, "fast_mode": "yes"}]})
    with pytest.raises(CatalogueError, match="allowed_fallback_models' must be a list"):
        catalogue_from_data({"models": [{"id": "m", "max_tokens": 1, "allowed_fallback_models": "small"}]})
