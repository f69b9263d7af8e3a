"""The state of one mock server: config, journal, fault engine, batches, counters, caches.

``create_app`` makes one :class:`MockState` and stores it on the app (``app[STATE]``). The rest
of the shell uses its public methods only: ``open``/``close`` journal a request, ``check_auth``
refuses it, ``prepare_messages`` turns a Messages body into everything its answer needs
(memoised by the raw bytes), ``facts`` is what the fault engine is asked about.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from mockserver.config import API_VERSIONS, ServerConfig
from mockserver.faults import Decision, FaultEngine, RequestFacts
from mockserver.faults.ratelimits import DEFAULT_TIER, tier_headers
from mockserver.journal import (
    KEPT_HEADERS,
    RETRY_COUNT_AT,
    VERSION_AT,
    Journal,
    JournalEntry,
    body_digest,
    kept_header_values,
    logical_id,
    parse_retry_count,
)
from mockserver.web.metrics import Metrics, Stats
from mockserver.wire import request_text
from mockserver.wire.batches import BatchStore
from mockserver.wire.betas import check_betas
from mockserver.wire.errors import ApiError, IdFactory, invalid
from mockserver.wire.generation import Completion, canonical_prompt, content_key, generate, prompt_digest_of
from mockserver.wire.keyids import KeyIds, salt_bytes
from mockserver.wire.resources import Resources
from mockserver.wire.response_headers import header_templates
from mockserver.wire.sse import message_json_tail, message_json_tail_fast
from mockserver.wire.validation import MessageRequest, validate_messages_request

Spec = Any  # what build_engine accepts: None, a name, a path, YAML text, a mapping
STATE: web.AppKey[MockState] = web.AppKey("busysignal_state")
BETA_AT = KEPT_HEADERS.index("anthropic-beta")  # its place in a journal entry's kept_values


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything derived from one raw Messages body (memoised by the raw bytes)."""

    request: MessageRequest
    prompt_digest: str
    completion: Completion
    json_tail: bytes  # the JSON message after its id
    body_digest: str
    logical_ids: dict[str, str] = field(default_factory=dict)  # api_key_id -> logical_id
    content_key: bytes = b""  # what the completion is drawn from (a fallback hop's too)

    def logical_id(self, key_id: str) -> str:
        found = self.logical_ids.get(key_id)
        if found is None:
            found = logical_id(key_id, self.body_digest)
            if len(self.logical_ids) < 64:
                self.logical_ids[key_id] = found
        return found


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header (None without one)."""
    auth = headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def is_loopback(remote: str | None) -> bool:
    """Whether the peer is a loopback address; an unknown peer (None) is not (fail closed)."""
    return remote is not None and (remote.startswith("127.") or remote in ("::1", "localhost"))


def app_state(app: web.Application) -> MockState:
    return app[STATE]


class MockState:
    """Per-server state: config, journal, engine, batches, counters."""

    def __init__(self, config: ServerConfig, engine: FaultEngine, scenario: Spec) -> None:
        self.config = config
        self.clock = config.clock
        self.journal = Journal(config.journal_size)
        self.ids = IdFactory()
        self.metrics = Metrics()
        self.stats = Stats(self.metrics)
        self.batches = BatchStore(
            processing_s=config.batch_processing_s,
            cancel_s=config.batch_cancel_s,
            clock=config.clock,
            max_batches=config.max_batches,
        )
        self.resources = Resources()  # files, skills, agents, sessions, ... (wire.resources)
        self.in_flight = 0
        self.engine: FaultEngine = engine
        self.scenario: Spec = scenario
        self.scenario_seed = config.seed
        self.index = 0
        self._cache: OrderedDict[bytes, Prepared] | None = (
            OrderedDict() if config.response_cache_size else None
        )
        self._cache_size = config.response_cache_size
        self._auth = config.auth
        self._api_keys = frozenset(config.api_keys) if config.api_keys is not None else None
        self._default_tps = config.tokens_per_s or None
        self.paced = config.ttft_s > 0 or bool(self._default_tps)  # the server's own latency model waits
        self._wall_clock = config.wall_clock
        self._on_done = config.on_request_done
        self.refresh_headers(self._wall_clock())
        self._journal_open = self.journal.open
        self.key_ids = KeyIds(salt_bytes(config.key_salt))
        self._request_id = self.ids.request_id
        self.bind_host: str | None = None  # set by the server that binds the app (control_guard)
        # fallback credit tokens minted by refusals (token -> the refused model, wall time), oldest first
        self.credit_tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def refresh_headers(self, wall: float) -> None:
        """Every response's headers (base), a 200's and an error's templates, for wall time ``wall``."""
        t = header_templates(wall, tier_headers(DEFAULT_TIER, wall))
        self.base_headers, self.json_headers, self.error_headers = t.base, t.json, t.error
        self.headers_until = t.until

    # ---- engine ------------------------------------------------------------------------

    def set_engine(self, engine: FaultEngine, scenario: Spec, *, seed: int | None = None) -> None:
        """Swap the engine atomically (on the loop thread) and restart its clock and index."""
        engine.restart(self.clock())
        self.engine = engine
        self.scenario = scenario
        self.scenario_seed = self.config.seed if seed is None else seed
        self.index = 0

    def pacing(self, decision: Decision) -> tuple[float, float | None]:
        """Time to first token and tokens per second (None: unpaced) for a response: the decision's
        overrides, else the server's defaults."""
        ttft = decision.ttft_s if decision.ttft_s is not None else self.config.ttft_s
        tps = decision.tokens_per_s if decision.tokens_per_s is not None else self._default_tps
        return ttft, tps

    def generation_wait(self, decision: Decision, output_tokens: int) -> float:
        """Seconds the latency model makes a whole (not streamed) answer of ``output_tokens`` wait."""
        if not self.paced and decision.ttft_s is None and decision.tokens_per_s is None:
            return 0.0  # nothing paces it (the usual case in tests and benchmarks)
        ttft, tps = self.pacing(decision)
        return ttft + (output_tokens / tps if tps else 0.0)

    def restart_engine(self) -> None:
        self.engine.restart(self.clock())
        self.index = 0

    def reset(self) -> None:
        """The control plane's reset: journal, stats and every stored object gone, the engine
        restarted."""
        self.journal.clear()
        self.batches.clear()
        self.resources.clear()
        self.credit_tokens.clear()
        self.stats.reset()
        self.restart_engine()

    def next_index(self) -> int:
        """The engine's arrival index of the next request (counted from the scenario's (re)start)."""
        index = self.index
        self.index = index + 1
        return index

    # ---- per request ---------------------------------------------------------------------

    def open(self, request: web.Request, method: str, path: str) -> tuple[JournalEntry, str | None]:
        """Journal a request as it arrives (``method`` and ``path``: the request's, which a
        handler serving one route knows without asking the request) and count it in flight."""
        headers = request.headers
        key = headers.get("x-api-key")
        if key is None:
            key = bearer_token(headers)
        if key is not None and not key.isascii():
            key = request_text.key_text(key)  # bytes that were not UTF-8: hashable, refused by check_auth
        kept = kept_header_values(headers)
        retry = kept[RETRY_COUNT_AT]  # x-stainless-retry-count
        wall = self._wall_clock()
        if wall > self.headers_until:  # the rate-limit headers' reset names the next second
            self.refresh_headers(wall)
        entry = self._journal_open(
            self._request_id(),
            method,
            path,
            wall,
            self.clock(),
            self.key_ids[key] if key else "",  # salted per server (keyids)
            None if retry is None else parse_retry_count(retry),
            kept,
        )
        self.in_flight += 1
        return entry, key

    def close(self, entry: JournalEntry, route: str) -> None:
        entry.end = self.clock()
        self.in_flight -= 1
        self.metrics.record(entry, route)
        hook = self._on_done
        if hook is not None:
            hook(entry)

    def check_auth(self, entry: JournalEntry, key: str | None) -> None:
        """The 401 of a missing or unknown key (when auth is on), the 400 of a missing or unknown
        ``anthropic-version`` (read from the journal entry, which kept the header's value)."""
        if self._auth and (
            not key or (self._api_keys is not None and key not in self._api_keys) or not key.isascii()
        ):
            if not key:
                raise ApiError(401, "authentication_error", "x-api-key header is required")
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        version = entry.kept_values[VERSION_AT]  # headers.get("anthropic-version")
        if version not in API_VERSIONS:
            if version is None:
                raise invalid("anthropic-version: header is required")
            raise invalid(f"anthropic-version: unknown version {version!r}")

    def check_betas(self, headers: CIMultiDictProxy[str]) -> None:
        """The 400 of an unknown ``anthropic-beta`` value (every value of every such header),
        when strict. The lifecycle calls it only for a request whose journal entry kept an
        ``anthropic-beta`` value, so a request without one pays a tuple lookup."""
        if self.config.strict:
            check_betas(headers.getall("anthropic-beta", ()))

    def prepare_messages(self, raw: bytes, *, cache: bool = True) -> Prepared:
        """What a Messages body asks for and what the answer to it is (a 400 when it is invalid)."""
        memo = self._cache if cache else None
        if memo is not None:
            hit = memo.get(raw)
            if hit is not None:
                return hit
        body = request_text.parse_json(raw)
        try:
            request = validate_messages_request(body, self.config.catalogue, strict=self.config.strict)
            prompt = canonical_prompt(body)
        except RecursionError:
            raise invalid("The request body is nested too deeply") from None
        key = content_key(body, self.config.seed, prompt)
        completion = generate(request, key)
        prepared = Prepared(
            request,
            prompt_digest_of(body, prompt),
            completion,
            message_json_tail_fast(request.model, completion, request.input_tokens)
            if request.speed is None
            else message_json_tail(request.model, completion, request.input_tokens, {"speed": request.speed}),
            body_digest(raw),
            content_key=key,
        )
        if memo is not None and len(raw) <= 65536:
            memo[raw] = prepared
            if len(memo) > self._cache_size:
                memo.popitem(last=False)
        return prepared

    def facts(
        self,
        request: web.Request,
        entry: JournalEntry,
        model: str | None,
        stream: bool,
        input_tokens: int,
        max_tokens: int,
        speed: str | None = None,
    ) -> RequestFacts:
        index = self.index
        self.index = index + 1  # next_index(), inline
        return RequestFacts(
            index,
            entry.method,
            entry.path,
            model,
            stream,
            entry.api_key_id,
            entry.body_digest,
            request.headers,  # case-insensitive: lookups by lower-case name work
            input_tokens,
            max_tokens,
            entry.retry_count,
            is_loopback(request.remote),
            speed,
        )

    def response_headers(self, entry: JournalEntry, *extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"request-id": entry.request_id, **self.base_headers}
        for more in extra:
            headers.update(more)
        return headers

    def error_headers_for(self, entry: JournalEntry) -> CIMultiDict[str]:
        """An error answer's headers when neither the decision nor the error adds any."""
        headers = self.error_headers.copy()
        headers["request-id"] = entry.request_id
        return headers
