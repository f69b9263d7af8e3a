"""The control plane's guards: who may reach it, how much it reads, what a scenario PUT may load.

- **Host.** Without a control token (the loopback default) a web page could reach the control
  plane through DNS rebinding: its requests carry the attacker's name in ``Host``. So a request
  whose Host is not a loopback name (``localhost``, ``*.localhost``, 127.0.0.0/8, ``[::1]``, any
  port), the address the connection arrived on, the configured host or ``public_url``'s host is
  refused with a 403. A request bearing the configured control token has proven it is no such
  page, so the check does not apply to it (off-loopback binds, which require a token, keep
  working under any name, as in a compose network). The API routes are not checked: SDKs in
  containers reach the mock by service names, and ``/v1`` exposes nothing of the server.
- **Body.** ``PUT /_busysignal/scenario`` reads at most :data:`SCENARIO_BODY_LIMIT` bytes (413
  beyond), and loads only built-in names and the scenario text it was sent, never a file.
- **Loop.** The scenario is parsed, validated and compiled in a worker thread
  (:func:`scenario_from_body` is what runs there), so ``/_busysignal/health`` keeps answering.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from mockserver.faults import FaultEngine, ScenarioError, build_engine
from mockserver.wire.errors import ApiError, invalid
from scenarios.loader import load_scenario, parse_text, validate_mapping
from scenarios.yamlsource import MAX_SCENARIO_BYTES

SCENARIO_BODY_LIMIT = MAX_SCENARIO_BYTES  # 1 MiB, as a scenario file (scenarios/README.md, "Limits")
BODY_SOURCE = "<request body>"


def split_host(host: str) -> str:
    """The name in a Host header value, without port, brackets or a trailing dot, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host  # a bare name, or an IPv6 address without brackets
    return name.rstrip(".")


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(host: str | None, *, configured: Collection[str]) -> bool:
    """Whether a request with this Host header may use the control plane (see the module doc).

    ``configured``: the names the server was set up under (bind host, public_url's host, the
    local address of the connection), as :func:`split_host` gives them. No Host header at all
    (HTTP/1.0) is no browser's request, so it passes."""
    if host is None:
        return True
    name = split_host(host)
    return bool(name) and (is_loopback_name(name) or name in configured)


def configured_hosts(request: web.BaseRequest, public_url: str | None, bind_host: str | None) -> set[str]:
    names = {split_host(bind_host)} if bind_host else set()
    if public_url:
        public = urlsplit(public_url).hostname
        if public:
            names.add(split_host(public))
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, tuple) and sockname and isinstance(sockname[0], str):
        names.add(split_host(sockname[0]))
    return names


def host_refusal(request: web.BaseRequest, public_url: str | None, bind_host: str | None) -> ApiError | None:
    """The 403 for a control-plane request from a name the server does not answer to, else None."""
    host = request.headers.get("Host")
    if host_allowed(host, configured=configured_hosts(request, public_url, bind_host)):
        return None
    return ApiError(
        403,
        "permission_error",
        "control plane: the Host header names neither a loopback address nor this server's host "
        "(refused against DNS rebinding; use http://127.0.0.1:PORT or set a control token)",
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "request_too_large",
        f"scenario: the body is larger than {limit // 1024} KiB, the limit of PUT /_busysignal/scenario "
        "(see 'Limits' in scenarios/README.md)",
    )


async def read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """The body, or a 413 as soon as it is known to be over ``limit`` bytes (never read past it)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def decode_body(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"scenario: body is not valid UTF-8 (byte {exc.start})") from None


def scenario_from_body(text: str, seed: int) -> tuple[Any, FaultEngine]:
    """(spec to report, engine) for a PUT body: ``{"name": "<built-in>"}``, a built-in name, or a
    YAML or JSON scenario. Never opens a file; ScenarioError for anything else. Runs off the loop."""
    if not text.strip():
        raise ScenarioError('empty body; send YAML or JSON scenario text, or {"name": "<built-in>"}')
    data, smap = parse_text(text, BODY_SOURCE)
    if isinstance(data, Mapping) and set(data) == {"name"}:
        if data["name"] is not None and not isinstance(data["name"], str):
            raise ScenarioError(f"{BODY_SOURCE}: name: must be a string (a built-in scenario's name)")
        name = data["name"]
    elif isinstance(data, str) and "\n" not in data.strip():
        name = data.strip()
    else:
        scenario = validate_mapping(data, smap)
        spec = data if text.lstrip().startswith("{") else text
        return spec, build_engine(scenario, seed=seed)
    scenario = load_scenario(name or "steady", allow_paths=False)
    return name, build_engine(scenario, seed=seed)
