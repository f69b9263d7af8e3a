"""The size rules of the house (DESIGN.md, "Conventions"), measured on the product code.

- no file over 500 lines;
- no function over 60 lines of code (blank lines, comments and the docstring do not count, nor do
  the lines of an argument parser's ``add_argument``/``add_parser`` declarations);
- nothing says it is a "written out" copy of a helper (a fast path is a property of one function);
- a cross-package import inside a function is a hidden edge that ``lint-imports`` cannot see the
  way a reader does: only a verb's module (a ``busysignal.commands`` entry point or a ``cli``
  module) may defer one, so that ``busysignal --help`` stays fast and needs no extra.

The import-direction rules themselves are import-linter contracts (``.importlinter``).
``KNOWN_OVER`` lists what still breaks a size rule, each with its reason; a listed entry that no
longer breaks the rule fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scenarios", "mockserver", "resilience", "loadtests")
MAX_FILE_LINES = 500
MAX_FUNCTION_CODE_LINES = 60
PARSER_CALLS = frozenset(
    {"add_argument", "add_parser", "add_argument_group", "add_mutually_exclusive_group", "set_defaults"}
)

# What still breaks a rule, each entry with its reason; empty when the house is in order.
# "path:function" or "path" for the sizes, a path for "written out", "path imports name" for a
# hidden import.
KNOWN_OVER: dict[str, str] = {}
KNOWN_WRITTEN_OUT: dict[str, str] = {}
KNOWN_HIDDEN: dict[str, str] = {
    "mockserver/clients/bundled.py imports resilience": "the catalogue defers the library for verify",
}


def product_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _code_lines(source_lines: list[str], start: int, end: int, skip: set[int]) -> int:
    count = 0
    for number in range(start, end + 1):
        text = source_lines[number - 1].strip()
        if text and not text.startswith("#") and number not in skip:
            count += 1
    return count


def _skipped_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    """Docstring lines and argument-parser declaration lines of one function."""
    skip: set[int] = set()
    body = function.body
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        skip.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    for node in ast.walk(function):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr in PARSER_CALLS:
                skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return skip


def long_functions(path: Path) -> Iterator[tuple[str, int]]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # the def line and decorators aside: the body's code
            end = node.end_lineno or node.body[-1].lineno
            size = _code_lines(lines, node.body[0].lineno, end, _skipped_lines(node))
            if size > MAX_FUNCTION_CODE_LINES:
                yield node.name, size


def verb_modules() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    commands = meta["project"]["entry-points"]["busysignal.commands"]
    return {target.split(":")[0] for target in commands.values()}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def deferred_cross_imports(path: Path, own: str) -> Iterator[tuple[int, str]]:
    """Imports of another project package made inside a function of ``path`` (package ``own``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names, line = [alias.name for alias in node.names], node.lineno
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names, line = [node.module], node.lineno
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != own:
                    yield line, name


def is_verb(path: Path, verbs: set[str]) -> bool:
    name = module_name(path)
    return name in verbs or "cli" in name.split(".")


def test_no_file_is_over_500_lines() -> None:
    over = {
        relative(p): n
        for p in product_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    unexpected = {k: v for k, v in over.items() if k not in KNOWN_OVER}
    assert not unexpected, f"files over {MAX_FILE_LINES} lines: {unexpected}"
    stale = [k for k in KNOWN_OVER if ":" not in k and k not in over]
    assert not stale, f"KNOWN_OVER lists files that are now within the rule (remove them): {stale}"


def test_no_function_is_over_60_lines_of_code() -> None:
    over = {f"{relative(p)}:{name}": n for p in product_files() for name, n in long_functions(p)}
    unexpected = {k: v for k, v in over.items() if k not in KNOWN_OVER}
    assert not unexpected, f"functions over {MAX_FUNCTION_CODE_LINES} lines of code: {unexpected}"
    stale = [k for k in KNOWN_OVER if ":" in k and k not in over]
    assert not stale, f"KNOWN_OVER lists functions that are now within the rule (remove them): {stale}"


def test_no_code_is_a_written_out_copy() -> None:
    hits = {relative(p) for p in product_files() if "written out" in p.read_text(encoding="utf-8").lower()}
    unexpected = sorted(hits - set(KNOWN_WRITTEN_OUT))
    assert not unexpected, (
        f"'written out' copies (make the fast path a property of one function): {unexpected}"
    )
    stale = sorted(set(KNOWN_WRITTEN_OUT) - hits)
    assert not stale, f"KNOWN_WRITTEN_OUT lists files that no longer say it (remove them): {stale}"


def test_only_verbs_defer_cross_package_imports() -> None:
    verbs = verb_modules()
    hidden = {
        f"{relative(p)} imports {name}"
        for p in product_files()
        if not is_verb(p, verbs)
        for _line, name in deferred_cross_imports(p, relative(p).split("/")[0])
    }
    unexpected = sorted(hidden - set(KNOWN_HIDDEN))
    assert not unexpected, f"cross-package imports hidden inside functions: {unexpected}"
    stale = sorted(set(KNOWN_HIDDEN) - hidden)
    assert not stale, f"KNOWN_HIDDEN lists imports that are gone (remove them): {stale}"


def test_the_measures_can_fail(tmp_path: Path) -> None:
    """The rules above judge real code: a long function, a deferred import and a copy are caught."""
    sample = tmp_path / "sample.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    source = f'def long():\n    """Doc."""\n{body}\n\ndef short():\n    return 1\n'
    sample.write_text(source, encoding="utf-8")
    assert list(long_functions(sample)) == [("long", 61)]
    parser = "\n".join(f"    parser.add_argument('--x{i}')" for i in range(70))
    sample.write_text(f"def build(parser):\n{parser}\n    return parser\n", encoding="utf-8")
    assert list(long_functions(sample)) == []
    sample.write_text("import resilience\n\ndef late():\n    from mockserver import app\n", encoding="utf-8")
    assert list(deferred_cross_imports(sample, "resilience")) == [(4, "mockserver")]
    assert list(deferred_cross_imports(sample, "mockserver")) == []


TOP_LEVEL_TESTS = frozenset({"test_house_rules.py", "test_packaging.py"})


def test_tests_live_in_one_folder_per_package() -> None:
    """Tests sit next to the behaviour they pin down: only the two repo-wide checks are at the top
    of tests/, and no test module imports ``conftest`` (shared helpers are in tests/support.py)."""
    tests = ROOT / "tests"
    top = sorted(p.name for p in tests.glob("test_*.py") if p.name not in TOP_LEVEL_TESTS)
    assert not top, f"tests at the top of tests/ (move them into the package's folder): {top}"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders >= {"mockserver", "scenarios", "resilience", "loadtests", "e2e"}
    from_conftest = sorted(
        str(p.relative_to(ROOT))
        for p in tests.rglob("test_*.py")
        if p != Path(__file__).resolve() and "from conftest import" in p.read_text(encoding="utf-8")
    )
    assert not from_conftest, f"import helpers from tests.support, not conftest: {from_conftest}"
