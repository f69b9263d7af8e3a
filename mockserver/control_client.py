"""The one client of the mock's control plane (``/_busysignal/`` and ``/metrics``).

The pytest plugin (``--busysignal-url``), the load-test runner and anyone's CI drive a running
``busysignal serve`` through :class:`ControlClient`::

    control = ControlClient.from_env("http://127.0.0.1:8787")   # the token found as serve finds it
    control.set_scenario("one-model-overloaded")
    control.clear_journal()
    ...                                                          # the client under test runs
    entries = control.journal()                                  # JOURNAL.md's entries, oldest first

Standard library only (``urllib``), synchronous, no event loop: it runs in a test process, a CLI
and a Locust-free runner alike. When the server demands a control token (``serve
--control-token``), the client sends it in ``x-busysignal-token``. Failures are
:class:`ControlError` subclasses that name the server and the request: :class:`ServerUnreachable`
when nothing answers there, :class:`ControlRefused` (with ``status``) when it answered with an
error.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mockserver.control_token import resolve_token
from mockserver.wire import paths

__all__ = ["ControlClient", "ControlError", "ControlRefused", "ServerUnreachable"]

TOKEN_HEADER = "x-busysignal-token"
DEFAULT_TIMEOUT_S = 10.0
_DETAIL_CHARS = 500


class ControlError(RuntimeError):
    """A control-plane request that did not succeed (the message names server, method and path)."""


class ServerUnreachable(ControlError):
    """Nothing answered at the server's address (not started, wrong port, or gone)."""


class ControlRefused(ControlError):
    """The server answered the control request with an error status (``status``, ``body``)."""

    def __init__(self, message: str, *, status: int, body: bytes) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ControlClient:
    """A running busysignal server, driven through its control plane.

    ``token`` is the control token to send (None: none). :meth:`from_env` finds it as ``serve``
    does (``$BUSYSIGNAL_CONTROL_TOKEN``, ``$BUSYSIGNAL_CONTROL_TOKEN_FILE``)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(
        cls,
        url: str,
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> ControlClient:
        """``token`` or ``token_file`` as ``serve`` takes them, else the environment's token."""
        found = resolve_token(token, token_file, env=os.environ if env is None else env)
        return cls(url, token=found, timeout=timeout)

    # --- the requests ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> bytes:
        """The body of a 2xx answer to ``method path``; :class:`ControlError` otherwise."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("content-type", content_type)
        if self.token:
            req.add_header(TOKEN_HEADER, self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as exc:
            answer = exc.read()
            detail = answer.decode(errors="replace")[:_DETAIL_CHARS]
            raise ControlRefused(
                f"busysignal server {self.url}: {method} {path} → {exc.code}: {detail}",
                status=exc.code,
                body=answer,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, no HTTP
            reason = getattr(exc, "reason", exc)
            raise ServerUnreachable(
                f"busysignal server {self.url} unreachable ({method} {path}): {reason}; "
                "is `busysignal serve` running there?"
            ) from exc

    def _json(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Any:
        return json.loads(self.request(method, path, body, content_type))

    def health(self) -> dict[str, Any]:
        """``GET /_busysignal/health``: status, in-flight requests, journal size, scenario name."""
        answer: dict[str, Any] = self._json("GET", paths.CONTROL_HEALTH)
        return answer

    def healthy(self) -> bool:
        """Whether the server answers its health check (False when absent or refusing)."""
        try:
            self.health()
        except ControlError:
            return False
        return True

    def journal(self, since_seq: int | None = None, **filters: str | int) -> list[dict[str, Any]]:
        """The journal's entries (as JOURNAL.md describes them), oldest first: those with
        ``seq >= since_seq``, narrowed by the server's other filters (``path``, ``model``,
        ``status``, ``api_key_id``, ``logical_id``, ``limit``)."""
        query: dict[str, str | int] = {"format": "jsonl", **filters}
        if since_seq is not None:
            query["since_seq"] = since_seq
        body = self.request("GET", f"{paths.CONTROL_JOURNAL}?{urllib.parse.urlencode(query)}")
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def clear_journal(self) -> int:
        """``DELETE /_busysignal/journal``; how many entries were cleared."""
        cleared: int = self._json("DELETE", paths.CONTROL_JOURNAL)["cleared"]
        return cleared

    def stats(self) -> dict[str, Any]:
        """``GET /_busysignal/stats``: the counters since the last reset."""
        answer: dict[str, Any] = self._json("GET", paths.CONTROL_STATS)
        return answer

    def reset(self) -> None:
        """Clear the journal and stats and restart the scenario clock (``seq`` keeps counting)."""
        self.request("POST", paths.CONTROL_RESET, b"")

    def scenario(self) -> dict[str, Any]:
        """``GET /_busysignal/scenario``: the running scenario and where its clock stands."""
        answer: dict[str, Any] = self._json("GET", paths.CONTROL_SCENARIO)
        return answer

    def set_scenario(self, spec: str | Path | Mapping[str, Any], *, seed: int | None = None) -> str:
        """Swap the scenario now (its clock restarts) and return its name. ``spec`` is a built-in
        name, YAML text, a scenario file, or a mapping in the scenario language; ``seed`` defaults
        to the server's ``--seed``."""
        if isinstance(spec, Path):
            body, ctype = spec.read_bytes(), "application/yaml"
        elif isinstance(spec, str) and "\n" in spec.strip():
            body, ctype = spec.encode(), "application/yaml"
        elif isinstance(spec, Mapping):
            body, ctype = json.dumps(dict(spec)).encode(), "application/json"
        else:
            body, ctype = json.dumps({"name": spec}).encode(), "application/json"
        path = paths.CONTROL_SCENARIO + ("" if seed is None else f"?seed={seed}")
        name: str = self._json("PUT", path, body, ctype)["name"]
        return name

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus text."""
        return self.request("GET", paths.METRICS).decode()

    def __repr__(self) -> str:
        return f"ControlClient({self.url!r}, token={'set' if self.token else None})"
