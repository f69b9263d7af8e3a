"""Client-side Prometheus metrics, without prometheus-client.

* :class:`Registry` holds counters and gauges (with labels) and renders the text exposition
  format (version 0.0.4) with :meth:`Registry.render`.
* :class:`PolicyMetrics` is an event hook for the resilience policy
  (``Policy(on_event=PolicyMetrics(registry))`` or ``PolicyMetrics().attach(policy)``):
  attempts, retries, fallbacks, give-ups, breaker state, cache hits and the recent 529 rate.

Typical use::

    metrics = PolicyMetrics().attach(client.policy)
    MetricsExporter(metrics.registry, port=9464).start()   # GET http://127.0.0.1:9464/metrics
* :class:`RunnerMetrics` does the same for the document runner's attempt outcomes.
* :class:`MetricsExporter` serves ``GET /metrics`` on 127.0.0.1 from a background thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from resilience.instrumentation.alerts import SlidingWindowRate

if TYPE_CHECKING:  # pragma: no cover
    from resilience.instrumentation.events import Event

__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "MetricsExporter",
    "PolicyMetrics",
    "Registry",
    "RunnerAttempt",
    "RunnerMetrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")


def _check_name(name: str, what: str) -> None:
    if not name or name[0].isdigit() or any(c not in _NAME_OK for c in name):
        raise ValueError(f"invalid Prometheus {what} name {name!r}")
    if what == "label" and (":" in name or name.startswith("__")):
        raise ValueError(f"invalid Prometheus label name {name!r}")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> None:
        _check_name(name, "metric")
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        for label in self.labelnames:
            _check_name(label, "label")
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], float] = {}

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {list(self.labelnames)}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return sorted(self._values.items())

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for key, value in self.samples():
            if key:
                pairs = ",".join(
                    f'{n}="{_escape_label(v)}"' for n, v in zip(self.labelnames, key, strict=True)
                )
                out.append(f"{self.name}{{{pairs}}} {_format_value(value)}")
            else:
                out.append(f"{self.name} {_format_value(value)}")
        return out


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name!r}")
        super().__init__(name, help_text, labelnames)
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0 or math.isnan(amount):
            raise ValueError(f"a counter only goes up; got {amount!r}")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Iterable[str] = (),
        *,
        read: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        if read is not None and self.labelnames:
            raise ValueError("a gauge read by a callback has no labels")
        self._read = read

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        if self._read is not None:
            return [((), float(self._read()))]
        return super().samples()


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> Any:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name!r} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Counter:
        metric: Counter = self._add(Counter(name, help_text, labelnames))
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        labelnames: Iterable[str] = (),
        *,
        read: Callable[[], float] | None = None,
    ) -> Gauge:
        metric: Gauge = self._add(Gauge(name, help_text, labelnames, read=read))
        return metric

    def get(self, name: str) -> _Metric:
        return self._metrics[name]

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


def _status_label(status: int | None) -> str:
    return "none" if status is None else str(status)


_BREAKER_VALUE = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class _OverloadRate:
    """The 529 rate over a sliding window, read by a gauge (thread-safe)."""

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self._window = SlidingWindowRate(window_s)
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, overloaded: bool) -> None:
        with self._lock:
            self._window.add(self._clock(), overloaded)

    def read(self) -> float:
        with self._lock:
            return self._window.rate(self._clock())


class _WindowedMetrics:
    """What both metric sets share: a registry (a new one unless given), metric names under
    ``prefix`` (the class's ``DEFAULT_PREFIX`` unless given), the metrics of :meth:`_define`,
    then the 529 rate over the last ``window_s`` seconds as a gauge."""

    DEFAULT_PREFIX = "busysignal"

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        prefix: str | None = None,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry or Registry()
        name = self.DEFAULT_PREFIX if prefix is None else prefix
        self._define(self.registry, name)
        self._overload = _OverloadRate(window_s, clock)
        self.overload_rate = self.registry.gauge(
            f"{name}_overload_rate",
            f"Fraction of attempts answered 529 over the last {window_s:g} s",
            read=self._overload.read,
        )

    def _define(self, r: Registry, p: str) -> None:
        raise NotImplementedError


class PolicyMetrics(_WindowedMetrics):
    """An event hook for the resilience policy that keeps Prometheus metrics (names under
    ``prefix``, default ``busysignal_client``).

    Call it with each policy event (``Policy(on_event=metrics)``). Unknown events are ignored,
    so a newer policy cannot break an older exporter.
    """

    DEFAULT_PREFIX = "busysignal_client"

    def _define(self, r: Registry, p: str) -> None:
        self.attempts = r.counter(
            f"{p}_attempts_total", "Attempts sent, by model and HTTP status", ["model", "status"]
        )
        self.retries = r.counter(
            f"{p}_retries_total", "Retries scheduled, by model and failure kind", ["model", "kind"]
        )
        self.fallbacks = r.counter(
            f"{p}_fallbacks_total", "Calls moved to a fallback model", ["from_model", "to_model", "reason"]
        )
        self.give_ups = r.counter(
            f"{p}_give_ups_total", "Calls given up on a model, by reason", ["model", "reason"]
        )
        self.breaker_state = r.gauge(
            f"{p}_breaker_state", "Circuit breaker state per model: 0 closed, 1 half-open, 2 open", ["model"]
        )
        self.breaker_changes = r.counter(
            f"{p}_breaker_transitions_total",
            "Circuit breaker transitions, by model and new state",
            ["model", "state"],
        )
        self.calls = r.counter(f"{p}_calls_total", "Calls through the policy, by outcome", ["outcome"])
        self.cache = r.counter(f"{p}_cache_lookups_total", "Response cache lookups, by result", ["result"])

    def attach(self, policy: Any) -> PolicyMetrics:
        """Subscribe to ``policy``'s events (``Policy.subscribe``); returns self."""
        policy.subscribe(self)
        return self

    def cache_lookup(self, hit: bool) -> None:
        """``on_lookup`` hook of :func:`resilience.cache.cached_call`."""
        self.cache.inc(result="hit" if hit else "miss")

    def __call__(self, event: Event) -> None:
        from resilience.instrumentation import events as ev

        if isinstance(event, ev.AttemptFinished):
            self.attempts.inc(model=event.model, status=_status_label(event.status if not event.ok else 200))
            # a 529, or an overloaded_error event inside a 200 stream (what would have been a 529)
            self._overload.add(event.status == 529 or (not event.ok and event.kind == "overloaded"))
        elif isinstance(event, ev.RetryScheduled):
            self.retries.inc(model=event.model, kind=event.kind)
        elif isinstance(event, ev.FallbackTaken):
            self.fallbacks.inc(from_model=event.from_model, to_model=event.to_model, reason=event.reason)
        elif isinstance(event, ev.GaveUp):
            self.give_ups.inc(model=event.model, reason=event.reason)
        elif isinstance(event, ev.BreakerChanged):
            new = str(event.new.value)
            self.breaker_state.set(_BREAKER_VALUE.get(new, -1.0), model=event.model)
            self.breaker_changes.inc(model=event.model, state=new)
        elif isinstance(event, ev.CallFinished):
            outcome = "cached" if event.cached else ("ok" if event.ok else "failed")
            self.calls.inc(outcome=outcome)
            if event.cached:
                self.cache.inc(result="hit")


class RunnerAttempt(Protocol):
    """What :class:`RunnerMetrics` reads of one attempt's outcome (the document runner's
    ``AttemptOutcome`` is one): its HTTP status (None: no response), whether it got a message,
    and whether a request was sent at all."""

    @property
    def status(self) -> int | None: ...

    @property
    def ok(self) -> bool: ...

    @property
    def sent(self) -> bool: ...


class RunnerMetrics(_WindowedMetrics):
    """Metrics of the document runner, fed with its attempt outcomes (names under ``prefix``,
    default ``busysignal_runner``)."""

    DEFAULT_PREFIX = "busysignal_runner"

    def _define(self, r: Registry, p: str) -> None:
        self.attempts = r.counter(
            f"{p}_attempts_total", "Attempts made for documents, by HTTP status", ["status"]
        )
        self.requeues = r.counter(
            f"{p}_requeues_total", "Documents put back in the queue after a failed attempt"
        )

    def observe_attempt(self, outcome: RunnerAttempt) -> None:
        """One outcome for a document. Only one that sent a request counts as an attempt and
        in the 529 rate (a cache hit or a breaker's refusal sent none)."""
        if outcome.sent:
            self.attempts.inc(status=_status_label(outcome.status))
            self._overload.add(outcome.status == 529)
        if not outcome.ok:
            self.requeues.inc()


class MetricsExporter:
    """``GET /metrics`` on ``host:port`` (127.0.0.1 only; port 0 picks a free one)."""

    def __init__(self, registry: Registry, *, port: int = 0, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the metrics exporter binds to loopback only, not {host!r}")
        registry_ref = registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                body = registry_ref.render().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> MetricsExporter:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="busysignal-metrics", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MetricsExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
