"""Every one of the eight checks, on real mock servers: a reference client that must fail it and
one that must pass it (a check that no client can fail is a defect). Each client runs only the
probes its checks need; one verification per client serves several checks."""

from __future__ import annotations

import dataclasses
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from mockserver.cli import main
from mockserver.clients import (
    ClientUnderTest,
    article_recipe,
    article_recipe_fast,
    bundled_adaptive,
    fallback_loop,
    immediate_retry,
    no_retry,
    sdk_defaults,
)
from mockserver.conformance import RetryAfterCase, Verdict
from mockserver.conformance.checks import check_honours_retry_after
from mockserver.conformance.probes import Probe, probes, scenario, scripted
from mockserver.conformance.runner import ClientFactory, judge, run_probe, verify
from mockserver.conformance.verdicts import CheckResult

Results = dict[int, CheckResult]
PASS, FAIL, NA = Verdict.PASS, Verdict.FAIL, Verdict.NOT_APPLICABLE


def _verify(factory: ClientFactory, *only: str) -> Results:
    return {r.number: r for r in verify(factory, only=list(only)).results}


@pytest.fixture(scope="module")
def sdk() -> Results:
    return _verify(
        sdk_defaults, "backoff", "retry-after-ms", "retry-after", "burst", "outage", "refusal-400",
        "refusal-spend-limit", "fallback", "mid-stream-error",
    )  # fmt: skip


@pytest.fixture(scope="module")
def never() -> Results:
    return _verify(
        no_retry, "backoff", "retry-after-ms", "retry-after", "burst", "outage", "mid-stream-error"
    )


@pytest.fixture(scope="module")
def recipe() -> Results:
    # the recipe's waits ×0.1 keep the test short. Scaled, its tenacity wait (0.4 s) falls below
    # the SDK's (0.5 s, 1 s), so its waits do not grow; at full scale (4 s) they do, and the demo
    # judges it so. Attempts and spread are the same at either scale.
    return _verify(article_recipe_fast, "backoff", "refusal-400", "outage")


@pytest.fixture(scope="module")
def recipe_full() -> Results:
    # at full scale its fixed 4 s wait dwarfs a busy machine's scheduling noise, which at 0.4 s
    # could pass for a spread of 5 %
    return _verify(article_recipe, "burst")


@pytest.fixture(scope="module")
def bundled() -> Results:
    return _verify(
        bundled_adaptive, "fallback", "refusal-400", "mid-stream-error", "dropped-connection",
        "dropped-stream",
    )  # fmt: skip


def test_1_backs_off(sdk: Results, recipe: Results, never: Results) -> None:
    assert sdk[1].verdict is PASS, sdk[1]
    assert recipe[1].verdict is FAIL and "waits grew only" in recipe[1].explanation, recipe[1]
    assert never[1].verdict is FAIL and never[1].measured == "8 calls lost without a retry"


def test_2_honours_retry_after(sdk: Results, never: Results) -> None:
    assert sdk[2].verdict is PASS, sdk[2]
    assert never[2].verdict is FAIL and "were never retried" in never[2].explanation
    # A client that retries at once: the server asks for 30 s, far more than any machine's
    # delay could add to an immediate retry (the kit's own probes ask 250 ms and 1 s).
    asks_30_s = Probe(
        "retry-after-30",
        (2,),
        scenario("probe-retry-after-30", "one 429 asking for 30 s", scripted([_429_for(30), "ok"])),
        calls=2,
    )
    run = run_probe(immediate_retry, asks_30_s)
    r = check_honours_retry_after([RetryAfterCase("retry-after 30", run.entries, 30.0)])
    assert r.verdict is FAIL and "though the server asked for 30.00 s" in r.explanation, r


def _429_for(seconds: int) -> dict[str, Any]:
    return {"error": {"status": 429, "retry_after_s": seconds}}


def test_3_jitters(sdk: Results, recipe_full: Results, never: Results) -> None:
    assert sdk[3].verdict is PASS, sdk[3]
    assert recipe_full[3].verdict is FAIL and "no jitter at this step" in recipe_full[3].explanation
    assert never[3].verdict is FAIL and never[3].measured == "12 calls lost without a retry"


def test_4_caps(sdk: Results, never: Results, recipe: Results) -> None:
    assert sdk[4].verdict is PASS and never[4].verdict is PASS
    assert recipe[4].verdict is FAIL and "15 attempts (cap 10)" in recipe[4].explanation


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # lets the patient client's threads end


def test_4_caps_fails_a_client_that_never_gives_up_but_waits_long(stop: threading.Event) -> None:
    """Its journal shows one attempt per call, well within the caps: only the calls still running
    when the kit stopped waiting tell. The kit waits 3 s here, the client 30 s between attempts."""

    def patient(base_url: str) -> ClientUnderTest:
        sdk = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)

        def create(**params: Any) -> Any:
            while True:
                try:
                    return sdk.messages.create(**params)
                except anthropic.APIStatusError:
                    if stop.wait(30.0):
                        raise

        return ClientUnderTest("never-gives-up", create, create, close=sdk.close)

    outage = next(p for p in probes("claude-opus-5-5") if p.name == "outage")
    run = run_probe(patient, dataclasses.replace(outage, timeout_s=None), timeout_s=3.0)
    assert run.unfinished == 2 and len(run.entries) == 2
    r = {x.number: x for x in judge({"outage": run}, chain=["claude-opus-5-5"], claimed_max_attempts=None)}
    assert r[4].verdict is FAIL
    assert "2 calls had not returned when the kit stopped waiting after 3.00 s" in r[4].explanation


def test_5_no_forbidden_retries(sdk: Results, recipe: Results) -> None:
    assert sdk[5].verdict is PASS, sdk[5]
    assert recipe[5].verdict is FAIL and recipe[5].measured == "retried 400 ×4"


def test_6_fallback(bundled: Results, sdk: Results) -> None:
    assert bundled[6].verdict is PASS, bundled[6]
    loop = _verify(fallback_loop, "refusal-400", "fallback")
    assert loop[6].verdict is FAIL and "after a caller error (400)" in loop[6].explanation
    assert loop[5].verdict is PASS  # it does not *retry* the 400 on the same model
    assert sdk[6].verdict is NA  # a single-model client has no fallback: n/a is honest here


def test_7_no_stacking(sdk: Results, recipe: Results) -> None:
    assert sdk[7].verdict is PASS, sdk[7]
    assert recipe[7].verdict is FAIL
    assert "5 outer × 3 SDK attempts" in recipe[7].measured and "claimed 5" in recipe[7].measured


def test_8_survives(bundled: Results, sdk: Results, never: Results) -> None:
    assert bundled[8].verdict is PASS, bundled[8]
    assert sdk[8].verdict is FAIL and "200+stream_error_event" in sdk[8].explanation
    assert never[8].verdict is FAIL


FACTORY_MODULE = """
import anthropic


class _Messages:
    def create(self, **params):
        raise ValueError("no prompt template for " + params["model"])


class Broken:
    messages = _Messages()


def broken(base_url):
    return Broken()


def bare(base_url):
    return anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
"""


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A factory module in a folder that is the current one and not on sys.path (as for the
    console script, whose sys.path[0] is its own folder)."""
    (tmp_path / "bsv_factories.py").write_text(FACTORY_MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "bsv_factories", raising=False)
    return tmp_path


def test_a_client_that_raises_on_every_call_fails_every_check_and_names_its_line(
    factory_module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "--client", "bsv_factories:broken", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert re.search(r"^score +0/8 judged, 0 n/a$", out, re.M), out
    assert out.count("[FAIL]") == 8
    where = f"{factory_module / 'bsv_factories.py'}:7 in create"
    assert f"ValueError: no prompt template for claude-opus-5-5 (at {where}" in out
    assert "no attempt reached the mock in probe backoff" in out


def test_a_client_without_retries_fails_the_overload_checks(
    factory_module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probes_ = ["backoff", "retry-after-ms", "burst", "outage"]
    code = main(["verify", "--client", "bsv_factories:bare", "--quiet", *(f"--probe={p}" for p in probes_)])
    out = capsys.readouterr().out
    assert code == 1
    # backs off, retry-after and jitter fail; caps and stacking pass
    assert re.search(r"^score +2/5 judged, 0 n/a$", out, re.M), out
    assert out.count("calls lost without a retry") == 3
