"""Backoff strategies and Retry-After parsing: bounds (Hypothesis), the full-jitter distribution
(goodness of fit at a fixed seed), and header parsing."""

from __future__ import annotations

import email.utils
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from resilience.backoff import (
    Decorrelated,
    EqualJitter,
    FullJitter,
    NoJitter,
    SdkBackoff,
    envelope,
    parse_retry_after,
)

bases = st.floats(min_value=0.001, max_value=10.0)
multipliers = st.floats(min_value=1.0, max_value=4.0)
cap_factors = st.floats(min_value=1.0, max_value=1000.0)
attempts = st.integers(min_value=1, max_value=2000)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
previous_delays = st.none() | st.floats(min_value=0.0, max_value=1e4)


@given(bases, multipliers, cap_factors, attempts, seeds)
def test_exponential_strategies_stay_within_their_envelope_and_cap(
    base: float, multiplier: float, cap_factor: float, attempt: int, seed: int
) -> None:
    cap = base * cap_factor
    env = envelope(attempt, base=base, multiplier=multiplier, cap=cap)
    assert 0 < env <= cap
    rng = random.Random(seed)
    assert NoJitter(base, multiplier, cap).delay(attempt, None, rng) == env
    assert 0.0 <= FullJitter(base, multiplier, cap).delay(attempt, None, rng) <= env
    equal = EqualJitter(base, multiplier, cap).delay(attempt, None, rng)
    assert env / 2 <= equal <= env
    sdk = SdkBackoff(base, multiplier, cap).delay(attempt, None, rng)
    assert 0.75 * env - 1e-12 <= sdk <= env


@given(bases, cap_factors, attempts, previous_delays, seeds)
def test_decorrelated_jitter_stays_within_base_and_three_times_previous(
    base: float, cap_factor: float, attempt: int, previous: float | None, seed: int
) -> None:
    cap = base * cap_factor
    strategy = Decorrelated(base=base, cap=cap)
    delay = strategy.delay(attempt, previous, random.Random(seed))
    prev = base if previous is None or previous < base else previous
    assert delay <= cap
    assert min(base, cap) <= delay <= 3 * prev


@given(seeds)
def test_decorrelated_chain_never_leaves_its_bounds(seed: int) -> None:
    rng = random.Random(seed)
    strategy = Decorrelated(base=0.1, cap=5.0)
    previous: float | None = None
    for attempt in range(1, 50):
        delay = strategy.delay(attempt, previous, rng)
        low, high = 0.1, 3 * (previous if previous is not None else 0.1)
        assert low <= delay <= min(5.0, high)
        previous = delay


def test_sdk_backoff_reproduces_the_sdk_schedule() -> None:
    # 0.5 * 2^n capped at 8 s, shortened by at most 25 %: 0.375-0.5, 0.75-1, 1.5-2, 3-4, 6-8, 6-8
    rng = random.Random(7)
    expected = [(0.375, 0.5), (0.75, 1.0), (1.5, 2.0), (3.0, 4.0), (6.0, 8.0), (6.0, 8.0)]
    for attempt, (low, high) in enumerate(expected, start=1):
        for _ in range(50):
            assert low <= SdkBackoff().delay(attempt, None, rng) <= high


def test_envelope_saturates_at_cap_without_overflow() -> None:
    assert envelope(10**6, base=1.0, multiplier=2.0, cap=20.0) == 20.0
    assert envelope(1, base=1.0, multiplier=2.0, cap=20.0) == 1.0
    assert envelope(3, base=1.0, multiplier=2.0, cap=20.0) == 4.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0.0}, "base must be > 0"),
        ({"base": -1.0}, "base must be > 0"),
        ({"multiplier": 0.5}, "multiplier must be >= 1"),
        ({"base": 2.0, "cap": 1.0}, "cap (1.0) must be >= base (2.0)"),
        ({"cap": math.inf}, "cap must be a finite number"),
    ],
)
def test_bad_backoff_settings_get_a_specific_error(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FullJitter(**kwargs)


def test_attempt_numbers_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        FullJitter().delay(0, None, random.Random(0))


# --- the distribution of full jitter --------------------------------------------------------
# n = 4000 draws at seed 20261129 of attempt 12 (the envelope is at the cap). The one-sample
# Kolmogorov-Smirnov statistic D of n uniform draws exceeds 1.95 / sqrt(n) with probability
# about 0.001, so the bound below is the alpha = 0.001 critical value: a correct implementation
# passes (and, the seed being fixed, always does), and any distribution that is not uniform on
# [0, cap] by more than ~3 % in CDF fails.
N_DRAWS = 4000
KS_CRITICAL = 1.95 / math.sqrt(N_DRAWS)
CAP = 20.0


def _ks_against_uniform(samples: list[float], cap: float) -> float:
    result = stats.kstest(samples, stats.uniform(loc=0.0, scale=cap).cdf)
    return float(result.statistic)


def _draw(strategy: FullJitter | NoJitter | EqualJitter, seed: int = 20261129) -> list[float]:
    rng = random.Random(seed)
    return [strategy.delay(12, None, rng) for _ in range(N_DRAWS)]


def test_full_jitter_is_uniform_on_zero_to_cap() -> None:
    samples = _draw(FullJitter(base=1.0, multiplier=2.0, cap=CAP))
    assert max(samples) <= CAP and min(samples) >= 0.0
    assert _ks_against_uniform(samples, CAP) < KS_CRITICAL
    # and every tenth of [0, cap] holds its share (chi-square, 9 degrees of freedom, alpha 0.001)
    counts = [0] * 10
    for value in samples:
        counts[min(9, int(value / CAP * 10))] += 1
    assert stats.chisquare(counts).pvalue > 0.001


def test_the_same_check_rejects_exponential_backoff_without_jitter() -> None:
    samples = _draw(NoJitter(base=1.0, multiplier=2.0, cap=CAP))
    assert _ks_against_uniform(samples, CAP) > KS_CRITICAL  # D = 1: every draw is the cap


def test_the_same_check_rejects_equal_jitter() -> None:
    samples = _draw(EqualJitter(base=1.0, multiplier=2.0, cap=CAP))
    assert _ks_against_uniform(samples, CAP) > KS_CRITICAL  # D = 0.5: nothing below cap / 2


# --- Retry-After ----------------------------------------------------------------------------
NOW = 1_800_000_000.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "150", "retry-after": "5"}, now_wall=NOW) == 0.15


def test_retry_after_seconds_may_be_fractional() -> None:
    assert parse_retry_after({"retry-after": "2.5"}, now_wall=NOW) == 2.5


def test_retry_after_http_date_is_measured_from_now() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now_wall=NOW) == pytest.approx(30.0, abs=1.0)


@pytest.mark.parametrize(
    "headers",
    [{}, {"retry-after": "0"}, {"retry-after": "-3"}, {"retry-after": "soon"}, {"retry-after-ms": "0"}],
)
def test_missing_zero_negative_or_garbage_retry_after_means_use_backoff(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, now_wall=NOW) is None


def test_unparseable_retry_after_ms_falls_back_to_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "3"}, now_wall=NOW) == 3.0


@given(st.floats(min_value=0.001, max_value=1e7, allow_nan=False))
def test_retry_after_ms_parses_exactly(ms: float) -> None:
    assert parse_retry_after({"retry-after-ms": repr(ms)}, now_wall=NOW) == ms / 1000.0
