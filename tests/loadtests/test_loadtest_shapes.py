"""Open-loop load shapes and their Poisson arrivals."""

from __future__ import annotations

import math
import random

import pytest

from loadtests.shapes import LoadShape, ShapeError, arrival_times, parse_shape


def test_steady_shape_offers_the_nominal_rate_inside_the_run_and_nothing_outside() -> None:
    shape = parse_shape("steady", rate=10, duration=5)
    assert shape.rate(0) == 10
    assert shape.rate(4.999) == 10
    assert shape.rate(5) == 0
    assert shape.rate(-0.1) == 0


def test_ramp_climbs_linearly_from_start_to_peak_then_holds() -> None:
    shape = parse_shape("ramp:start=0.5,peak=2,ramp=0.5", rate=10, duration=20)
    assert shape.rate(0) == pytest.approx(5)
    assert shape.rate(5) == pytest.approx(12.5)
    assert shape.rate(10) == pytest.approx(20)
    assert shape.rate(19) == pytest.approx(20)


def test_spike_multiplies_the_rate_only_inside_its_window() -> None:
    shape = parse_shape("spike:factor=4,at=0.5,len=0.1", rate=10, duration=20)
    assert shape.rate(9.9) == 10
    assert shape.rate(10) == 40
    assert shape.rate(11.9) == 40
    assert shape.rate(12) == 10


def test_outage_replays_exactly_the_missed_calls_so_the_total_is_unchanged() -> None:
    outage = parse_shape("outage", rate=10, duration=30)
    assert outage.rate(10) == 0  # at=0.3·30=9 .. 15
    assert outage.rate(16) == pytest.approx(20)  # replay 6 s of missed calls over 6 s
    steady = parse_shape("steady", rate=10, duration=30)
    assert outage.expected_calls() == pytest.approx(steady.expected_calls(), rel=1e-3)


def test_peak_hours_cycles_between_quiet_and_busy() -> None:
    shape = parse_shape("peak-hours", rate=10, duration=40)  # period 20 s, depth 0.75
    assert shape.rate(5) == pytest.approx(17.5)
    assert shape.rate(15) == pytest.approx(2.5)
    assert shape.max_rate() == pytest.approx(17.5)


@pytest.mark.parametrize("spec", ["steady", "ramp", "spike", "peak-hours", "outage"])
def test_max_rate_bounds_the_rate_everywhere(spec: str) -> None:
    shape = parse_shape(spec, rate=7, duration=13)
    bound = shape.max_rate()
    assert all(shape.rate(i * 0.01) <= bound + 1e-9 for i in range(1300))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("burst", "unknown load shape 'burst'"),
        ("spike:factr=3", "has no parameter 'factr'"),
        ("spike:factor", "expected key=value"),
        ("spike:factor=lots", "factor is not a number"),
        ("spike:factor=-1", "factor must be >= 0"),
    ],
)
def test_bad_shape_specs_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        parse_shape(spec, rate=5, duration=10)


def test_rate_and_duration_must_be_positive() -> None:
    with pytest.raises(ShapeError, match="rate must be positive"):
        LoadShape("steady", 0, 10)
    with pytest.raises(ShapeError, match="duration must be positive"):
        LoadShape("steady", 1, 0)


def test_arrivals_are_increasing_and_inside_the_run() -> None:
    shape = parse_shape("spike", rate=20, duration=10)
    times = list(arrival_times(shape, random.Random(3)))
    assert times == sorted(times)
    assert all(0 <= t < 10 for t in times)


def test_same_seed_gives_the_same_schedule() -> None:
    shape = parse_shape("ramp", rate=20, duration=10)
    assert list(arrival_times(shape, random.Random(9))) == list(arrival_times(shape, random.Random(9)))


@pytest.mark.parametrize("spec", ["steady", "spike", "outage"])
def test_arrival_count_matches_the_integrated_rate(spec: str) -> None:
    # Poisson count with mean m has sd sqrt(m); 5 sd bounds fail with probability < 1e-6 (fixed seed).
    shape = parse_shape(spec, rate=50, duration=40)
    mean = shape.expected_calls()
    count = len(list(arrival_times(shape, random.Random(1234))))
    assert abs(count - mean) < 5 * math.sqrt(mean)


def test_arrivals_follow_the_shape_inside_a_spike() -> None:
    shape = parse_shape("spike:factor=5,at=0.5,len=0.25", rate=40, duration=40)  # spike on [20, 30)
    times = list(arrival_times(shape, random.Random(77)))
    inside = sum(1 for t in times if 20 <= t < 30)
    before = sum(1 for t in times if 10 <= t < 20)
    # means 2000 and 400; 5-sd bounds
    assert abs(inside - 2000) < 5 * math.sqrt(2000)
    assert abs(before - 400) < 5 * math.sqrt(400)


def test_scaling_a_shape_splits_its_rate_between_arrival_users() -> None:
    shape = parse_shape("spike", rate=30, duration=10)
    third = shape.scaled(1 / 3)
    assert third.rate(1) == pytest.approx(10)
    assert third.spec() == shape.spec() == "spike"
