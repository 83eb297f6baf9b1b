"""The token bucket behind leaky buckets, with Go ``x/time/rate`` float rules (ENGINE.md §6.4).

The parameters (:class:`Rate`) belong to the scenario; the state (``tokens``, ``tlast``)
lives on each bucket, which keeps a bucket to few objects (memory and GC pressure).
"""

from __future__ import annotations

from typing import Protocol

from crowdwatch.scenarios.clock import go_seconds


class LimiterState(Protocol):
    tokens: float  # meaningless while tlast is None (a new limiter is full)
    tlast: int | None  # ns of the last granted request


class Rate:
    """``burst`` tokens, one regenerated every ``interval_ns``.

    ``allow(state, t)`` asks for one token at ``t`` (ns). Time going backwards gives no
    refill and, when granted, moves the reference time backwards (Go's ``advance``).
    """

    __slots__ = ("burst", "rate")

    def __init__(self, burst: int, interval_ns: int) -> None:
        self.burst = float(burst)
        self.rate = 1.0 / go_seconds(interval_ns)  # rate.Every(interval)

    def allow(self, state: LimiterState, t: int) -> bool:
        last = state.tlast
        if last is None:  # zero time: the elapsed time saturates, the bucket is full
            tokens = self.burst
        else:
            if t < last:
                last = t
            tokens = state.tokens + go_seconds(t - last) * self.rate
            if tokens > self.burst:
                tokens = self.burst
        rest = tokens - 1.0
        # the deficit is converted to a wait in whole nanoseconds (truncated); 0 counts as no wait
        if self.burst < 1.0 or (rest < 0.0 and int(1e9 * (-rest / self.rate)) > 0):
            return False
        state.tokens = rest
        state.tlast = t
        return True
