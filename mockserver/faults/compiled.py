"""Scenario models compiled, at load time, into the small immutable objects ``decide`` walks.

Everything that can be worked out before the first request is: wildcard patterns become exact
comparisons or compiled regular expressions, faults become ready-made Decision parts, schedules
become interval tests, random streams get their keys.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from mockserver.faults import kinds, rng
from mockserver.faults.decision import ConnectionFault, HttpError, Refusal, StreamFault
from mockserver.faults.errors import DEFAULT_RETRY_AFTER_S, format_seconds
from mockserver.faults.latency import Latency
from mockserver.faults.timeline import Span, spans_of
from mockserver.wire import paths
from mockserver.wire.errors import default_error
from scenarios.schema import (
    Capacity,
    FaultSpec,
    LatencySpec,
    Limits,
    Match,
    Patterns,
    RateLimits,
    Rule,
    Scenario,
    When,
)

Matcher = Callable[[str], bool]
_CACHE_LIMIT = 4096


def compile_patterns(patterns: Patterns | None) -> Matcher | None:
    """A predicate for shell-wildcard patterns (None: no condition)."""
    if patterns is None:
        return None
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    if any(p == "*" for p in items):
        return lambda _value: True
    exact = frozenset(p for p in items if not any(c in p for c in "*?["))
    wild = [p for p in items if p not in exact]
    if not wild:
        return exact.__contains__
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in wild))
    cache: dict[str, bool] = {}

    def match(value: str) -> bool:
        hit = cache.get(value)
        if hit is None:
            hit = value in exact or regex.match(value) is not None
            if len(cache) < _CACHE_LIMIT:
                cache[value] = hit
        return hit

    return match


class PathPatterns:
    """Request paths, as shell-wildcard patterns, tested with ``in`` (a rate limit's or a capacity
    model's ``paths``: ``/v1/messages``, ``/v1/files*``, ...)."""

    __slots__ = ("_match", "patterns")

    def __init__(self, patterns: list[str] | tuple[str, ...]) -> None:
        self.patterns = tuple(patterns)
        self._match = compile_patterns(list(patterns)) or (lambda _value: False)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._match(path)

    def __repr__(self) -> str:
        return f"PathPatterns({list(self.patterns)!r})"


# a rule that names no path covers the routes that run a model, and no other (wire.paths)
_MODEL_ROUTES: Matcher = frozenset(paths.MODEL_ROUTES).__contains__


@dataclass(frozen=True, slots=True)
class CompiledFault:
    label: str  # what the journal/reason calls it: "529", "reset", "stream_error_event" ...
    error: HttpError | None = None
    connection: ConnectionFault | None = None
    stream: StreamFault | None = None
    refusal: Refusal | None = None


def compile_fault(spec: FaultSpec) -> CompiledFault:
    if spec.error is not None:
        e = spec.error
        etype, emsg = default_error(e.status)
        headers: dict[str, str] = {}
        retry_after = e.retry_after_s
        if retry_after is None and e.status == 429 and "retry_after_s" not in e.model_fields_set:
            retry_after = DEFAULT_RETRY_AFTER_S  # every 429 says when, as the real API's do
        if retry_after is not None:
            headers["retry-after"] = format_seconds(retry_after)
        if e.retry_after_ms is not None:
            headers["retry-after-ms"] = format_seconds(e.retry_after_ms)
        if e.should_retry is not None:
            headers["x-should-retry"] = "true" if e.should_retry else "false"
        headers.update({k.lower(): v for k, v in e.headers.items()})
        error = HttpError(e.status, e.type or etype, e.message or emsg, headers)
        label = str(e.status) if e.should_retry is not False else f"{e.status}-no-retry"
        return CompiledFault(label, error=error)
    if spec.connection is not None:
        c = spec.connection
        return CompiledFault(kinds.label("connection", c.kind), connection=ConnectionFault(c.kind, c.hang_s))
    if spec.refusal is not None:
        r = spec.refusal
        return CompiledFault(
            kinds.BY_NAME["refusal"].label, refusal=Refusal(r.category, r.explanation, r.recommended_model)
        )
    assert spec.stream is not None
    s = spec.stream
    return CompiledFault(
        kinds.label("stream", s.kind),
        stream=StreamFault(s.kind, s.after_events, s.error_type, s.message, s.stall_s),
    )


def compile_latency(spec: LatencySpec | None) -> Latency | None:
    if spec is None:
        return None
    if spec.fixed_s is not None:
        return Latency.fixed(spec.fixed_s)
    if spec.uniform_s is not None:
        return Latency.uniform(*spec.uniform_s)
    assert spec.lognormal is not None
    return Latency.lognormal(spec.lognormal.median_s, spec.lognormal.p99_s)


TimeTest = Callable[[float], bool]


def _periodic(period: float, spans: tuple[tuple[float, float], ...]) -> TimeTest:
    def test(t: float) -> bool:
        x = t % period
        for a, b in spans:  # noqa: SIM110 - a plain loop: any() with a generator is slower here
            if a <= x < b:
                return True
        return False

    return test


def compile_when(when: When) -> tuple[TimeTest | None, list[float | None] | None]:
    """A predicate on scenario time, and the fixed window (for the reason), if any."""
    tests: list[TimeTest] = []
    window: list[float | None] | None = None  # for the reason (JSON: an open end is null)
    if when.window is not None:
        start = when.window.start_s
        end = when.window.end_s if when.window.end_s is not None else float("inf")
        window = [start, when.window.end_s]
        tests.append(lambda t: start <= t < end)
    if when.schedule is not None:
        period = when.schedule.period_s
        spans = tuple((w.start_s, w.end_s if w.end_s is not None else period) for w in when.schedule.windows)
        tests.append(_periodic(period, spans))
    if when.day is not None:
        length = when.day.length_s
        hour_spans = tuple((a * length / 24.0, b * length / 24.0) for a, b in when.day.hours)
        tests.append(_periodic(length, hour_spans))
    if not tests:
        return None, None
    if len(tests) == 1:
        return tests[0], window
    return (lambda t: all(test(t) for test in tests)), window


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    id: str
    path: Matcher
    method: Matcher | None
    model: Matcher | None
    stream: bool | None
    api_key: Matcher | None
    headers: tuple[tuple[str, Matcher], ...]
    when: TimeTest | None
    window: list[float | None] | None
    sequence: tuple[CompiledFault | None, ...] | None
    repeat: bool
    probability: float | None
    every: int | None
    after: int | None
    scope: str
    uses_counter: bool
    fault: CompiledFault | None
    latency: Latency | None
    ttft_s: float | None
    tokens_per_s: float | None
    random_key: int  # random stream of this rule's probability draws
    latency_key: int  # random stream of this rule's latency draws
    terminal: bool  # decides the fault (a fault or a sequence), as opposed to a pure modifier
    has_tokens: bool  # sets ttft_s / tokens_per_s
    dynamic: bool  # has conditions beyond (method, path, model, stream): key, headers, time
    only_probability: bool  # the trigger is a bare probability (the fast path)
    threshold: float  # the probability, or 1.0 when there is none
    # the dynamic conditions are only one fixed window (no key, headers, schedule or day):
    # ``when(t)`` is then ``window_start <= t < window_end``, tested without a call
    only_window: bool = False
    window_start: float = 0.0
    window_end: float = float("inf")
    speed: str | None = None  # the request's speed ("fast" | "standard"; no speed sent: standard)

    def static_match(self, method: str, path: str, model: str | None, stream: bool) -> bool:
        """The conditions that depend only on (method, path, model, stream): cacheable per request shape."""
        if self.stream is not None and self.stream != stream:
            return False
        if not self.path(path):
            return False
        if self.model is not None and not self.model(model or ""):
            return False
        return self.method is None or self.method(method)


class _CompiledMatch(NamedTuple):
    path: Matcher
    method: Matcher | None
    model: Matcher | None
    api_key: Matcher | None
    headers: tuple[tuple[str, Matcher], ...]


def _compile_match(match: Match) -> _CompiledMatch:
    headers = tuple(
        (name.lower(), m) for name, pat in match.headers.items() if (m := compile_patterns(pat)) is not None
    )
    return _CompiledMatch(
        _MODEL_ROUTES if match.path is None else (compile_patterns(match.path) or _MODEL_ROUTES),
        compile_patterns(match.method),
        compile_patterns(match.model),
        compile_patterns(match.api_key_id),
        headers,
    )


def _only_window(when: When, m: _CompiledMatch) -> tuple[bool, float, float]:
    """Whether the rule's only dynamic condition is one fixed window (no key, headers, schedule or
    day), and that window's [start, end)."""
    w = when.window
    if w is None or when.schedule is not None or when.day is not None or m.api_key is not None or m.headers:
        return False, 0.0, float("inf")
    return True, w.start_s, w.end_s if w.end_s is not None else float("inf")


def _stream_condition(
    stream: bool | None, fault: CompiledFault | None, sequence: tuple[CompiledFault | None, ...] | None
) -> bool | None:
    """The rule's ``stream`` condition: as written, or true when all its faults are stream faults
    (a stream fault only means something on a streamed response)."""
    faults = [fault] if fault is not None else [f for f in (sequence or ()) if f is not None]
    if stream is None and faults and all(f.stream is not None for f in faults):
        return True
    return stream


def compile_rule(index: int, rule: Rule, seed: int) -> CompiledRule:
    rid = rule.id or f"rule-{index}"
    m = _compile_match(rule.match)
    when, window = compile_when(rule.when)
    trig = rule.trigger
    fault = compile_fault(rule.fault) if rule.fault is not None else None
    sequence = None
    if trig.sequence is not None:
        sequence = tuple(compile_fault(f) if f is not None else None for f in trig.sequence)
    only_window, window_start, window_end = _only_window(rule.when, m)
    counted = trig.every is not None or trig.after is not None
    return CompiledRule(
        index=index,
        id=rid,
        path=m.path,
        method=m.method,
        model=m.model,
        stream=_stream_condition(rule.match.stream, fault, sequence),
        api_key=m.api_key,
        headers=m.headers,
        when=when,
        window=window,
        sequence=sequence,
        repeat=trig.repeat,
        probability=trig.probability,
        every=trig.every,
        after=trig.after,
        scope=trig.scope,
        uses_counter=sequence is not None or counted,
        fault=fault,
        latency=compile_latency(rule.latency),
        ttft_s=rule.tokens.ttft_s if rule.tokens else None,
        tokens_per_s=rule.tokens.tokens_per_s if rule.tokens else None,
        random_key=rng.stream_key(seed, f"rule:{rid}:p"),
        latency_key=rng.stream_key(seed, f"rule:{rid}:latency"),
        terminal=fault is not None or sequence is not None,
        has_tokens=rule.tokens is not None,
        dynamic=m.api_key is not None or bool(m.headers) or when is not None or rule.match.speed is not None,
        only_probability=trig.probability is not None and sequence is None and not counted,
        threshold=trig.probability if trig.probability is not None else 1.0,
        only_window=only_window and rule.match.speed is None,
        window_start=window_start,
        window_end=window_end,
        speed=rule.match.speed,
    )


@dataclass(frozen=True, slots=True)
class CompiledLimits:
    name: str  # model class ("default" for the top-level limits)
    requests: int | None
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True, slots=True)
class CompiledRateLimits:
    paths: PathPatterns
    default: CompiledLimits | None
    classes: tuple[tuple[Matcher, CompiledLimits], ...]
    retry_after_ms: bool
    retry_after: bool = True  # a refused request gets retry-after (the scenario may say no)

    def limits_for(self, model: str | None) -> CompiledLimits | None:
        if model is not None:
            for match, limits in self.classes:
                if match(model):
                    return limits
        return self.default


def _limits(name: str, spec: Limits) -> CompiledLimits | None:
    if (
        spec.requests_per_minute is None
        and spec.input_tokens_per_minute is None
        and spec.output_tokens_per_minute is None
    ):
        return None
    return CompiledLimits(
        name, spec.requests_per_minute, spec.input_tokens_per_minute, spec.output_tokens_per_minute
    )


def compile_rate_limits(spec: RateLimits | None) -> CompiledRateLimits | None:
    if spec is None:
        return None
    classes: list[tuple[Matcher, CompiledLimits]] = []
    for name, cls in spec.classes.items():
        limits = _limits(name, cls)
        match = compile_patterns(cls.models)
        if limits is not None and match is not None:
            classes.append((match, limits))
    return CompiledRateLimits(
        PathPatterns(spec.paths),
        _limits("default", spec),
        tuple(classes),
        spec.retry_after_ms,
        spec.retry_after,
    )


@dataclass(frozen=True, slots=True)
class CompiledPool:
    index: int
    models: Matcher
    concurrency: int
    tokens_per_s: float | None
    stream_tokens_per_s: float
    ttft_s: float
    expected_output_tokens: int | None
    queue_size: int
    max_wait_s: float
    slowdown: float
    shed: CompiledFault
    shed_cost_s: float = 0.0
    shed_backlog_s: float = 10.0


@dataclass(frozen=True, slots=True)
class CompiledCapacity:
    paths: PathPatterns
    pools: tuple[CompiledPool, ...]
    client_gone_holds: bool
    changes: tuple[tuple[float, float, float, float | None], ...]

    pool_cache: dict[str | None, CompiledPool | None]

    def pool_for(self, model: str | None) -> CompiledPool | None:
        """The first pool whose models match (memoised per model: a pure function of it)."""
        try:
            return self.pool_cache[model]
        except KeyError:
            pass
        found = next((pool for pool in self.pools if pool.models(model or "")), None)
        if len(self.pool_cache) < _CACHE_LIMIT:
            self.pool_cache[model] = found
        return found


def compile_capacity(spec: Capacity | None) -> CompiledCapacity | None:
    if spec is None:
        return None
    pools = []
    for i, p in enumerate(spec.pools):
        models = compile_patterns(p.models)
        assert models is not None
        pools.append(
            CompiledPool(
                i,
                models,
                p.concurrency,
                p.tokens_per_s,
                p.stream_tokens_per_s,
                p.ttft_s,
                p.expected_output_tokens,
                p.queue_size,
                p.max_wait_s,
                p.slowdown,
                compile_fault(p.shed),
                p.shed_cost_s,
                p.shed_backlog_s,
            )
        )
    changes = tuple((c.start_s, c.end_s, c.factor, c.period_s) for c in spec.schedule)
    return CompiledCapacity(PathPatterns(spec.paths), tuple(pools), spec.client_gone_holds, changes, {})


@dataclass(frozen=True, slots=True)
class CompiledScenario:
    name: str
    description: str
    seed: int
    rules: tuple[CompiledRule, ...]
    override_header: str
    override_enabled: str
    rate_limits: CompiledRateLimits | None
    capacity: CompiledCapacity | None
    timeline: tuple[Span, ...] = ()  # the timed windows, for display (the rules hold their own tests)


def compile_scenario(scenario: Scenario, seed: int) -> CompiledScenario:
    return CompiledScenario(
        name=scenario.name,
        description=scenario.description,
        seed=seed,
        rules=tuple(compile_rule(i, r, seed) for i, r in enumerate(scenario.rules)),
        override_header=scenario.override.header.lower(),
        override_enabled=scenario.override.enabled,
        rate_limits=compile_rate_limits(scenario.rate_limits),
        capacity=compile_capacity(scenario.capacity),
        timeline=spans_of(scenario),
    )
