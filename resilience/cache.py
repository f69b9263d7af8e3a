"""Response cache: the outermost layer of the resilience pipeline.

A cached answer is the cheapest way through an overload: it never touches the network. The
cache is keyed by :func:`request_key`, a canonical digest of everything that decides what the
model says (model, system, messages, tools, tool_choice and the sampling parameters), so that
two requests that differ only in field order share an entry and two that differ in any of
those parameters do not.

Only complete, successful messages are stored (:func:`is_cacheable`); errors, partial streams
and ``pause_turn`` messages never are. :func:`cached_call` and :func:`cached_call_async` are the
glue a wrapper uses: look up, call on a miss, store the result, with a per-request opt-out.

Backends: :class:`MemoryCache` (LRU with TTL and an injectable clock) and :class:`RedisCache`
(``SET ... PX``; Redis expires the entries itself). Both keep JSON data only and hand out
copies, so a caller that mutates a returned message cannot corrupt the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import redis

__all__ = [
    "DEFAULT_TTL_S",
    "KEY_FIELDS_IGNORED",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "cached_call",
    "cached_call_async",
    "is_cacheable",
    "request_key",
    "store_if_cacheable",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 24 * 60 * 60.0

# Request fields that change how a response travels, never what it says. Everything else in
# the parameters (including fields this module has never heard of) is part of the key: a
# cache that ignored an unknown field could serve the wrong answer, one that includes it can
# only miss.
KEY_FIELDS_IGNORED: frozenset[str] = frozenset(
    {
        "stream",
        "timeout",
        "extra_headers",
        "extra_query",
        "max_retries",
        "metadata",
    }
)

_KEY_VERSION = "busysignal-cache-v1"

# Stop reasons of a message that is finished and can be served again as is. `pause_turn` is a
# turn the caller must continue; None only appears in an unfinished stream.
_COMPLETE_STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "model_context_window_exceeded"}
)


@runtime_checkable
class ResponseCache(Protocol):
    """What the resilience wrapper needs from a cache backend."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, message: dict[str, Any], ttl_s: float) -> None: ...


def _is_sentinel(value: object) -> bool:
    # the SDK's NOT_GIVEN / omit markers: a parameter that was not given is absent
    return type(value).__name__ in {"NotGiven", "Omit"}


def _canonical(value: Any, path: str) -> Any:
    """JSON data in one canonical form: dict keys sorted (by json.dumps), tuples as lists,
    integral floats as ints (temperature 1 and 1.0 are the same request)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"request_key: {path} is {value!r}; a request holds only finite numbers")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"request_key: {path} has a non-string key {k!r}")
            if _is_sentinel(v):
                continue
            out[k] = _canonical(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{path}[{i}]") for i, v in enumerate(value)]
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model from the SDK (e.g. a Message turned back into a param)
        return _canonical(dump(mode="json", exclude_unset=True), path)
    raise TypeError(
        f"request_key: {path} is a {type(value).__name__}, which is not JSON data "
        "(expected dict, list, str, number, bool or None)"
    )


def request_key(params: Mapping[str, Any]) -> str:
    """Canonical digest of one Messages request.

    Covers model, system, messages, tools, tool_choice, the sampling parameters and any other
    field that can change the answer; ignores transport-only fields (:data:`KEY_FIELDS_IGNORED`)
    and parameters left as the SDK's NOT_GIVEN. Key order never matters; any difference in a
    covered value does. Raises ``ValueError`` without a model, ``TypeError`` for non-JSON values.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"request_key: params must be a mapping, not {type(params).__name__}")
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("request_key: params need a non-empty string 'model'")
    body = {k: v for k, v in params.items() if k not in KEY_FIELDS_IGNORED and not _is_sentinel(v)}
    canonical = _canonical(body, "params")
    text = json.dumps(
        [_KEY_VERSION, canonical], sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_cacheable(message: Mapping[str, Any]) -> bool:
    """True for a complete, successful Messages response (and nothing else)."""
    return (
        message.get("type") == "message"
        and message.get("role") == "assistant"
        and isinstance(message.get("content"), list)
        and message.get("stop_reason") in _COMPLETE_STOP_REASONS
    )


def _check_ttl(ttl_s: float) -> None:
    number = isinstance(ttl_s, (int, float)) and not isinstance(ttl_s, bool)
    if not number or not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ValueError(f"cache ttl_s must be a positive number of seconds, got {ttl_s!r}")


def _encode(message: Mapping[str, Any]) -> str:
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache: a message must be JSON data: {exc}") from exc


def _decode(text: str | bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class MemoryCache:
    """In-process LRU cache with a TTL per entry. Thread-safe.

    ``clock`` returns seconds (monotonic); inject one in tests. ``max_entries`` bounds memory:
    the least recently used entry goes first. Expired entries are dropped when touched and
    before any eviction of live ones.
    """

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError(f"MemoryCache max_entries must be an int >= 1, got {max_entries!r}")
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (expires_at, json)

    def get(self, key: str) -> dict[str, Any] | None:
        now = self._clock()
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires_at, text = item
            if now >= expires_at:
                del self._data[key]
                return None
            self._data.move_to_end(key)
        return _decode(text)

    def set(self, key: str, message: dict[str, Any], ttl_s: float) -> None:
        _check_ttl(ttl_s)
        text = _encode(message)
        now = self._clock()
        with self._lock:
            self._data[key] = (now + ttl_s, text)
            self._data.move_to_end(key)
            if len(self._data) > self._max:
                for k in [k for k, (exp, _) in self._data.items() if now >= exp]:
                    del self._data[k]
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class RedisCache:
    """Cache in Redis: one string per entry under ``prefix + key``, expiry by Redis (``PX``).

    Pass a ``redis.Redis`` client or a ``url``. By default a Redis failure is logged and
    treated as a miss (``get``) or skipped (``set``): an unavailable cache must not turn into
    an unavailable client. ``fail_open=False`` raises instead.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "busysignal:cache:",
        fail_open: bool = True,
    ) -> None:
        if (client is None) == (url is None):
            raise ValueError("RedisCache needs exactly one of client= or url=")
        if client is None:
            import redis as redis_module

            assert url is not None
            client = redis_module.Redis.from_url(url)
        self._client = client
        self._prefix = prefix
        self._fail_open = fail_open

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _name(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str) -> dict[str, Any] | None:
        import redis as redis_module

        try:
            raw = self._client.get(self._name(key))
        except redis_module.RedisError as exc:
            if not self._fail_open:
                raise
            log.warning("busysignal cache: redis get failed, treating as a miss: %s", exc)
            return None
        if raw is None:
            return None
        if not isinstance(raw, (str, bytes)):
            return None
        return _decode(raw)

    def set(self, key: str, message: dict[str, Any], ttl_s: float) -> None:
        import redis as redis_module

        _check_ttl(ttl_s)
        text = _encode(message)
        try:
            self._client.set(self._name(key), text, px=max(1, round(ttl_s * 1000)))
        except redis_module.RedisError as exc:
            if not self._fail_open:
                raise
            log.warning("busysignal cache: redis set failed, entry not stored: %s", exc)

    def delete(self, key: str) -> None:
        self._client.delete(self._name(key))


def _lookup(
    cache: ResponseCache, params: Mapping[str, Any], ttl_s: float, on_lookup: Callable[[bool], None] | None
) -> tuple[str, dict[str, Any] | None]:
    """The request's key and what the cache holds for it (the lookup is reported)."""
    _check_ttl(ttl_s)
    key = request_key(params)
    hit = cache.get(key)
    if on_lookup is not None:
        on_lookup(hit is not None)
    return key, hit


def store_if_cacheable(
    cache: ResponseCache, key: str, message: dict[str, Any], ttl_s: float
) -> dict[str, Any]:
    """Store ``message`` under ``key`` if it is a complete success; return it."""
    if is_cacheable(message):
        cache.set(key, message, ttl_s)
    return message


def cached_call(
    cache: ResponseCache | None,
    params: Mapping[str, Any],
    call: Callable[[], dict[str, Any]],
    *,
    ttl_s: float = DEFAULT_TTL_S,
    use_cache: bool = True,
    on_lookup: Callable[[bool], None] | None = None,
) -> dict[str, Any]:
    """Answer from ``cache`` when it holds ``params``; otherwise ``call()`` and store the result
    if it is a complete success. ``use_cache=False`` (the per-request opt-out) or ``cache=None``
    goes straight to ``call()`` and neither reads nor writes the cache. ``on_lookup(hit)`` is
    told the outcome of every lookup."""
    if cache is None or not use_cache:
        return call()
    key, hit = _lookup(cache, params, ttl_s, on_lookup)
    if hit is not None:
        return hit
    return store_if_cacheable(cache, key, call(), ttl_s)


async def cached_call_async(
    cache: ResponseCache | None,
    params: Mapping[str, Any],
    call: Callable[[], Awaitable[dict[str, Any]]],
    *,
    ttl_s: float = DEFAULT_TTL_S,
    use_cache: bool = True,
    on_lookup: Callable[[bool], None] | None = None,
) -> dict[str, Any]:
    """:func:`cached_call` for a coroutine ``call``. The backends are synchronous and fast
    (memory, or one Redis round trip on loopback/LAN), so they are called directly."""
    if cache is None or not use_cache:
        return await call()
    key, hit = _lookup(cache, params, ttl_s, on_lookup)
    if hit is not None:
        return hit
    return store_if_cacheable(cache, key, await call(), ttl_s)
