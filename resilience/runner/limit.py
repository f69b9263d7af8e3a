"""How many requests the runner keeps in flight: slow start, then the library's AIMD.

The additive increase and multiplicative decrease are :class:`resilience.AIMDLimit`'s. What the
runner adds is the slow start, which the API's ramp limits call for (429 ``ramp_limit_exceeded``
meets a run that opens at its ceiling): the limit starts at
:data:`resilience.runner.SLOW_START_INITIAL` and each success adds one (doubling it every round
of requests) until the first overload; from then on the AIMD limit takes over, starting from
there. Attempts are ordered by dispatch number instead of a clock: an overload of a request
dispatched before the last cut is the same congestion that cut answered, and is ignored.
"""

from __future__ import annotations

import math

from resilience import AIMDLimit
from resilience.runner import SLOW_START_INITIAL

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    """The runner's limit on requests in flight, within ``[min_limit, max_limit]``.

    It starts at ``initial`` (default: :data:`~resilience.runner.SLOW_START_INITIAL`, or
    ``max_limit`` if smaller); with ``slow_start`` each success adds one until the first
    overload. After that an :class:`~resilience.AIMDLimit` (increase 1, ``decrease``) holds it.
    Dispatches are numbered by the caller (:meth:`dispatched`), so no clock is needed.
    """

    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        decrease: float = 0.8,
        initial: int | None = None,
        slow_start: bool = True,
    ):
        if max_limit < 1 or min_limit < 1 or min_limit > max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        if not 0.0 < decrease < 1.0:
            raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.decrease = decrease
        start = min(SLOW_START_INITIAL, max_limit) if initial is None else initial
        self._window = max(min_limit, min(start, max_limit))  # the slow-start limit
        self._slow_start = slow_start
        self._aimd = None if slow_start else self._aimd_from(self._window)
        self._seq = 0

    def _aimd_from(self, start: int) -> AIMDLimit:
        return AIMDLimit(
            initial=float(start),
            minimum=float(self.min_limit),
            maximum=float(self.max_limit),
            increase=1.0,
            decrease=self.decrease,
        )

    @property
    def limit(self) -> int:
        if self._aimd is None:
            return self._window
        return max(self.min_limit, math.floor(self._aimd.limit))

    @property
    def in_slow_start(self) -> bool:
        return self._slow_start

    def dispatched(self) -> int:
        """Number the next dispatch; pass the number back to :meth:`on_result`."""
        self._seq += 1
        return self._seq

    def on_result(self, seq: int, overloaded: bool) -> None:
        if self._aimd is None:
            if not overloaded:
                self._window = min(self.max_limit, self._window + 1)
                return
            self._slow_start = False
            self._aimd = self._aimd_from(self._window)
        if overloaded:
            # the next dispatch is the first whose overload is news after this cut
            self._aimd.on_overload(began=float(seq), now=float(self._seq + 1))
        else:
            self._aimd.on_success(0.0)  # no latency target: only the count matters
