"""A journal as text a person reads in a test report: one block per logical request."""

from __future__ import annotations

from collections.abc import Sequence

from mockserver.journal import JournalEntry, logical_requests


def _ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def format_journal(entries: Sequence[JournalEntry], *, limit: int = 200) -> str:
    """Attempts grouped by logical request, with times relative to the first request, the gap
    before each retry, model, status, error type, fault and the SDK's retry count."""
    if not entries:
        return "(no requests reached the mock)"
    shown = list(entries)[:limit]
    t0 = min(e.start for e in shown)
    traces = logical_requests(shown)
    lines = [
        f"{len(entries)} requests, {len(traces)} logical requests"
        + (f" (first {limit} shown)" if len(entries) > limit else ""),
        "",
    ]
    header = "  " + " ".join(
        [
            f"{'seq':>4}",
            f"{'t (ms)':>8}",
            f"{'gap (ms)':>8}",
            f"{'status':>6} ",
            f"{'fault':<20}",
            f"{'retry#':>6} ",
        ]
    )
    header += " model / error"
    for n, t in enumerate(traces, 1):
        first = t.attempts[0]
        verdict = "answered" if t.succeeded else "not answered"
        lines.append(
            f"logical request {n} ({len(t.attempts)} attempts, {verdict}) {first.method} {first.path}"
        )
        lines.append(header)
        prev = None
        for a in t.attempts:
            gap = _ms(a.start - prev) if prev is not None else f"{'':>8}"
            prev = a.start
            status = "-" if a.status is None else str(a.status)
            fault = a.fault or ""
            rc = "-" if a.retry_count is None else str(a.retry_count)
            what = a.model or ""
            if a.error_type:
                what += f" / {a.error_type}"
            rule = a.reason.get("rule") or a.reason.get("source")
            if rule and a.fault is not None:
                what += f" [{rule}]"
            if a.client_gone:
                what += " (client went away)"
            lines.append(f"  {a.seq:>4} {_ms(a.start - t0)} {gap} {status:>6}  {fault:<20} {rc:>6}  {what}")
        lines.append("")
    return "\n".join(lines).rstrip()
