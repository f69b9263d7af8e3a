"""The one beta rule of the managed-agents family (agents, environments and their work,
deployments, sessions): every route answers the 400 unless the ``anthropic-beta`` header names
``managed-agents-2026-04-01``, which the SDK sends on each of them; and the body limit the
family's routes read with.

Hand-written: two small helpers shared by the family's web modules.
"""

from __future__ import annotations

from mockserver.config import ServerConfig
from mockserver.web.lifecycle import Exchange
from mockserver.wire import managed


def beta_checked(exchange: Exchange, beta: str = managed.BETA) -> None:
    """The route's beta header, or the 400 (every managed-agents route calls this first)."""
    managed.check_beta(exchange.request.headers.get("anthropic-beta"), beta)


def body_limit(config: ServerConfig) -> int:
    """The largest body a managed-agents route reads (the API's ordinary request limit)."""
    return config.max_body_bytes
