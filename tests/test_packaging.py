"""A clean install: the runtime dependencies alone run every `--help`, `serve`, `scenarios` and the
pytest plugin's fixtures; a verb that needs an extra names it, without a traceback.

The `packaging` tests build a virtual environment from a copy of the repository with
``pip install -c requirements/constraints.txt <copy>`` (no extras), a minute or two; they run in
`make test`. The others check, in this environment, what the command line imports and how the
extras are found.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

from mockserver import extras

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mockserver", "resilience", "scenarios", "loadtests")
VERBS = ("serve", "scenarios", "verify", "demo", "loadtest", "batch")
HELP = [[], *([v] for v in VERBS), ["scenarios", "list"], ["scenarios", "validate"], ["batch", "run"]]
HEADLINE_SCENARIOS = sorted(p.name for p in (ROOT / "loadtests" / "headline").glob("*.yaml"))
OPTIONAL = ("tenacity", "locust", "matplotlib", "redis", "celery", "pytest")  # none in a runtime install
INSTALL_TIMEOUT_S = 900.0  # pip on a saturated machine; a bound, not a speed judgement
RUN_TIMEOUT_S = 120.0

PLUGIN_TEST = """
import anthropic
import pytest

FAST_529 = {"name": "fast-529", "description": "529 then retry after 5 ms",
            "rules": [{"fault": {"error": {"status": 529, "retry_after_ms": 5}}}]}

def test_the_fixtures_answer(mock_api, anthropic_client):
    msg = anthropic_client.messages.create(
        model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content
    assert [e.status for e in mock_api.entries()] == [200]

@pytest.mark.busysignal(scenario=FAST_529)
def test_the_assert_helpers_judge(mock_api, anthropic_client):
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.messages.create(
            model="claude-sonnet-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    (trace,) = mock_api.logical_requests()
    assert [a.status for a in trace.attempts] == [529, 529, 529]
    mock_api.assert_honours_retry_after(required_wait_s=0.005)
"""


def _run(
    cmd: list[str], *, cwd: Path, timeout: float = RUN_TIMEOUT_S, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh virtual environment holding busysignal and its runtime dependencies,
    built once per session: xdist workers share it (the first one builds it, under a lock)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's folder, above the workers' own
    base = shared / "runtime-install"
    with (shared / "runtime-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "complete").exists():
            shutil.rmtree(base, ignore_errors=True)
            _build_runtime_venv(base)
            (base / "complete").touch()
    return base / "venv" / "bin"


def _build_runtime_venv(base: Path) -> None:
    src = base / "src"  # a copy: an in-tree build would leave build/ and *.egg-info in the repository
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=RUN_TIMEOUT_S)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    constraints = str(ROOT / "requirements" / "constraints.txt")
    done = _run([*pip, "-c", constraints, str(src)], cwd=base, timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.packaging
def test_a_runtime_install_has_no_optional_dependency_and_every_help_works(runtime_venv: Path) -> None:
    probe = f"import importlib.util as u; print([m for m in {OPTIONAL!r} if u.find_spec(m)])"
    found = _run([str(runtime_venv / "python"), "-c", probe], cwd=runtime_venv)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
    for args in HELP:
        done = _run([str(runtime_venv / "busysignal"), *args, "--help"], cwd=runtime_venv)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr[-2000:])
        assert done.stdout.startswith("usage: busysignal"), (args, done.stdout[:200])
    listing = _run([str(runtime_venv / "busysignal"), "--help"], cwd=runtime_venv).stdout
    assert all(f"    {verb}" in listing for verb in VERBS), listing
    scenarios = _run([str(runtime_venv / "busysignal"), "scenarios", "list"], cwd=runtime_venv)
    assert scenarios.returncode == 0 and "major-outage" in scenarios.stdout, scenarios.stderr
    headline = (  # the headline experiment's scenarios ship as package data
        "import importlib.util, pathlib; spec = importlib.util.find_spec('loadtests.headline'); "
        "print(sorted(p.name for p in pathlib.Path(*spec.submodule_search_locations).glob('*.yaml')))"
    )
    shipped = _run([str(runtime_venv / "python"), "-c", headline], cwd=runtime_venv)
    assert len(HEADLINE_SCENARIOS) == 3 and shipped.stdout.strip() == str(HEADLINE_SCENARIOS), shipped.stderr


@pytest.mark.packaging
def test_a_runtime_install_serves_and_stops_on_ctrl_c(runtime_venv: Path) -> None:
    proc = subprocess.Popen(
        [str(runtime_venv / "busysignal"), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("busysignal mock listening on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{url}/_busysignal/health", timeout=30) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 130 and "Traceback" not in err, err


@pytest.mark.packaging
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["loadtest", "--strategy", "no-retry", "--rate", "1", "--duration", "1"], "load"),
        (["demo", "--quick"], "demo"),
        (["verify", "--client", "article-recipe"], "demo"),
        (["batch", "run", "in.jsonl", "--out", "out.jsonl", "--via", "celery"], "redis"),
    ],
)
def test_a_verb_that_needs_an_extra_names_it(
    runtime_venv: Path, tmp_path: Path, args: list[str], extra: str
) -> None:
    done = _run([str(runtime_venv / "busysignal"), *args], cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"pip install 'busysignal[{extra}]'" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # named before anything ran: no report folder, no out/


@pytest.mark.packaging
def test_the_pytest_plugin_fixtures_work_on_a_runtime_install(runtime_venv: Path, tmp_path: Path) -> None:
    # pytest goes beside the environment (--target), which stays runtime-only for the other tests
    site = tmp_path / "pytest-site"
    constraints = str(ROOT / "requirements" / "constraints.txt")
    pip = [str(runtime_venv / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    installed = _run(
        [*pip, "-c", constraints, "--target", str(site), "pytest"], cwd=tmp_path, timeout=INSTALL_TIMEOUT_S
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "test_tiny.py").write_text(PLUGIN_TEST)
    pytest_cmd = [str(runtime_venv / "python"), "-m", "pytest", "-q", "test_tiny.py"]
    done = _run(pytest_cmd, cwd=project, pythonpath=site)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


# --- in this environment: what the command line imports, and how extras are found -----------------


def test_building_the_parser_imports_neither_the_sdk_nor_any_optional_dependency() -> None:
    heavy = ("anthropic", "aiohttp", "pydantic", "yaml", "httpx2", *OPTIONAL[:-1], "gevent")
    code = (
        "import sys, mockserver.cli; mockserver.cli.build_parser(); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_verb_is_registered_by_its_own_package_through_the_entry_point_group() -> None:
    from mockserver.cli import GROUP, build_parser, registrars

    assert [ep.name for ep in registrars()] == sorted(VERBS)
    assert {ep.value.split(".")[0] for ep in metadata.entry_points(group=GROUP)} == set(PACKAGES)
    listing = build_parser().format_help()
    assert all(f"    {verb}" in listing for verb in VERBS), listing


def test_a_checkout_whose_installed_metadata_predates_the_group_reads_it_from_pyproject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mockserver.cli

    installed = [(ep.name, ep.value) for ep in mockserver.cli.registrars()]
    monkeypatch.setattr(mockserver.cli, "entry_points", lambda group: [])
    assert [(ep.name, ep.value) for ep in mockserver.cli.registrars()] == installed


def test_the_smallest_extra_that_brings_a_module_is_named() -> None:
    found = extras.parse_extras(
        [
            "aiohttp>=3.9",
            'locust>=2.20; extra == "load"',
            'matplotlib>=3.7; extra == "load"',
            'tenacity>=8; extra == "load"',
            'matplotlib>=3.7; extra == "report"',
            'matplotlib>=3.7; extra == "demo"',
            'tenacity>=8; extra == "demo"',
            'Redis>=5.0; extra == "redis"',
        ]
    )
    assert found["report"] == {"matplotlib"} and found["redis"] == {"redis"}
    assert extras.extra_providing(["matplotlib"], found) == "report"
    assert extras.extra_providing(["tenacity", "matplotlib"], found) == "demo"
    assert extras.extra_providing(["locust", "matplotlib.pyplot"], found) == "load"
    assert extras.extra_providing(["yaml"], found) is None  # a runtime dependency: no extra brings it
    message = extras.missing_message(extras.MissingModules(["locust"]), found)
    assert message is not None and "pip install 'busysignal[load]'" in message
    assert extras.missing_message(ModuleNotFoundError("x", name="numpy"), found) is None


def test_the_installed_extras_are_those_of_pyproject() -> None:
    installed = extras.installed_extras()
    assert installed["load"] >= {"locust", "matplotlib", "tenacity"}
    assert installed["demo"] == {"matplotlib", "tenacity"}


def test_require_names_every_missing_module_without_importing_any() -> None:
    with pytest.raises(extras.MissingModules) as caught:
        extras.require("json", "no_such_module_a", "no_such_module_b")
    assert caught.value.names == ("no_such_module_a", "no_such_module_b")
    assert caught.value.name == "no_such_module_a"


@pytest.mark.parametrize("package", ["resilience", "mockserver.clients"])
def test_every_public_name_of_a_lazy_package_resolves(package: str) -> None:
    code = f"import {package} as p; print(sorted(n for n in p.__all__ if getattr(p, n, None) is None))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
