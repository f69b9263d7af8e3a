"""Every API route goes through the one request lifecycle; only the control plane has its own guard."""

from __future__ import annotations

from aiohttp import web

from mockserver import ServerConfig, create_app
from mockserver.web.lifecycle import Exchange, lifecycle
from mockserver.web.state import STATE
from mockserver.wire import paths


async def _work(exchange: Exchange, raw: bytes) -> web.StreamResponse:
    return web.Response()


def test_every_api_route_is_a_handler_of_the_one_lifecycle() -> None:
    app = create_app(ServerConfig())
    the_lifecycle = lifecycle("probe", _work)(app[STATE]).__code__
    api, control = [], []
    for route in app.router.routes():
        assert route.resource is not None
        path = route.resource.canonical
        if path.startswith(paths.CONTROL_PREFIX) or path == paths.METRICS:
            control.append(path)
            continue
        api.append((route.method, path))
        assert getattr(route.handler, "__code__", None) is the_lifecycle, (route.method, path)
    assert ("POST", paths.MESSAGES) in api and ("POST", paths.COUNT_TOKENS) in api
    assert ("GET", paths.MODELS) in api and ("DELETE", paths.BATCH) in api
    assert ("*", "/{tail}") in api  # an unknown path is journalled the same way
    assert (paths.CONTROL_JOURNAL in control) and (paths.METRICS in control)
