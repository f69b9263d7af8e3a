"""busysignal's mock Anthropic Messages API.

In tests (instant answers by default: ttft 0, tokens not paced, batches end at once)::

    from mockserver import MockServer
    with MockServer(seed=1, scenario="flaky-5xx") as server:      # background thread, free port
        client = anthropic.Anthropic(base_url=server.url, api_key="any")
        ...
        server.journal.logical_requests()   # attempts and gaps per logical request
        server.set_scenario("rate-limited"); server.reset()

    async with AsyncMockServer(tokens_per_s=200) as server: ...   # in the running event loop

From a shell: ``busysignal serve`` (or ``python -m mockserver``), realistic but short by default:
0.4 s to the first token, 100 tokens/s, batches end after 10 s.

Keyword arguments of ``MockServer``/``AsyncMockServer`` other than ``config``, ``host``, ``port``,
``scenario`` (a spec for ``mockserver.faults.build_engine``), ``engine`` (a FaultEngine object)
and ``shutdown_timeout`` (seconds in-flight requests get on stop) override :class:`ServerConfig`
fields. ``create_app`` builds the bare aiohttp application.
The control plane lives under ``/_busysignal/`` (health, journal, stats, reset, scenario) and
``/metrics``; control-plane requests are not journalled. Imports are lazy so that
``import mockserver`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver._lazy import lazy_face

if TYPE_CHECKING:
    from mockserver.app import create_app
    from mockserver.config import ServerConfig
    from mockserver.journal import Journal, JournalEntry, JournalFilter, LogicalRequest, logical_requests
    from mockserver.web.server import AsyncMockServer, MockServer, UnsafeBindError
    from mockserver.wire.catalogue import Catalogue, ModelEntry, load_catalogue

__all__ = [
    "AsyncMockServer",
    "Catalogue",
    "Journal",
    "JournalEntry",
    "JournalFilter",
    "LogicalRequest",
    "MockServer",
    "ModelEntry",
    "ServerConfig",
    "UnsafeBindError",
    "create_app",
    "load_catalogue",
    "logical_requests",
]

_WHERE = {
    "AsyncMockServer": "mockserver.web.server",
    "MockServer": "mockserver.web.server",
    "UnsafeBindError": "mockserver.web.server",
    "create_app": "mockserver.app",
    "ServerConfig": "mockserver.config",
    "Catalogue": "mockserver.wire.catalogue",
    "ModelEntry": "mockserver.wire.catalogue",
    "load_catalogue": "mockserver.wire.catalogue",
    "Journal": "mockserver.journal",
    "JournalEntry": "mockserver.journal",
    "JournalFilter": "mockserver.journal",
    "LogicalRequest": "mockserver.journal",
    "logical_requests": "mockserver.journal",
}


__getattr__, __dir__ = lazy_face(
    __name__, globals(), {name: (module, name) for name, module in _WHERE.items()}
)
