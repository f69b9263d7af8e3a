"""How a reference client reaches the server: the settings of the SDK client underneath it.

Every factory of the catalogue takes a *target*: the mock's base URL (``verify``, ``demo``, the
pytest plugin: the test key and :data:`TEST_TIMEOUT`), or a :class:`Connection` that names the
API key, the per-attempt timeout and the HTTP client as well (the load tests: their recording
transport and ``--timeout``). Either way the client is the same, with the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anthropic
import httpx2

from mockserver.clients.base import TEST_API_KEY

# Generous for a local mock, short enough that a hung connection cannot stall a test run.
TEST_TIMEOUT = anthropic.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class Connection:
    """Where and how a reference client's SDK clients connect."""

    base_url: str
    api_key: str = TEST_API_KEY
    timeout: float | anthropic.Timeout = field(default_factory=lambda: TEST_TIMEOUT)
    http_client: httpx2.Client | None = None  # None: the SDK's own

    def sdk(self, *, max_retries: int = anthropic.DEFAULT_MAX_RETRIES) -> anthropic.Anthropic:
        """An SDK client with these settings and its own retries set to ``max_retries``."""
        return anthropic.Anthropic(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout,
            max_retries=max_retries,
            http_client=self.http_client,
        )


Target = str | Connection


def connection(target: Target) -> Connection:
    """``target`` as a :class:`Connection` (a base URL gets the test key and timeout)."""
    return target if isinstance(target, Connection) else Connection(target)
