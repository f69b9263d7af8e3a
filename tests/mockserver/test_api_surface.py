"""The mock serves every route of the installed SDK's API surface (the organization API aside),
and the TypeScript SDK the tests install calls the same surface.

The routes are read from the SDK's own resource modules (each method's ``self._get(...)``,
``self._post(...)``, ``self._get_api_list(...)``... call and its path), so an SDK upgrade that adds
a route fails here until the mock serves it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import anthropic
import pytest

from mockserver.app import create_app

Route = tuple[str, str]  # (method, path with every placeholder written "{}")

TS_RESOURCES = Path(__file__).parent / "ts" / "node_modules" / "@anthropic-ai" / "sdk" / "resources"
# ``this._client.get(path`/v1/files/${fileID}`, ...)`` as tsc compiles it, or a plain string
_TS_CALL = re.compile(
    r"_client\.(get|post|put|patch|delete|getAPIList)\((?:\(0, path_1\.path\) ?)?['`]([^'`]*)['`]"
)
_TS_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
_CALLS = {"_get": "GET", "_post": "POST", "_put": "PUT", "_patch": "PATCH", "_delete": "DELETE"}
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _shape(path: str) -> str:
    return _PLACEHOLDER.sub("{}", path)


def _path_of(node: ast.expr) -> str | None:
    """The literal path of a request call's first argument (a string or a ``path_template``)."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "path_template" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/"):
        return node.value
    return None


def _method_of(call: ast.Call) -> str:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if name != "_get_api_list":
        return _CALLS[name]
    for kw in call.keywords:  # a list answered to another method (e.g. a POST search)
        if kw.arg == "method" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value).upper()
    return "GET"


def sdk_routes() -> set[Route]:
    """Every (method, path) the installed SDK's resources call, the organization API aside."""
    root = Path(anthropic.__file__).parent / "resources"
    found: set[Route] = set()
    for module in sorted(root.rglob("*.py")):
        if "organization" in module.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            if node.func.attr not in (*_CALLS, "_get_api_list"):
                continue
            path = _path_of(node.args[0])
            if path is not None:  # (a batch's results are fetched at the URL the batch names)
                found.add((_method_of(node), _shape(path)))
    return found


def ts_routes() -> set[Route]:
    """Every (method, path) the TypeScript SDK's compiled resources call, organizations aside."""
    found: set[Route] = set()
    for module in sorted(TS_RESOURCES.rglob("*.js")):
        for call, path in _TS_CALL.findall(module.read_text(encoding="utf-8")):
            if not path.startswith("/v1/organizations"):
                method = "GET" if call == "getAPIList" else call.upper()
                found.add((method, _shape(_TS_PLACEHOLDER.sub("{}", path))))
    return found


def served_routes() -> set[Route]:
    """Every (method, path) the mock's route table answers (the catch-all aside)."""
    served: set[Route] = set()
    for resource in create_app().router.resources():
        path = resource.canonical
        if "{tail" in path:
            continue
        for route in resource:
            served.add((route.method, _shape(path)))
    return served


def test_the_sdk_surface_is_read_from_its_resources() -> None:
    routes = sdk_routes()
    # the ones the mock served before this inventory: a reader that finds nothing fails here
    assert {("POST", "/v1/messages"), ("GET", "/v1/models/{}"), ("GET", "/v1/files")} <= routes
    assert len(routes) >= 100
    assert not any(path.startswith("/v1/organizations") for _, path in routes)


def test_the_mock_serves_every_route_of_the_installed_sdk() -> None:
    missing = sorted(sdk_routes() - served_routes())
    assert not missing, f"the SDK calls routes the mock does not serve: {missing}"


def test_the_typescript_sdk_calls_the_same_surface() -> None:
    if not TS_RESOURCES.is_dir():
        pytest.skip("the TypeScript SDK is not installed (`make unit` runs npm ci in tests/mockserver/ts)")
    routes = ts_routes()
    assert ("POST", "/v1/messages") in routes and len(routes) >= 100
    assert routes == sdk_routes(), (
        f"TS only: {sorted(routes - sdk_routes())}; Python only: {sorted(sdk_routes() - routes)}"
    )


SCENARIOS_README = Path(__file__).parents[2] / "scenarios" / "README.md"


def documented_paths() -> set[str]:
    """The paths the table of the scenario language's path vocabulary (scenarios/README.md,
    "## Paths") lists."""
    text = SCENARIOS_README.read_text(encoding="utf-8")
    section = text.split("\n## Paths", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| "))
    return {_shape(p) for p in re.findall(r"`(/v1/[^`\s]*)`", rows)}


def test_the_path_vocabulary_lists_exactly_the_routes_served() -> None:
    served = {path for _, path in served_routes() if path.startswith("/v1/")}
    documented = documented_paths()
    assert not sorted(served - documented), (
        f"served, not in scenarios/README.md: {sorted(served - documented)}"
    )
    assert not sorted(documented - served), (
        f"in scenarios/README.md, not served: {sorted(documented - served)}"
    )
