"""The pytest plugin, exercised through pytester in throwaway projects."""

from __future__ import annotations

import pytest

from mockserver.web.server import MockServer

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider
"""

FAST_529 = "{'name': 'fast-529', 'description': 'every request 529, retry after 5 ms', 'rules': [{'fault': {'error': {'status': 529, 'retry_after_ms': 5}}}]}"  # noqa: E501


BASIC = """
def test_create(mock_api, anthropic_client):
    msg = anthropic_client.messages.create(
        model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content
    (entry,) = mock_api.entries()
    assert entry.status == 200 and entry.model == "claude-sonnet-5-5"
"""

MARKERS = f"""
import anthropic, pytest

@pytest.mark.busysignal(scenario={FAST_529})
def test_sdk_makes_three_attempts(mock_api, anthropic_client):
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{{"role": "user", "content": "hi"}}]
        )
    (trace,) = mock_api.logical_requests()
    assert [a.status for a in trace.attempts] == [529, 529, 529]
    assert [a.retry_count for a in trace.attempts] == [0, 1, 2]
    assert all(g >= 0.005 for g in trace.gaps)

def test_the_next_test_starts_clean_and_steady(mock_api, anthropic_client):
    assert mock_api.entries() == []
    anthropic_client.messages.create(
        model="claude-sonnet-5-5", max_tokens=8, messages=[{{"role": "user", "content": "hi"}}]
    )
    assert [e.status for e in mock_api.entries()] == [200]

@pytest.mark.busysignal(scenario="refuse.yaml")
def test_path(mock_api, anthropic_client):
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic_client.messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{{"role": "user", "content": "hi"}}]
        )
    mock_api.assert_no_forbidden_retries()

@pytest.mark.busysignal(scenario="major-outage", seed=3)
def test_builtin(mock_api, anthropic_client):
    client = anthropic_client.with_options(max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{{"role": "user", "content": "hi"}}]
        )
    assert info.value.status_code == 529
    assert mock_api.entries()[0].reason["rule"] == "outage"

@pytest.mark.busysignal(scenario="nowhere/missing.yaml")
def test_missing_file(mock_api):
    pass
"""

ASYNC = """
async def test_async(mock_api, async_anthropic_client):
    msg = await async_anthropic_client.messages.create(
        model="claude-haiku-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.model == "claude-haiku-5-5"
    assert [e.headers.get("x-stainless-lang") for e in mock_api.entries()] == ["python"]
"""

REPORT = f"""
import pytest

@pytest.mark.busysignal(scenario={FAST_529})
def test_fails(mock_api, anthropic_client):
    try:
        anthropic_client.messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{{"role": "user", "content": "hi"}}]
        )
    except Exception:
        pass
    assert False, "client gave up"
"""


def test_a_project_with_only_the_package_installed_gets_fixtures_markers_and_reports(
    pytester: pytest.Pytester,
) -> None:
    """No conftest: the plugin comes from the pytest11 entry point (a fresh interpreter)."""
    pytester.makeini(INI)
    pytester.makefile(
        ".yaml", refuse="name: refuse\ndescription: every request is refused\nrules:\n  - fault: 403\n"
    )
    pytester.makepyfile(test_basic=BASIC, test_markers=MARKERS, test_async=ASYNC, test_report=REPORT)
    assert not (pytester.path / "conftest.py").exists()
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=6, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*busysignal: scenario file not found: nowhere/missing.yaml*"])
    result.stdout.fnmatch_lines(
        [
            "*busysignal journal*",
            "3 requests, 1 logical requests",
            "logical request 1 (3 attempts, not answered) POST /v1/messages",
            "*seq*t (ms)*gap (ms)*status*fault*retry#*model / error*",
            "*529*http_error*0*claude-sonnet-5-5 / overloaded_error [[]rule-0[]]",
            "*529*http_error*1*claude-sonnet-5-5 / overloaded_error [[]rule-0[]]",
            "*529*http_error*2*claude-sonnet-5-5 / overloaded_error [[]rule-0[]]",
        ]
    )
    # passing tests carry no journal section
    assert result.stdout.str().count("busysignal journal") == 1


def test_command_line_scenario_and_seed_apply_to_unmarked_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import anthropic, pytest

        def test_unmarked(mock_api, anthropic_client):
            with pytest.raises(anthropic.APIStatusError):
                anthropic_client.with_options(max_retries=0).messages.create(
                    model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
                )
            (e,) = mock_api.entries()
            assert e.status == 529 and e.reason["seed"] == 41
        """
    )
    # in a subprocess: an in-process run drops the modules it first imported (the HTTP stack) from
    # sys.modules when it ends, and later tests would then meet exception classes of a second copy
    result = pytester.runpytest_subprocess("--busysignal-scenario", "major-outage", "--busysignal-seed", "41")
    result.assert_outcomes(passed=1)


def test_busysignal_url_drives_a_server_running_elsewhere(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import anthropic, pytest

        @pytest.mark.busysignal(scenario={"name": "r", "description": "d", "rules": [{"fault": 404}]})
        def test_remote(mock_api, anthropic_client):
            with pytest.raises(anthropic.NotFoundError):
                anthropic_client.messages.create(
                    model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
                )
            assert [e.status for e in mock_api.entries()] == [404]
        """
    )
    with MockServer() as remote:
        remote_seen_before = len(remote.journal.entries())
        result = pytester.runpytest_subprocess("--busysignal-url", remote.url)  # (see above)
        result.assert_outcomes(passed=1)
        statuses = [e.status for e in remote.journal.entries()]
    assert remote_seen_before == 0
    assert statuses == [404]


def test_each_xdist_worker_gets_its_own_server(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.parametrize("n", range(6))
        def test_isolated(n, mock_api, anthropic_client, busysignal_server, tmp_path_factory):
            anthropic_client.messages.create(
                model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": f"hi {n}"}]
            )
            assert len(mock_api.entries()) == 1
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            out = tmp_path_factory.getbasetemp().parent / f"url-{worker}"
            out.write_text(busysignal_server.url)
        """
    )
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=6)
    urls = {p.read_text() for p in pytester.path.parent.rglob("url-gw*")}
    assert len(urls) == 2
