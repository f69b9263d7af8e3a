"""Counters for /_busysignal/stats (resettable) and /metrics (Prometheus text, monotonic)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
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


class Stats:
    """Counts by status, error type, model, fault and path since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_status: Counter[str] = Counter()
        self.by_error_type: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.client_gone = 0

    def record(self, e: JournalEntry) -> None:
        self.total += 1
        self.by_status[str(e.status) if e.status is not None else "none"] += 1
        if e.error_type is not None:
            self.by_error_type[e.error_type] += 1
        if e.model is not None:
            self.by_model[e.model] += 1
        if e.fault is not None:
            self.by_fault[e.fault] += 1
        self.by_path[e.path] += 1
        if e.client_gone:
            self.client_gone += 1

    def to_dict(self, in_flight: int) -> dict[str, Any]:
        return {
            "requests": self.total,
            "in_flight": in_flight,
            "by_status": dict(self.by_status),
            "by_error_type": dict(self.by_error_type),
            "by_model": dict(self.by_model),
            "by_fault": dict(self.by_fault),
            "by_path": dict(self.by_path),
            "client_gone": self.client_gone,
        }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Prometheus counters and a latency histogram; never reset while the server lives."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (route, status, model)
        self.errors: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.bytes_sent = 0
        self.events_sent = 0
        self.client_gone = 0
        self.bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def record(self, e: JournalEntry, route: str) -> None:
        self.requests[(route, str(e.status) if e.status is not None else "none", e.model or "")] += 1
        if e.error_type is not None:
            self.errors[e.error_type] += 1
        if e.fault is not None:
            self.faults[e.fault] += 1
        self.bytes_sent += e.bytes_sent
        self.events_sent += e.events_sent
        if e.client_gone:
            self.client_gone += 1
        if e.end is not None:
            latency = e.end - e.start
            self.bucket_counts[bisect_left(LATENCY_BUCKETS, latency)] += 1
            self.latency_sum += latency
            self.latency_count += 1

    def render(self, *, in_flight: int, journal_len: int, journal_size: int) -> str:
        lines = [
            "# HELP busysignal_requests_total Requests answered by the mock, by route, status and model.",
            "# TYPE busysignal_requests_total counter",
        ]
        for (route, status, model), n in sorted(self.requests.items()):
            labels = f'route="{_label(route)}",status="{status}",model="{_label(model)}"'
            lines.append(f"busysignal_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP busysignal_errors_total Anthropic error types sent (HTTP errors and SSE error events).",
            "# TYPE busysignal_errors_total counter",
        ]
        lines += [
            f'busysignal_errors_total{{type="{_label(t)}"}} {n}' for t, n in sorted(self.errors.items())
        ]
        lines += [
            "# HELP busysignal_faults_total Faults applied by the fault engine, by kind.",
            "# TYPE busysignal_faults_total counter",
        ]
        lines += [
            f'busysignal_faults_total{{fault="{_label(f)}"}} {n}' for f, n in sorted(self.faults.items())
        ]
        lines += [
            "# HELP busysignal_response_bytes_total Response body bytes sent.",
            "# TYPE busysignal_response_bytes_total counter",
            f"busysignal_response_bytes_total {self.bytes_sent}",
            "# HELP busysignal_sse_events_total SSE events sent.",
            "# TYPE busysignal_sse_events_total counter",
            f"busysignal_sse_events_total {self.events_sent}",
            "# HELP busysignal_client_gone_total Requests whose client went away before the response ended.",
            "# TYPE busysignal_client_gone_total counter",
            f"busysignal_client_gone_total {self.client_gone}",
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
        lines.append(f"busysignal_request_duration_seconds_count {self.latency_count}")
        return "\n".join(lines) + "\n"
