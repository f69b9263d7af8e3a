"""The eight conformance checks: pure functions from journal entries to a verdict with a figure.

Each check takes the entries of the probe that exercises it (or any journal a user hands it) and
returns a :class:`CheckResult` holding the verdict, the measured figure and a sentence a person can
act on. ``N/A`` means the journal holds nothing to judge (e.g. a client without a fallback chain);
it is not a failure, and not a pass (see :class:`~mockserver.conformance.verdicts.Score`). A client
that never retried has not "nothing to judge" under overload: the calls it lost are the verdict.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mockserver.conformance.verdicts import CheckResult, Verdict
from mockserver.conformance.verdicts import result as _result
from mockserver.journal import (
    AttemptTrace,
    Call,
    JournalEntry,
    calls,
    generation_entries,
    logical_requests,
    retry_starts,
    waits_by_step,
)

# The statuses a client must never retry (the spend-limit 429 is judged by a predicate).
FORBIDDEN_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 413})


def _retrying(entries: Sequence[JournalEntry]) -> list[AttemptTrace]:
    return [t for t in logical_requests(generation_entries(entries)) if len(t.attempts) >= 2]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def lost_without_retry(entries: Sequence[JournalEntry]) -> list[Call]:
    """Calls that met a failure worth retrying (overload, a server error, a dropped connection or
    an ordinary 429), never re-sent any request, and got no answer: what a client that does not
    retry loses under overload."""
    return [
        c
        for c in calls(generation_entries(entries))
        if not c.succeeded
        and len({a.logical_id for a in c.attempts}) == len(c.attempts)
        and any(
            a.is_server_side_failure or (a.status == 429 and not looks_like_spend_limit(a))
            for a in c.attempts
        )
    ]


def _lost(number: int, lost: Sequence[Call], what: str) -> CheckResult:
    kinds = ", ".join(sorted({a.failure_kind for c in lost for a in c.attempts}))
    return _result(
        number,
        Verdict.FAIL,
        f"{len(lost)} calls lost without a retry",
        f"{len(lost)} calls ended on their first answer ({kinds}) and were never retried, so there "
        f"{what}; a retry after a wait would have been answered.",
        lost=len(lost),
    )


# 1 ------------------------------------------------------------------------------------------------
def check_backs_off(
    entries: Sequence[JournalEntry], *, floor_s: float = 0.050, min_growth: float = 1.3
) -> CheckResult:
    """The waits between attempts have a floor and grow.

    Floor: at every retry step, the median wait is at least ``floor_s`` (a median, because full
    jitter legitimately draws some waits near zero; a client that retries at once has every wait
    near zero). Growth: the mean wait before the last retry step is at least ``min_growth`` times
    the mean wait before the first (judged when requests retried at least twice)."""
    traces = _retrying(entries)
    if not traces and (lost := lost_without_retry(entries)):
        return _lost(1, lost, "was no backoff at all")
    if not traces:
        return _result(
            1,
            Verdict.NOT_APPLICABLE,
            "no retries",
            "The client never retried, so there is no backoff to judge.",
        )
    steps = waits_by_step(traces)
    means = [statistics.fmean(s) for s in steps]
    medians = [statistics.median(s) for s in steps]
    lowest_median = min(medians)
    growth = means[-1] / means[0] if len(means) >= 2 and means[0] > 0 else None
    figure = "mean waits " + " → ".join(_ms(m) for m in means)
    if growth is not None:
        figure += f" (×{growth:.2f})"
    figure += f"; lowest median wait {_ms(lowest_median)} ({len(traces)} requests)"
    problems: list[str] = []
    if lowest_median < floor_s:
        k = medians.index(lowest_median)
        problems.append(
            f"before retry {k + 1} the median wait was {_ms(lowest_median)}, under the {_ms(floor_s)} floor"
        )
    if growth is not None and growth < min_growth:
        problems.append(f"waits grew only ×{growth:.2f} over {len(means)} retries (want ≥ ×{min_growth})")
    details = {"means": means, "medians": medians}
    if problems:
        return _result(1, Verdict.FAIL, figure, "; ".join(problems) + ".", **details)
    note = "" if growth is not None else " (one retry per request: growth not judged)"
    return _result(
        1,
        Verdict.PASS,
        figure,
        f"The retries waited (median ≥ {_ms(floor_s)} at every step) and the waits grew{note}.",
        **details,
    )


# 2 ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryAfterCase:
    """A probe for check 2: its entries and the wait the server asked for after each 429/529."""

    label: str
    entries: Sequence[JournalEntry]
    required_wait_s: float


def check_honours_retry_after(cases: Sequence[RetryAfterCase], *, tolerance_s: float = 0.005) -> CheckResult:
    """After a 429/529 that carried a retry-after, the next attempt waits at least that long."""
    figures: list[str] = []
    problems: list[str] = []
    judged = 0
    for case in cases:
        for t in logical_requests(generation_entries(case.entries)):
            # start-to-start: a compliant client cannot start sooner than the response plus the
            # wait, and the server may close its entry a moment after the client has the answer
            for prev, wait in zip(t.attempts, t.gaps, strict=False):
                if prev.status not in (429, 529):
                    continue
                judged += 1
                figures.append(f"{case.label}: asked {_ms(case.required_wait_s)}, waited {_ms(wait)}")
                if wait + tolerance_s < case.required_wait_s:
                    problems.append(
                        f"{case.label}: retried after {_ms(wait)} though the server asked for "
                        f"{_ms(case.required_wait_s)}"
                    )
    lost = [c for case in cases for c in lost_without_retry(case.entries)]
    if judged == 0 and lost:
        return _lost(2, lost, "was no wait for the retry-after the server sent")
    if judged == 0:
        return _result(
            2,
            Verdict.NOT_APPLICABLE,
            "no retries after a retry-after",
            "The client never retried a 429/529 that carried retry-after.",
        )
    figure = "; ".join(dict.fromkeys(figures))
    if problems:
        return _result(2, Verdict.FAIL, figure, "; ".join(dict.fromkeys(problems)) + ".", judged=judged)
    return _result(
        2, Verdict.PASS, figure, f"All {judged} retries waited at least what the server asked.", judged=judged
    )


# 3 ------------------------------------------------------------------------------------------------
def largest_group(times: Sequence[float], window_s: float) -> int:
    """The largest number of instants that fall within any window of ``window_s`` seconds."""
    ts = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(ts):
        while t - ts[lo] > window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def relative_spread(values: Sequence[float]) -> float:
    """(max − min) / median, ignoring the single largest and smallest value when there are at
    least eight (one client delayed by a busy machine must not pass for jitter)."""
    ordered = sorted(values)
    if len(ordered) >= 8:
        ordered = ordered[1:-1]
    med = statistics.median(values)
    return (ordered[-1] - ordered[0]) / med if med > 0 else 0.0


def check_jitter(
    entries: Sequence[JournalEntry],
    *,
    min_relative_spread: float = 0.05,
    window_s: float = 0.010,
    max_group_fraction: float = 2 / 3,
    min_clients: int = 4,
) -> CheckResult:
    """Many clients met the same burst: at every retry step their waits must differ (relative
    spread, see :func:`relative_spread`, ≥ ``min_relative_spread``), and no more than
    ``max_group_fraction`` of them may retry within the same ``window_s``.

    The SDK's own jitter (up to 25 % off the envelope) has a spread near 20 % over twelve
    clients; the chance that it measures under 5 % is about 1e-5, and the chance that more than
    two thirds of twelve such clients retry within 10 ms is about 2e-5 (by simulation; more than
    half: 7e-4). Waits without jitter spread only by scheduling noise (well under 2 % of a 400 ms
    wait here) and land together."""
    traces = _retrying(entries)
    steps = [s for s in waits_by_step(traces) if len(s) >= min_clients]
    if not steps and (lost := lost_without_retry(entries)):
        return _lost(3, lost, "were no retries to spread out")
    if not steps:
        return _result(
            3,
            Verdict.NOT_APPLICABLE,
            f"fewer than {min_clients} clients retried",
            "Not enough retries after the shared burst to judge their spread.",
        )
    spreads = [relative_spread(s) for s in steps]
    starts = retry_starts(traces)
    group = largest_group(starts, window_s)
    n_clients = len(traces)
    figure = "spread per retry " + ", ".join(f"{x:.0%}" for x in spreads)
    figure += (
        f"; largest group within {_ms(window_s)}: {group} of {len(starts)} retries ({n_clients} requests)"
    )
    problems = [
        f"retry {k + 1}: all {len(steps[k])} clients waited {_ms(min(steps[k]))}–{_ms(max(steps[k]))} "
        f"(spread {spreads[k]:.1%}): no jitter at this step"
        for k in range(len(steps))
        if spreads[k] < min_relative_spread
    ]
    if group > max(2, max_group_fraction * n_clients):
        problems.append(f"{group} retries landed within {_ms(window_s)} of each other")
    details = {"spreads": spreads, "largest_group": group, "clients": n_clients}
    if problems:
        return _result(3, Verdict.FAIL, figure, "; ".join(problems) + ".", **details)
    return _result(
        3, Verdict.PASS, figure, "Retries after the shared burst spread out at every step.", **details
    )


# 4 ------------------------------------------------------------------------------------------------
def check_caps(
    entries: Sequence[JournalEntry],
    *,
    max_attempts: int = 10,
    max_total_s: float = 60.0,
    unfinished: int = 0,
    waited_s: float | None = None,
) -> CheckResult:
    """Under a permanent outage every call stops within ``max_attempts`` attempts (across models)
    and ``max_total_s`` seconds. Both are read from the journal, and ``unfinished`` counts the
    calls still running when the kit stopped waiting (after ``waited_s``, longer than the cap): a
    client that never gives up but waits long between attempts shows little in the journal."""
    cs = calls(generation_entries(entries))
    if not cs and not unfinished:
        return _result(4, Verdict.NOT_APPLICABLE, "no calls", "The client sent nothing.")
    most = max((len(c.attempts) for c in cs), default=0)
    longest = max((c.duration for c in cs), default=0.0)
    figure = f"at most {most} attempts and {_ms(longest)} per call ({len(cs)} calls)"
    problems: list[str] = []
    if most > max_attempts:
        problems.append(f"a call made {most} attempts (cap {max_attempts})")
    if longest > max_total_s:
        problems.append(f"a call kept trying for {_ms(longest)} (cap {_ms(max_total_s)})")
    if unfinished:
        figure += f"; {unfinished} still running"
        after = "" if waited_s is None else f" after {_ms(waited_s)}"
        problems.append(f"{unfinished} calls had not returned when the kit stopped waiting{after}")
    details = {"most": most, "longest": longest, "unfinished": unfinished}
    if problems:
        return _result(4, Verdict.FAIL, figure, "; ".join(problems) + ".", **details)
    return _result(
        4,
        Verdict.PASS,
        figure,
        f"Under a permanent outage it gave up within {max_attempts} attempts and {_ms(max_total_s)}.",
        **details,
    )


# 5 ------------------------------------------------------------------------------------------------
def looks_like_spend_limit(entry: JournalEntry) -> bool:
    """A 429 the client must not retry: the engine's reason mentions the spend limit, or the
    fault was sent with ``x-should-retry: false`` (journalled as ``429-no-retry``)."""
    if entry.status != 429:
        return False
    reason = dict(entry.reason)
    return reason.get("fault") == "429-no-retry" or "spend" in repr(reason).lower()


def check_no_forbidden_retries(
    entries: Sequence[JournalEntry],
    *,
    forbidden_statuses: frozenset[int] = FORBIDDEN_STATUSES,
    spend_limit: Callable[[JournalEntry], bool] = looks_like_spend_limit,
) -> CheckResult:
    """No attempt follows, in the same logical request, an answer that must not be retried."""
    judged: dict[str, int] = {}
    retried: dict[str, int] = {}
    for t in logical_requests(generation_entries(entries)):
        for i, a in enumerate(t.attempts):
            label = (
                "spend-limit 429"
                if spend_limit(a)
                else (str(a.status) if a.status in forbidden_statuses else None)
            )
            if label is None:
                continue
            judged[label] = judged.get(label, 0) + 1
            if i + 1 < len(t.attempts):
                retried[label] = retried.get(label, 0) + 1
    if not judged:
        return _result(
            5, Verdict.NOT_APPLICABLE, "no non-retryable answers", "The journal holds no 4xx to judge."
        )
    labels = sorted(judged)
    if retried:
        figure = "retried " + ", ".join(f"{k} ×{retried[k]}" for k in sorted(retried))
        return _result(
            5,
            Verdict.FAIL,
            figure,
            "It re-sent requests the API had refused for good ("
            + ", ".join(sorted(retried))
            + "); these retries can never succeed and only add load.",
            retried=retried,
        )
    return _result(
        5,
        Verdict.PASS,
        f"0 retries of {sum(judged.values())} refusals ({', '.join(labels)})",
        "Every non-retryable answer ended its request.",
        judged=judged,
    )


# 6 ------------------------------------------------------------------------------------------------
def check_fallback(entries: Sequence[JournalEntry], *, chain: Sequence[str]) -> CheckResult:
    """Within each call, models are used in ``chain`` order, and a switch to the next model follows
    only an overload, a server error or a dropped connection. With a chain of two or more models, a
    call whose attempts all failed server-side on one model must have moved on."""
    cs = calls(generation_entries(entries))
    switched = [c for c in cs if len(c.models) > 1]
    if len(chain) < 2:
        if switched:
            return _result(
                6,
                Verdict.FAIL,
                f"{len(switched)} calls switched models",
                f"No fallback chain is configured, yet calls moved to {switched[0].models[1:]}.",
            )
        return _result(6, Verdict.NOT_APPLICABLE, "no fallback configured", "The client uses a single model.")
    index = {m: i for i, m in enumerate(chain)}
    problems: list[str] = []
    bad_switches: dict[str, list[str]] = {}
    for c in cs:
        idx = [index.get(m or "", -1) for m in c.models]
        unknown = [m for m, i in zip(c.models, idx, strict=True) if i < 0]
        if unknown:
            problems.append(f"used {unknown[0]!r}, which is not in the chain {list(chain)}")
            continue
        if idx != sorted(set(idx)) or idx[0] != 0:
            problems.append(
                f"tried {' → '.join(str(m) for m in c.models)}, not the order {' → '.join(chain)}"
            )
            continue
        for prev, nxt in zip(c.attempts, c.attempts[1:], strict=False):
            if prev.model != nxt.model and not prev.is_server_side_failure:
                bad_switches.setdefault(f"{prev.model} to {nxt.model}", []).append(prev.failure_kind)
        last_model_attempts = [a for a in c.attempts if a.model == c.models[-1]]
        if (
            not c.succeeded
            and idx[-1] < len(chain) - 1
            and all(a.is_server_side_failure for a in last_model_attempts)
            and all(a.status is not None and a.status in (529,) for a in last_model_attempts)
        ):
            problems.append(f"stayed on {c.models[-1]} through its overload instead of falling back")
    for switch, kinds in bad_switches.items():
        problems.append(f"fell back from {switch} after a caller error ({', '.join(dict.fromkeys(kinds))})")
    paths = sorted({" → ".join(str(m) for m in c.models) for c in cs})
    figure = f"{len(switched)} of {len(cs)} calls fell back; paths: {'; '.join(paths)}"
    if problems:
        return _result(6, Verdict.FAIL, figure, "; ".join(dict.fromkeys(problems)) + ".")
    return _result(
        6, Verdict.PASS, figure, "Fallback followed the chain and only after overload or server errors."
    )


# 7 ------------------------------------------------------------------------------------------------
def check_no_stacking(entries: Sequence[JournalEntry], *, claimed_max_attempts: int | None) -> CheckResult:
    """No logical request gets more attempts than the client claims, and no two retry layers nest
    (several runs of ``x-stainless-retry-count`` 0,1,2… inside one logical request)."""
    traces = logical_requests(generation_entries(entries))
    if not traces:
        return _result(7, Verdict.NOT_APPLICABLE, "no requests", "The client sent nothing.")
    worst = max(traces, key=lambda t: len(t.attempts))
    most = len(worst.attempts)
    stacked = [t for t in traces if len(t.retry_layers()) > 1 and max(t.retry_layers()) > 1]
    claim = "unknown" if claimed_max_attempts is None else str(claimed_max_attempts)
    figure = f"max {most} attempts per logical request (claimed {claim})"
    problems: list[str] = []
    if stacked:
        layers = max(stacked, key=lambda t: len(t.attempts)).retry_layers()
        figure += f"; layers: {len(layers)} outer × {max(layers)} SDK attempts"
        problems.append(
            f"an outer retry loop re-ran an SDK call that retries itself: {len(layers)} outer tries of "
            f"up to {max(layers)} SDK attempts made {sum(layers)} attempts for one logical request"
        )
    if claimed_max_attempts is not None and most > claimed_max_attempts:
        problems.append(
            f"a logical request got {most} attempts, more than the {claimed_max_attempts} claimed"
        )
    if problems:
        return _result(7, Verdict.FAIL, figure, "; ".join(problems) + ".", most=most)
    return _result(7, Verdict.PASS, figure, "One retry layer, within its claimed attempts.", most=most)


# 8 ------------------------------------------------------------------------------------------------
def check_survives(entries: Sequence[JournalEntry]) -> CheckResult:
    """Every call that met a mid-stream error or a dropped connection still got a full answer."""
    cs = [c for c in calls(generation_entries(entries)) if any(a.is_server_side_failure for a in c.attempts)]
    hit = [c for c in cs if any(a.fault is not None and a.fault != "http_error" for a in c.attempts)]
    if not hit:
        return _result(8, Verdict.NOT_APPLICABLE, "no stream or connection faults", "Nothing to survive.")
    lost = [c for c in hit if not c.succeeded]

    def kinds(c: Call) -> str:
        return "/".join(dict.fromkeys(a.failure_kind for a in c.attempts if not a.succeeded))

    figure = f"{len(hit) - len(lost)} of {len(hit)} calls survived"
    if lost:
        return _result(
            8,
            Verdict.FAIL,
            figure,
            "Lost after " + ", ".join(sorted({kinds(c) for c in lost})) + ": the caller got an error.",
            lost=len(lost),
        )
    return _result(
        8, Verdict.PASS, figure, "Recovered from " + ", ".join(sorted({kinds(c) for c in hit})) + "."
    )
