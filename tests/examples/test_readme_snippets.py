"""Every Python snippet of the project's Markdown pages runs as written.

A snippet is a fenced ``python`` block. One whose first line names a test file (``# test_x.py``)
is a pytest module: those run in a throwaway project through the installed pytest plugin (in
pytest-asyncio's strict mode, or, for one whose ``async def`` tests carry no marker, in auto mode
with the ``# pytest.ini`` block its page gives).
Any other snippet is a program: it runs in this process against a real mock on 127.0.0.1, with
``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY`` set as the README tells a user to set them. Either
kind fails on a ``RuntimeWarning`` too (the library warns when a snippet would mislead a user).
A snippet that cannot run is marked in the Markdown, on the line before its fence, with
``<!-- not-run: the reason -->``; a mark must give its reason."""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import pytest

from mockserver import MockServer

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
INI = re.compile(r"^```ini[ \t]*\n# pytest\.ini\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->\s*$")
TEST_FILE = re.compile(r"#\s*(test_\w+\.py)\s*$")


@dataclass(frozen=True)
class Snippet:
    page: str  # relative to the repository
    line: int  # of the opening fence
    code: str
    not_run: str | None  # the reason given by a not-run mark (may be empty: then it is an error)
    ini: str | None = None  # the page's ``# pytest.ini`` block, if it has one

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def test_file(self) -> str | None:
        match = TEST_FILE.match(self.code.split("\n", 1)[0])
        return match.group(1) if match else None

    @property
    def needs_auto_mode(self) -> bool:
        """An ``async def`` test without ``@pytest.mark.asyncio`` runs only in auto mode."""
        return re.search(r"(?<!@pytest\.mark\.asyncio\n)async def test_", self.code) is not None


def snippets_of(page: str, text: str) -> list[Snippet]:
    found = []
    ini = INI.search(text)
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = NOT_RUN.search(before)
        reason = mark.group(1).strip() if mark else None
        found.append(Snippet(page, line, match.group(1), reason, ini.group(1) if ini else None))
    return found


def pages() -> Iterator[Path]:
    """The Markdown pages of the repository (not those of virtual environments, caches or
    installed node modules, which are not walked at all)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        found += [Path(folder) / name for name in files if name.endswith(".md")]
    yield from sorted(found)


SNIPPETS = [s for p in pages() for s in snippets_of(p.relative_to(ROOT).as_posix(), p.read_text("utf-8"))]
PROGRAMS = [s for s in SNIPPETS if s.test_file is None and s.not_run is None]
TEST_MODULES = [s for s in SNIPPETS if s.test_file is not None and s.not_run is None]


def check_marks(snippets: list[Snippet]) -> None:
    bare = [s.id for s in snippets if s.not_run is not None and not s.not_run]
    assert not bare, f"not-run marks without a reason (write <!-- not-run: why -->): {bare}"


def run_program(snippet: Snippet) -> str:
    """Run a program snippet as ``python snippet.py`` would (``__name__ == "__main__"``); its
    output. Its errors propagate, with tracebacks that name the page and line."""
    out = io.StringIO()
    code = compile(snippet.code, snippet.id, "exec")
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # e.g. "retries stacked": the snippet misleads
            exec(code, namespace)
    finally:  # the SDK clients it made, closed as the end of its process would close them
        for value in namespace.values():
            sdk = getattr(value, "client", value)
            if isinstance(sdk, anthropic.Anthropic):
                sdk.close()
    return out.getvalue()


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def pointed_at_the_mock(mock: MockServer, monkeypatch: pytest.MonkeyPatch) -> MockServer:
    mock.reset()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme-example")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    return mock


def test_the_snippets_are_found_and_every_mark_has_a_reason() -> None:
    found = {s.page for s in SNIPPETS}
    assert {"README.md", "resilience/README.md", "mockserver/conformance/README.md"} <= found
    assert PROGRAMS and TEST_MODULES
    check_marks(SNIPPETS)
    names = [s.test_file for s in TEST_MODULES]
    assert len(names) == len(set(names)), f"two snippets claim one test file name: {names}"


@pytest.mark.parametrize("snippet", PROGRAMS, ids=lambda s: s.id)
def test_a_program_snippet_runs_against_the_mock(snippet: Snippet, pointed_at_the_mock: MockServer) -> None:
    run_program(snippet)
    statuses = [e.status for e in pointed_at_the_mock.journal.entries()]
    assert statuses and statuses[-1] == 200, f"{snippet.id} made no successful request: {statuses}"


def write_test_modules(pytester: pytest.Pytester, snippets: list[Snippet], mode: str) -> int:
    """The snippets as test files of a throwaway project in ``mode``; how many tests they hold.
    Auto mode is set by the page's own ``pytest.ini`` block, which must say so."""
    if mode == "auto":
        inis = {s.ini for s in snippets}
        assert len(inis) == 1, (
            f"auto-mode snippets need their page's pytest.ini block: {[s.id for s in snippets]}"
        )
        (ini,) = inis
        assert ini is not None and re.search(r"^asyncio_mode\s*=\s*auto$", ini, re.M), ini
        pytester.makeini(ini)
    else:
        pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    for snippet in snippets:
        assert snippet.test_file is not None
        pytester.makepyfile(**{snippet.test_file.removesuffix(".py"): snippet.code})
    return sum(len(re.findall(r"^(?:async )?def test_", s.code, re.M)) for s in snippets)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_test_module_snippets_pass(mode: str, pytester: pytest.Pytester) -> None:
    chosen = [s for s in TEST_MODULES if s.needs_auto_mode is (mode == "auto")]
    assert chosen, f"no snippet to run in {mode} mode"
    tests = write_test_modules(pytester, chosen, mode)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::RuntimeWarning")
    result.assert_outcomes(passed=tests)


BROKEN_PAGE = """\
```python
import anthropic
anthropic.Anthropic().messages.create(model="claude-sonnet-5-5")
```

```python
# test_broken.py
def test_one():
    assert 1 + 1 == 3
```
"""


def test_a_broken_snippet_fails(pointed_at_the_mock: MockServer, pytester: pytest.Pytester) -> None:
    """What the runners report for snippets that broke: the program's error is raised, the test
    module's failure counted, and a not-run mark with no reason refused."""
    program, module = snippets_of("BROKEN.md", BROKEN_PAGE)
    with pytest.raises(TypeError):  # the SDK wants max_tokens and messages
        run_program(program)
    tests = write_test_modules(pytester, [module], "strict")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:busysignal")
    result.assert_outcomes(failed=tests)
    unexplained = snippets_of("BROKEN.md", "<!-- not-run: -->\n" + BROKEN_PAGE)
    with pytest.raises(AssertionError, match=r"BROKEN\.md:2"):
        check_marks(unexplained)
    explained = snippets_of("OK.md", "<!-- not-run: needs a real key -->\n" + BROKEN_PAGE)
    assert explained[0].not_run == "needs a real key"
    check_marks(explained)
