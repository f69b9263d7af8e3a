"""The built-in ``agent-platform-overloaded``: the managed-agents routes are overloaded while
Messages is fine, and the journal says which rule refused each request."""

from __future__ import annotations

import asyncio
from collections import Counter

import anthropic
import httpx2
from tests.support import TEST_KEY

from mockserver import AsyncMockServer
from mockserver.journal import decided_by

HEADERS = {
    "x-api-key": TEST_KEY,
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "managed-agents-2026-04-01",
}
AGENT_LISTS = ["/v1/agents", "/v1/sessions", "/v1/environments"]
N = 60  # requests per agent route; 529 with p = 0.7: mean 42, sd 3.5


async def _statuses(client: httpx2.AsyncClient, path: str, n: int) -> Counter[int]:
    answers = await asyncio.gather(*(client.get(path, headers=HEADERS) for _ in range(n)))
    return Counter(a.status_code for a in answers)


async def test_the_agent_routes_are_overloaded_and_messages_is_fine() -> None:
    async with AsyncMockServer(scenario="agent-platform-overloaded", seed=5) as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=30.0) as client:
            for path in AGENT_LISTS:
                statuses = await _statuses(client, path, N)
                assert set(statuses) <= {200, 529}, (path, statuses)
                assert 25 <= statuses[529] <= 57, (path, statuses)  # ±5 sd around 42
            sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=TEST_KEY, max_retries=0)
            for _ in range(20):
                message = await sdk.messages.create(
                    model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
                )
                assert message.stop_reason is not None
            models = await client.get("/v1/models", headers=HEADERS)
            assert models.status_code == 200
        refused = [e for e in server.journal.entries() if e.status == 529]
        assert refused and {decided_by(e.reason) for e in refused} == {"rule:agent-platform-529"}
        assert all(e.path in AGENT_LISTS for e in refused)
