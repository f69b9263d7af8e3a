"""busysignal's mock Anthropic Messages API.

``MockServer`` (a background thread) and ``AsyncMockServer`` (the running loop) serve it on a
free port; ``create_app`` builds the aiohttp app; ``ServerConfig`` says how it behaves.
Imports are lazy so that ``import mockserver`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.app import create_app
    from mockserver.catalogue import Catalogue, ModelEntry, load_catalogue
    from mockserver.config import ServerConfig
    from mockserver.journal import Journal, JournalEntry, JournalFilter, LogicalRequest, logical_requests
    from mockserver.server import AsyncMockServer, MockServer, UnsafeBindError

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
    "AsyncMockServer": "mockserver.server",
    "MockServer": "mockserver.server",
    "UnsafeBindError": "mockserver.server",
    "create_app": "mockserver.app",
    "ServerConfig": "mockserver.config",
    "Catalogue": "mockserver.catalogue",
    "ModelEntry": "mockserver.catalogue",
    "load_catalogue": "mockserver.catalogue",
    "Journal": "mockserver.journal",
    "JournalEntry": "mockserver.journal",
    "JournalFilter": "mockserver.journal",
    "LogicalRequest": "mockserver.journal",
    "logical_requests": "mockserver.journal",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
