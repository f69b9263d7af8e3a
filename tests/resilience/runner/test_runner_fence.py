"""The document runner is an application fenced off from the library it reuses: nothing in
``resilience`` outside ``resilience/runner/`` imports it, and the runner imports of ``resilience``
only the public names of its face (``resilience.__all__``), never a private module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import resilience

PACKAGE = Path(resilience.__file__).resolve().parent
RUNNER = PACKAGE / "runner"


def _package_of(path: Path) -> str:
    """The package a relative import in ``path`` (a file of ``resilience``) starts from."""
    parts = path.relative_to(PACKAGE.parent).parts[:-1]
    return ".".join(parts)


def _imports(path: Path, package: str | None = None) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, absolute module, names) for every import of ``path``; names is empty for ``import x``.
    A call ``importlib.import_module("x")`` with a literal counts as ``import x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path) if package is None else package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module, tuple(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, ()


def _is_runner(module: str, names: tuple[str, ...]) -> bool:
    return (
        module == "resilience.runner"
        or module.startswith("resilience.runner.")
        or (module == "resilience" and "runner" in names)
    )


def test_nothing_in_resilience_outside_the_runner_imports_it() -> None:
    library = [p for p in sorted(PACKAGE.rglob("*.py")) if RUNNER not in p.parents]
    assert len(library) > 10 and PACKAGE / "instrumentation" / "metrics.py" in library
    edges = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in library
        for line, module, names in _imports(path)
        if _is_runner(module, names)
    ]
    assert edges == []


def test_the_runner_imports_only_public_names_of_resilience() -> None:
    public = set(resilience.__all__)
    runner_files = sorted(RUNNER.rglob("*.py"))
    assert {p.name for p in runner_files} >= {"core.py", "via_local.py", "via_batches.py", "via_celery.py"}
    used: set[str] = set()
    private: list[str] = []
    for path in runner_files:
        for line, module, names in _imports(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if module == "resilience":
                used.update(names)
                private += [f"{where} imports resilience.{n} (not public)" for n in names if n not in public]
            elif module.startswith("resilience.") and not _is_runner(module, names):
                private.append(f"{where} imports the private module {module}")
    assert private == []
    # the library's one backoff formula, one AIMD and one retryable rule
    assert {"SdkBackoff", "AIMDLimit", "classify_status"} <= used


def test_the_check_sees_a_private_import_and_edges_into_the_runner(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib\n"
        "from resilience.backoff import envelope\n"
        "from resilience import runner\n"
        "from .runner.core import decide\n"
        "importlib.import_module('resilience.runner.store')\n"
    )
    found = [(module, names) for _, module, names in _imports(probe, package="resilience")]
    assert ("resilience.backoff", ("envelope",)) in found
    assert ("resilience.runner.core", ("decide",)) in found
    assert sum(_is_runner(module, names) for module, names in found) == 3
