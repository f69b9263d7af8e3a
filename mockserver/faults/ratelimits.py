"""Rate limits as the real API keeps them: token buckets per (API key, model class), the 429 a
short bucket answers, and the ``anthropic-ratelimit-*`` headers every response carries.

Pure: time is passed in (``now``, engine seconds; ``wall_offset`` turns it into epoch seconds for
the RFC 3339 reset times). A scenario without ``rate_limits`` still answers with the headers of
:data:`DEFAULT_TIER`, a generous tier that never limits (:func:`tier_headers`).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from mockserver.faults.buckets import TokenBucket
from mockserver.faults.compiled import CompiledLimits, CompiledRateLimits
from mockserver.faults.decision import Decision, HttpError, RequestFacts
from mockserver.faults.errors import format_seconds

# The limits announced when the scenario has no rate_limits: far above what a test or a load
# test on one machine sends, so that the buckets stay full and nothing is ever refused.
DEFAULT_TIER = CompiledLimits("default-tier", 100_000, 100_000_000, 20_000_000)

_RFC3339_CACHE: dict[int, str] = {}


def rfc3339(epoch: float) -> str:
    """RFC 3339 UTC, whole seconds rounded up (a reset is never announced early). Pure; memoised."""
    second = math.ceil(epoch)
    text = _RFC3339_CACHE.get(second)
    if text is None:
        if len(_RFC3339_CACHE) >= 4096:
            _RFC3339_CACHE.clear()
        text = _RFC3339_CACHE[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return text


@dataclass(slots=True)
class KeyBuckets:
    """The buckets of one (API key, model class)."""

    limits: CompiledLimits
    requests: TokenBucket | None
    input_tokens: TokenBucket | None
    output_tokens: TokenBucket | None
    # (bucket, header-name prefix, limit as text, is a token bucket), for the response headers
    rows: tuple[tuple[TokenBucket, str, str, bool], ...] = ()

    def __post_init__(self) -> None:
        rows = []
        for name, bucket, limit in (
            ("requests", self.requests, self.limits.requests),
            ("input-tokens", self.input_tokens, self.limits.input_tokens),
            ("output-tokens", self.output_tokens, self.limits.output_tokens),
        ):
            if bucket is not None and limit is not None:
                rows.append((bucket, f"anthropic-ratelimit-{name}-", str(limit), name != "requests"))
        self.rows = tuple(rows)


# At most this many (API key, model class) bucket sets are kept. A set whose buckets are all
# full again holds nothing a fresh one would not, so it is dropped first; past the cap the oldest
# sets go too (their key starts again with full buckets), down to EVICT_TO of the cap, so that a
# sweep is paid once per tenth of the cap of new keys, not on every request.
MAX_KEY_BUCKETS = 10_000
EVICT_TO = 0.9


def is_full(kb: KeyBuckets, now: float) -> bool:
    """Whether every bucket of ``kb`` is full at ``now`` (a fresh set would behave the same)."""
    for bucket in (kb.requests, kb.input_tokens, kb.output_tokens):
        if bucket is not None and bucket.available(now) < bucket.capacity:
            return False
    return True


def evict(buckets: dict[tuple[str, str], KeyBuckets], now: float, cap: int = MAX_KEY_BUCKETS) -> int:
    """Drop the full bucket sets, then the oldest ones while more than ``EVICT_TO`` of ``cap``
    remain; returns how many went."""
    before = len(buckets)
    for key in [k for k, kb in buckets.items() if is_full(kb, now)]:
        del buckets[key]
    keep = int(cap * EVICT_TO)
    if len(buckets) > keep:
        for key in list(itertools.islice(buckets, len(buckets) - keep)):  # insertion order: oldest first
            del buckets[key]
    return before - len(buckets)


def key_buckets(
    buckets: dict[tuple[str, str], KeyBuckets],
    facts: RequestFacts,
    limits: CompiledLimits,
    now: float,
    cap: int = MAX_KEY_BUCKETS,
) -> KeyBuckets:
    key = (facts.api_key_id, limits.name)
    kb = buckets.get(key)
    if kb is None:
        if len(buckets) >= cap:
            evict(buckets, now, cap)
        kb = KeyBuckets(
            limits,
            TokenBucket.per_minute(limits.requests, now) if limits.requests else None,
            TokenBucket.per_minute(limits.input_tokens, now) if limits.input_tokens else None,
            TokenBucket.per_minute(limits.output_tokens, now) if limits.output_tokens else None,
        )
        buckets[key] = kb
    return kb


def ratelimit_headers(kb: KeyBuckets, now: float, wall_offset: float) -> dict[str, str]:
    """The anthropic-ratelimit-* headers: limit, remaining (whole tokens) and the RFC 3339 time
    at which the bucket is full again. Buckets were refilled to ``now`` by the caller."""
    headers: dict[str, str] = {}
    best: tuple[int, str, float] | None = None  # the most restrictive token bucket
    base = now + wall_offset
    for bucket, prefix, limit, is_tokens in kb.rows:
        remaining = int(bucket.level)
        full_at = base + (bucket.capacity - bucket.level) / bucket.per_s
        headers[prefix + "limit"] = limit
        headers[prefix + "remaining"] = str(remaining)
        headers[prefix + "reset"] = rfc3339(full_at)
        if is_tokens and (best is None or remaining < best[0]):
            best = (remaining, limit, full_at)
    if best is not None:
        headers["anthropic-ratelimit-tokens-limit"] = best[1]
        headers["anthropic-ratelimit-tokens-remaining"] = str(best[0])
        headers["anthropic-ratelimit-tokens-reset"] = rfc3339(best[2])
    return headers


def tier_headers(limits: CompiledLimits, wall: float) -> dict[str, str]:
    """The headers of full buckets of ``limits`` at epoch ``wall`` (the default tier's, which
    nothing ever draws from: every bucket is full, so each resets now)."""
    kb = KeyBuckets(
        limits,
        TokenBucket.per_minute(limits.requests, 0.0) if limits.requests else None,
        TokenBucket.per_minute(limits.input_tokens, 0.0) if limits.input_tokens else None,
        TokenBucket.per_minute(limits.output_tokens, 0.0) if limits.output_tokens else None,
    )
    return ratelimit_headers(kb, 0.0, wall)


def rate_limit(
    facts: RequestFacts,
    now: float,
    buckets: dict[tuple[str, str], KeyBuckets],
    rl: CompiledRateLimits,
    limits: CompiledLimits,
    reason: dict[str, Any],
) -> tuple[Decision | None, KeyBuckets]:
    """Take the request's tokens, or answer 429 (taking nothing) when a bucket is short."""
    kb = key_buckets(buckets, facts, limits, now)
    needs = (
        ("requests", kb.requests, 1, limits.requests),
        ("input tokens", kb.input_tokens, facts.input_tokens, limits.input_tokens),
        ("output tokens", kb.output_tokens, facts.max_tokens, limits.output_tokens),
    )
    worst_wait = 0.0
    worst: tuple[str, int | None, TokenBucket] | None = None
    for what, bucket, amount, limit in needs:
        if bucket is None:
            continue
        bucket.refill(now)
        if amount > bucket.level:
            wait = math.inf if amount > bucket.capacity else (amount - bucket.level) / bucket.per_s
            if wait > worst_wait or worst is None:
                worst_wait, worst = wait, (what, limit, bucket)
    reason["model_class"] = limits.name
    if worst is None:
        for _what, bucket, amount, _limit in needs:
            if bucket is not None:
                bucket.level -= amount
        reason["buckets"] = levels(kb)
        return None, kb
    reason["buckets"] = levels(kb)
    what, limit, short = worst
    reason["source"] = "rate_limit"
    reason["limit"] = what
    reason["wait_s"] = worst_wait if math.isfinite(worst_wait) else None
    reason["fault"] = "429"
    message = (
        f"This request would exceed your rate limit of {limit} {what} per minute "
        f"(model class {limits.name}). Please retry after the time in the retry-after header."
        if math.isfinite(worst_wait)
        else f"This request needs more {what} than your rate limit of {limit} {what} per minute allows "
        f"(model class {limits.name})."
    )
    error = HttpError(429, "rate_limit_error", message, _retry_headers(rl, worst_wait, short))
    return Decision(error=error, reason=reason), kb


def _retry_headers(rl: CompiledRateLimits, wait: float, short: TokenBucket) -> dict[str, str]:
    """retry-after (whole seconds, at least 1) of a refused request: the time until it fits, or,
    for a request larger than the bucket, until the bucket is full; none when the scenario
    says ``retry_after: false``. retry-after-ms, the exact wait, when asked for."""
    headers: dict[str, str] = {}
    if not math.isfinite(wait):
        wait = (short.capacity - short.level) / short.per_s
    if rl.retry_after:
        headers["retry-after"] = str(max(1, math.ceil(wait)))
    if rl.retry_after_ms:
        headers["retry-after-ms"] = format_seconds(round(wait * 1000.0, 3))
    return headers


def levels(kb: KeyBuckets) -> dict[str, float]:
    found: dict[str, float] = {}
    if kb.requests is not None:
        found["requests"] = kb.requests.level
    if kb.input_tokens is not None:
        found["input"] = kb.input_tokens.level
    if kb.output_tokens is not None:
        found["output"] = kb.output_tokens.level
    return found
