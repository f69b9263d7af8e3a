"""The API as the real service answers it: pure knowledge of the wire, no aiohttp, no faults.

Request validation and token counts, the deterministic generation of a completion, its SSE
events, Anthropic-shaped error bodies, the model catalogue, batch objects, the headers every
answer carries. The aiohttp shell (:mod:`mockserver.web`) reads requests and sends what these
modules compute.
"""
