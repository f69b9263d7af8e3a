"""Load-test durations read as Locust's ``-t`` reads them: 20s, 2m, 1h30m, or plain seconds."""

from __future__ import annotations

import pytest

from loadtests.cli import main
from loadtests.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20", 20.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("20s", 20.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h2m3s", 3723.0),
        ("2m30s", 150.0),
        ("1.5m", 90.0),
        (" 10S ", 10.0),
    ],
)
def test_durations_in_every_accepted_form(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "20x", "-5", "5 m", "30m1h", "1h30", "2m2m", "inf", "nan", "1e3"])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(DurationError, match=r"20s, 2m, 1h30m or plain seconds"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("flag", "value", "attribute", "seconds"),
    [
        ("--duration", "20s", "duration", 20.0),
        ("--duration", "1h30m", "duration", 5400.0),
        ("--drain", "2m", "drain", 120.0),
        ("--warmup", "5s", "warmup", 5.0),
        ("--timeout", "1m", "timeout", 60.0),
    ],
)
def test_every_duration_flag_of_loadtest_takes_units(
    flag: str, value: str, attribute: str, seconds: float
) -> None:
    from mockserver.cli import build_parser

    args = build_parser().parse_args(["loadtest", "--strategy", "no-retry", "--rate", "3", flag, value])
    assert getattr(args, attribute) == seconds


def test_windows_take_units_on_both_sides() -> None:
    from mockserver.cli import build_parser

    args = build_parser().parse_args(["loadtest", "--trigger", "10s:1m", "--outage-window", "0:1m30s"])
    assert (args.trigger.start, args.trigger.end) == (10.0, 60.0)
    assert (args.outage_window.start, args.outage_window.end) == (0.0, 90.0)


@pytest.mark.parametrize(
    ("flag", "value"), [("--duration", "20x"), ("--duration", "0s"), ("--drain", "-1"), ("--warmup", "soon")]
)
def test_a_bad_duration_is_an_argument_error_naming_the_flag_and_the_forms(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--strategy", "no-retry", "--rate", "5", flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err
    assert "20s, 2m, 1h30m or plain seconds" in err
    assert "Traceback" not in err
