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

Async callers use :func:`get_async` and :func:`store_if_cacheable_async`: a backend with
``aget``/``aset`` (:class:`AsyncResponseCache`: :class:`RedisCache`, over ``redis.asyncio``) is
awaited, so a hung Redis never holds the event loop; others must be fast (:class:`MemoryCache`).
"""

from __future__ import annotations

import asyncio
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
    import redis.asyncio

__all__ = [
    "DEFAULT_REDIS_TIMEOUT_S",
    "DEFAULT_TTL_S",
    "KEY_FIELDS_IGNORED",
    "AsyncResponseCache",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "cached_call",
    "cached_call_async",
    "get_async",
    "is_cacheable",
    "request_key",
    "store_if_cacheable",
    "store_if_cacheable_async",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 24 * 60 * 60.0
# How long one Redis call of the cache may take before it counts as a failure (a miss, or an
# entry not stored): a cache is only worth asking when it answers much faster than the API.
DEFAULT_REDIS_TIMEOUT_S = 0.5

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


@runtime_checkable
class AsyncResponseCache(Protocol):
    """A backend that can also be asked without blocking an event loop."""

    async def aget(self, key: str) -> dict[str, Any] | None: ...

    async def aset(self, key: str, message: dict[str, Any], ttl_s: float) -> None: ...


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

    Pass a ``url``, or a ``redis.Redis`` client (and, for async callers, a
    ``redis.asyncio.Redis`` as ``async_client``). From a ``url``, both clients are built with
    ``timeout_s`` as their connect and read timeouts and no retries of their own. By default
    a Redis failure (an error, or no answer within ``timeout_s``) is logged and treated as a
    miss (``get``) or skipped (``set``): an unavailable cache must not turn into an
    unavailable client. ``fail_open=False`` raises instead. The first failure of each kind is
    logged at once, later ones at most every ``log_every_s`` (on ``clock``), with their count.

    ``aget``/``aset`` are the async paths: ``redis.asyncio`` under an overall ``timeout_s``,
    so a hung Redis costs a caller ``timeout_s`` and never blocks the event loop. Given only
    a synchronous ``client``, they run its calls in a worker thread under the same bound.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "busysignal:cache:",
        fail_open: bool = True,
        timeout_s: float = DEFAULT_REDIS_TIMEOUT_S,
        log_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (client is None) == (url is None):
            raise ValueError("RedisCache needs exactly one of client= or url=")
        if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"RedisCache timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self._url = url
        self._timeout_s = float(timeout_s)
        if client is None:
            import redis as redis_module

            assert url is not None
            client = redis_module.Redis.from_url(url, **self._client_options(redis_module.retry.Retry))
        self._client = client
        self._async_given = async_client
        self._async: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None
        self._prefix = prefix
        self._fail_open = fail_open
        self._log_every_s = log_every_s
        self._clock = clock
        self._unlogged: dict[str, tuple[float, int]] = {}  # kind -> (next log at, failures since)

    def _client_options(self, retry_type: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        timeout = self._timeout_s
        return {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": retry_type(NoBackoff(), 0),
        }

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _name(self, key: str) -> str:
        return self._prefix + key

    def _failed(self, what: str, exc: BaseException) -> None:
        if not self._fail_open:
            raise exc
        now = self._clock()
        next_at, count = self._unlogged.get(what, (-math.inf, 0))
        if now < next_at:
            self._unlogged[what] = (next_at, count + 1)
            return
        self._unlogged[what] = (now + self._log_every_s, 0)
        detail = str(exc) or f"no answer within {self._timeout_s:g}s"
        more = f" ({count} more since the last report)" if count else ""
        log.warning("busysignal cache: redis %s failed, %s: %s%s", what, _FAIL_OPEN[what], detail, more)

    def get(self, key: str) -> dict[str, Any] | None:
        import redis as redis_module

        try:
            raw = self._client.get(self._name(key))
        except redis_module.RedisError as exc:
            self._failed("get", exc)
            return None
        return _decoded(raw)

    def set(self, key: str, message: dict[str, Any], ttl_s: float) -> None:
        import redis as redis_module

        _check_ttl(ttl_s)
        text = _encode(message)
        try:
            self._client.set(self._name(key), text, px=max(1, round(ttl_s * 1000)))
        except redis_module.RedisError as exc:
            self._failed("set", exc)

    def delete(self, key: str) -> None:
        self._client.delete(self._name(key))

    def _async_client(self) -> redis.asyncio.Redis | None:
        """The ``redis.asyncio`` client of the running loop (its connections belong to one
        loop), built from the url on first use in that loop; None without a url or one given."""
        if self._async_given is not None:
            return self._async_given
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            import redis.asyncio as redis_asyncio

            options = self._client_options(redis_asyncio.retry.Retry)
            self._async = (loop, redis_asyncio.Redis.from_url(self._url, **options))
        return self._async[1]

    async def aget(self, key: str) -> dict[str, Any] | None:
        """:meth:`get` without blocking the event loop."""
        import redis as redis_module

        client = self._async_client()
        if client is None:
            hit = await self._in_thread(self.get, key)
            return hit if isinstance(hit, dict) else None
        try:
            raw = await asyncio.wait_for(client.get(self._name(key)), self._timeout_s)
        except (redis_module.RedisError, asyncio.TimeoutError) as exc:
            self._failed("get", exc)
            return None
        return _decoded(raw)

    async def aset(self, key: str, message: dict[str, Any], ttl_s: float) -> None:
        """:meth:`set` without blocking the event loop."""
        import redis as redis_module

        _check_ttl(ttl_s)
        text = _encode(message)
        client = self._async_client()
        if client is None:
            await self._in_thread(self.set, key, message, ttl_s)
            return
        try:
            await asyncio.wait_for(
                client.set(self._name(key), text, px=max(1, round(ttl_s * 1000))), self._timeout_s
            )
        except (redis_module.RedisError, asyncio.TimeoutError) as exc:
            self._failed("set", exc)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self._timeout_s)
        except asyncio.TimeoutError as exc:
            self._failed(fn.__name__, exc)
            return None

    async def aclose(self) -> None:
        """Close the async client built from the url (the sync one: ``client.close()``)."""
        if self._async is not None:
            await self._async[1].aclose()
            self._async = None


_FAIL_OPEN = {"get": "treating as a miss", "set": "entry not stored"}


def _decoded(raw: object) -> dict[str, Any] | None:
    return _decode(raw) if isinstance(raw, (str, bytes)) else None


async def get_async(cache: ResponseCache, key: str) -> dict[str, Any] | None:
    """``cache.get(key)`` for a coroutine: awaited when the backend has ``aget``."""
    if isinstance(cache, AsyncResponseCache):
        return await cache.aget(key)
    return cache.get(key)


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


async def store_if_cacheable_async(
    cache: ResponseCache, key: str, message: dict[str, Any], ttl_s: float
) -> dict[str, Any]:
    """:func:`store_if_cacheable` for a coroutine: awaited when the backend has ``aset``."""
    if is_cacheable(message):
        if isinstance(cache, AsyncResponseCache):
            await cache.aset(key, message, ttl_s)
        else:
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
    """:func:`cached_call` for a coroutine ``call``: a backend with ``aget``/``aset`` (Redis)
    is awaited, never blocking the event loop; others (memory) are called directly."""
    if cache is None or not use_cache:
        return await call()
    _check_ttl(ttl_s)
    key = request_key(params)
    hit = await get_async(cache, key)
    if on_lookup is not None:
        on_lookup(hit is not None)
    if hit is not None:
        return hit
    return await store_if_cacheable_async(cache, key, await call(), ttl_s)
