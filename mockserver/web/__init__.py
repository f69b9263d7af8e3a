"""The aiohttp shell of the mock: the per-server state, the one request lifecycle every route
uses, applying a fault Decision, one module per route family, and the guards of the server."""
