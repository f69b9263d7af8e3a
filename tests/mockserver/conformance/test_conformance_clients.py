"""What the kit accepts as a client, and the reference clients' declared claims (no server)."""

from __future__ import annotations

import anthropic
import pytest

from mockserver.cli.verify import FactoryError, load_factory
from mockserver.clients import (
    FALLBACK_MODEL,
    PRIMARY_MODEL,
    article_recipe,
    article_recipe_fast,
    as_client_under_test,
    bundled_adaptive,
    bundled_static,
    fallback_loop,
    immediate_retry,
    no_retry,
    sdk_defaults,
    sdk_max_retries_5,
)
from mockserver.clients.names import CATALOGUE, STRATEGY_NAMES

URL = "http://127.0.0.1:9"


def test_a_plain_sdk_client_is_accepted_and_claims_max_retries_plus_one() -> None:
    sdk = anthropic.Anthropic(base_url=URL, api_key="k", max_retries=4)
    cut = as_client_under_test(sdk)
    assert cut.name == "Anthropic"
    assert cut.claimed_max_attempts == 5
    assert cut.models == (PRIMARY_MODEL,)
    cut.close()


def test_an_object_without_messages_create_is_refused_with_its_type() -> None:
    with pytest.raises(
        TypeError, match=r"must return a ClientUnderTest or an object with \.messages\.create, got int"
    ):
        as_client_under_test(42)


def test_reference_clients_declare_their_chain_and_claims() -> None:
    claims = {
        f.__name__: (c.claimed_max_attempts, c.models)
        for f in (
            no_retry,
            immediate_retry,
            sdk_defaults,
            sdk_max_retries_5,
            article_recipe,
            fallback_loop,
            bundled_static,
            bundled_adaptive,
        )
        for c in [f(URL)]
    }
    assert claims["no_retry"] == (1, (PRIMARY_MODEL,))
    assert claims["immediate_retry"] == (3, (PRIMARY_MODEL,))
    assert claims["sdk_defaults"] == (3, (PRIMARY_MODEL,))
    assert claims["sdk_max_retries_5"] == (6, (PRIMARY_MODEL,))
    assert claims["article_recipe"] == (5, (PRIMARY_MODEL,))
    assert claims["fallback_loop"] == (3, (PRIMARY_MODEL, FALLBACK_MODEL))
    assert claims["bundled_static"] == claims["bundled_adaptive"] == (4, (PRIMARY_MODEL, FALLBACK_MODEL))
    assert article_recipe_fast(URL).name == "article-recipe (waits ×0.1)"


def test_every_catalogue_name_is_the_name_its_client_reports_in_every_verb() -> None:
    from loadtests.strategies import STRATEGIES

    for entry in CATALOGUE:
        cut = load_factory(entry.name)(URL)
        assert cut.name == entry.name, entry
        cut.close()
    assert STRATEGIES == STRATEGY_NAMES
    assert {"no-retry", "sdk-defaults", "article-recipe", "bundled-adaptive"} <= set(STRATEGIES)
    assert load_factory("bundled-policy") is bundled_adaptive  # the name verify used to give it


def test_the_recipe_refuses_a_nonsense_time_scale() -> None:
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        article_recipe(URL, time_scale=0)


def test_load_factory_resolves_short_names_and_module_paths() -> None:
    assert load_factory("sdk-defaults") is sdk_defaults
    assert load_factory("mockserver.clients:fallback_loop") is fallback_loop
    with pytest.raises(FactoryError, match="or one of no-retry, immediate-retry, sdk-defaults"):
        load_factory("article-recipe-fast")
    with pytest.raises(FactoryError, match="cannot import module 'no_such_module'"):
        load_factory("no_such_module:f")
    with pytest.raises(FactoryError, match="is not callable"):
        load_factory("mockserver.clients:PRIMARY_MODEL")


def test_async_clients_are_driven_on_a_loop_of_their_own() -> None:
    from mockserver.conformance.runner import verify
    from resilience import AsyncResilientAnthropic, Policy

    def async_sdk(base_url: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=base_url, api_key="k")

    v = verify(async_sdk, only=["retry-after-ms", "mid-stream-error"])
    r = {x.number: x for x in v.results}
    assert v.client == "AsyncAnthropic" and v.claimed_max_attempts == 3
    assert r[2].verdict.value == "PASS"
    assert r[8].verdict.value == "FAIL"  # the async SDK does not retry a mid-stream error either

    def async_policy(base_url: str) -> AsyncResilientAnthropic:
        policy = Policy.default()
        policy.log_events = False
        return AsyncResilientAnthropic(base_url=base_url, api_key="k", policy=policy)

    v = verify(async_policy, only=["mid-stream-error", "dropped-connection"])
    assert v.claimed_max_attempts == 4  # read from the wrapper's policy, not its SDK's max_retries=0
    assert {x.number: x.verdict.value for x in v.results} == {7: "PASS", 8: "PASS"}
