"""Durations on the load-test command line, written as Locust's ``-t`` takes them (pure).

``20s``, ``2m``, ``1h30m``, ``1h2m3s`` or a plain number of seconds (``20``, ``0.5``). Each unit
appears at most once, in the order h, m, s; a part may have a fraction (``1.5m`` is 90 s).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

__all__ = ["FORMS", "DurationError", "duration_arg", "parse_duration"]

FORMS = "20s, 2m, 1h30m or plain seconds (20, 0.5)"

_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_UNITS = re.compile(rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0}


class DurationError(ValueError):
    """A duration that cannot be read; the message quotes it and gives the accepted forms."""


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (see the module's forms); raises :class:`DurationError`."""
    spec = text.strip().lower()
    if re.fullmatch(_NUMBER, spec):
        return float(spec)
    match = _UNITS.fullmatch(spec)
    if not spec or match is None:
        raise DurationError(f"expected a duration such as {FORMS}, got {text!r}")
    seconds = sum(float(v) * _SCALE[unit] for unit, v in match.groupdict().items() if v is not None)
    if not math.isfinite(seconds):
        raise DurationError(f"duration {text!r} is too large")
    return seconds


def duration_arg(*, positive: bool = False) -> Callable[[str], float]:
    """An argparse ``type=``: a duration in seconds, > 0 when ``positive`` (else >= 0).
    argparse prefixes the flag's name to the message ("argument --duration: ...")."""

    def convert(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except DurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if positive and seconds <= 0:
            raise argparse.ArgumentTypeError(f"expected a duration > 0 ({FORMS}), got {text!r}")
        return seconds

    convert.__name__ = "duration"  # argparse names the type in its fallback message
    return convert
