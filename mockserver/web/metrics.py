"""Counters for /_busysignal/stats (resettable) and /metrics (Prometheus text, monotonic).

The hot path does one dict increment per request for each view, keyed by the outcome
(route, status, model, error type, fault, client gone); the per-dimension counts are summed
when someone reads them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping
from typing import Any

from mockserver.journal import JournalEntry

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

_FIRST_BUCKET = LATENCY_BUCKETS[0]

# (route, path, status, model, error_type, fault, client_gone)
Outcome = tuple[str, str, int | None, str | None, str | None, str | None, bool]


def outcome_of(e: JournalEntry, route: str) -> Outcome:
    return (route, e.path, e.status, e.model, e.error_type, e.fault, e.client_gone)


def _sum(counts: Counter[Outcome], index: int) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, n in counts.items():
        value = key[index]
        if value is not None:
            out[str(value)] += n
    return dict(out)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Prometheus counters and a latency histogram; never reset while the server lives."""

    def __init__(self) -> None:
        self.counts: Counter[Outcome] = Counter()
        self.bytes_sent = 0
        self.events_sent = 0
        self.bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def record(self, e: JournalEntry, route: str) -> None:
        counts = self.counts
        key = (route, e.path, e.status, e.model, e.error_type, e.fault, e.client_gone)
        counts[key] = counts.get(key, 0) + 1
        self.bytes_sent += e.bytes_sent
        self.events_sent += e.events_sent
        end = e.end
        if end is not None:
            latency = end - e.start
            # bisect_left(LATENCY_BUCKETS, latency), with the first bucket (most answers) tested inline
            at = 0 if latency <= _FIRST_BUCKET else bisect_left(LATENCY_BUCKETS, latency)
            self.bucket_counts[at] += 1
            self.latency_sum += latency

    def render(self, *, in_flight: int, journal_len: int, journal_size: int) -> str:
        requests: Counter[tuple[str, str, str]] = Counter()
        errors: Counter[str] = Counter()
        faults: Counter[str] = Counter()
        client_gone = 0
        for (route, _path, status, model, error_type, fault, gone), n in self.counts.items():
            requests[(route, "none" if status is None else str(status), model or "")] += n
            if error_type is not None:
                errors[error_type] += n
            if fault is not None:
                faults[fault] += n
            if gone:
                client_gone += n
        lines = [
            "# HELP busysignal_requests_total Requests answered by the mock, by route, status and model.",
            "# TYPE busysignal_requests_total counter",
        ]
        for (route_label, status_label, model_label), n in sorted(requests.items()):
            labels = f'route="{_label(route_label)}",status="{status_label}",model="{_label(model_label)}"'
            lines.append(f"busysignal_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP busysignal_errors_total Anthropic error types sent (HTTP errors and SSE error events).",
            "# TYPE busysignal_errors_total counter",
        ]
        lines += [f'busysignal_errors_total{{type="{_label(t)}"}} {n}' for t, n in sorted(errors.items())]
        lines += [
            "# HELP busysignal_faults_total Faults applied by the fault engine, by kind.",
            "# TYPE busysignal_faults_total counter",
        ]
        lines += [f'busysignal_faults_total{{fault="{_label(f)}"}} {n}' for f, n in sorted(faults.items())]
        lines += [
            "# HELP busysignal_response_bytes_total Response body bytes sent.",
            "# TYPE busysignal_response_bytes_total counter",
            f"busysignal_response_bytes_total {self.bytes_sent}",
            "# HELP busysignal_sse_events_total SSE events sent.",
            "# TYPE busysignal_sse_events_total counter",
            f"busysignal_sse_events_total {self.events_sent}",
            "# HELP busysignal_client_gone_total Requests whose client went away before the response ended.",
            "# TYPE busysignal_client_gone_total counter",
            f"busysignal_client_gone_total {client_gone}",
            "# HELP busysignal_in_flight Requests being answered now.",
            "# TYPE busysignal_in_flight gauge",
            f"busysignal_in_flight {in_flight}",
            "# HELP busysignal_journal_entries Entries held in the journal ring buffer.",
            "# TYPE busysignal_journal_entries gauge",
            f"busysignal_journal_entries {journal_len}",
            "# HELP busysignal_journal_capacity Size of the journal ring buffer.",
            "# TYPE busysignal_journal_capacity gauge",
            f"busysignal_journal_capacity {journal_size}",
            "# HELP busysignal_request_duration_seconds Time from arrival to the end of the response.",
            "# TYPE busysignal_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip(LATENCY_BUCKETS, self.bucket_counts, strict=False):
            cumulative += n
            lines.append(f'busysignal_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
        cumulative += self.bucket_counts[-1]
        lines.append(f'busysignal_request_duration_seconds_bucket{{le="+Inf"}} {cumulative}')
        lines.append(f"busysignal_request_duration_seconds_sum {self.latency_sum}")
        lines.append(f"busysignal_request_duration_seconds_count {cumulative}")
        return "\n".join(lines) + "\n"


class Stats:
    """Counts by status, error type, model, fault and path since the last reset.

    A view on the metrics' counter: a reset takes a snapshot, the stats are the difference
    (so the hot path counts each request once)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.base: Counter[Outcome] = Counter()

    def reset(self) -> None:
        self.base = Counter(self.metrics.counts)

    @property
    def counts(self) -> Counter[Outcome]:
        return self.metrics.counts - self.base

    def to_dict(self, in_flight: int) -> dict[str, Any]:
        counts = self.counts
        by_status = _sum(counts, 2)
        no_status = sum(n for k, n in counts.items() if k[2] is None)
        if no_status:
            by_status["none"] = no_status
        return {
            "requests": sum(counts.values()),
            "in_flight": in_flight,
            "by_status": by_status,
            "by_error_type": _sum(counts, 4),
            "by_model": _sum(counts, 3),
            "by_fault": _sum(counts, 5),
            "by_path": _sum(counts, 1),
            "client_gone": sum(n for k, n in counts.items() if k[6]),
        }


def render_refused(malformed: Mapping[str, int], too_large: int, bad_encoding: int) -> str:
    """The counters of requests refused before they reach a route (see mockserver.web.protocol_errors and
    mockserver.web.bodies): malformed HTTP by kind, and bodies over their limit or not their coding."""
    lines = [
        "# HELP busysignal_malformed_requests_total Requests that were not valid HTTP, by kind.",
        "# TYPE busysignal_malformed_requests_total counter",
    ]
    lines += [
        f'busysignal_malformed_requests_total{{kind="{_label(k)}"}} {n}' for k, n in sorted(malformed.items())
    ]
    lines += [
        "# HELP busysignal_bodies_refused_total Bodies refused: over the route's limit, or not their coding.",
        "# TYPE busysignal_bodies_refused_total counter",
        f'busysignal_bodies_refused_total{{reason="too_large"}} {too_large}',
        f'busysignal_bodies_refused_total{{reason="bad_encoding"}} {bad_encoding}',
    ]
    return "\n".join(lines) + "\n"
