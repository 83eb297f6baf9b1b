"""Optional bucket behaviours as small processors (ENGINE.md §6.4, §6.5, §6.7).

A scenario chains the processors its configuration asks for, in CrowdSec's order
(distinct, cancel_on, overflow_filter, blackhole, condition, bayesian). Each implements one
or more hooks:

* ``on_pour(bucket, evt) -> KEEP | DISCARD | CANCEL`` before the event is counted;
* ``after_pour(bucket, evt) -> bool`` after it was queued (True: overflow now, ``ovflw`` set);
* ``on_overflow(bucket, signal) -> bool`` when the bucket overflows (False: overflow dropped).

Per-bucket state (the distinct set, bayesian guillotines) lives on the bucket; the
blackhole's windows are shared by all buckets of the scenario.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from typing import Any

from crowdwatch.event import LIVE, Event, RuntimeAlert
from crowdwatch.scenarios.bucket import Bucket
from crowdwatch.scenarios.model import float32
from crowdwatch.scenarios.stats import ScenarioStats

log = logging.getLogger("crowdwatch.scenarios")

KEEP = 0
DISCARD = 1  # the event is not poured (not counted, timers untouched)
CANCEL = 2  # the bucket is destroyed silently, the event is not poured

EvtFn = Callable[[Event], Any]
BucketFn = Callable[[Event, Any, Bucket], Any]  # (evt, queue, leaky)


class Distinct:
    """Drop events whose ``distinct`` value the bucket has already seen (non-string → ``""``)."""

    __slots__ = ("fn", "stats")

    def __init__(self, fn: EvtFn, stats: ScenarioStats) -> None:
        self.fn = fn
        self.stats = stats

    def on_pour(self, bucket: Bucket, evt: Event) -> int:
        try:
            value = self.fn(evt)
        except Exception as exc:  # accepted without being recorded
            self.stats.expr_errors += 1
            log.debug("%s: distinct failed: %s", bucket.scenario.name, exc)
            return KEEP
        if not isinstance(value, str):
            value = ""
        seen = bucket.distinct
        assert seen is not None
        if value in seen:
            return DISCARD
        seen.add(value)
        return KEEP


class CancelOn:
    """Destroy the bucket when ``cancel_on`` is true for a poured event (errors/non-bool: ignored)."""

    __slots__ = ("fn", "stats")

    def __init__(self, fn: EvtFn, stats: ScenarioStats) -> None:
        self.fn = fn
        self.stats = stats

    def on_pour(self, bucket: Bucket, evt: Event) -> int:
        try:
            result = self.fn(evt)
        except Exception as exc:
            self.stats.expr_errors += 1
            log.debug("%s: cancel_on failed: %s", bucket.scenario.name, exc)
            return KEEP
        return CANCEL if result is True else KEEP


class OverflowFilter:
    """Drop the overflow when ``overflow_filter`` (env ``queue``, ``signal``, ``leaky``) is false."""

    __slots__ = ("fn", "stats")

    def __init__(self, fn: Callable[[Any, RuntimeAlert, Bucket], Any], stats: ScenarioStats) -> None:
        self.fn = fn
        self.stats = stats

    def on_overflow(self, bucket: Bucket, signal: RuntimeAlert) -> bool:
        try:
            result = self.fn(bucket.queue, signal, bucket)
        except Exception as exc:  # the overflow is kept
            self.stats.expr_errors += 1
            log.debug("%s: overflow_filter failed: %s", bucket.scenario.name, exc)
            return True
        return result is not False


class Blackhole:
    """At most one overflow per bucket key per window: a key stays silent until ``T + duration``
    (exclusive of the end), where ``T`` is the overflow time of the alert that went out."""

    __slots__ = ("duration", "heap", "live_heap", "until")

    def __init__(self, duration_ns: int) -> None:
        self.duration = duration_ns
        self.until: dict[str, int] = {}  # group key -> end of its window (ns)
        self.heap: list[tuple[int, str]] = []  # (end, key), stale entries skipped lazily
        self.live_heap: list[tuple[int, str]] = []  # the windows opened by LIVE buckets

    def on_overflow(self, bucket: Bucket, signal: RuntimeAlert) -> bool:
        assert bucket.ovflw is not None
        t = bucket.ovflw.ns
        _purge(self.heap, self.until, t)
        if bucket.key in self.until:  # every remaining window ends after t
            return False
        self.add(bucket.key, t + self.duration, bucket.mode == LIVE)
        return True

    def add(self, key: str, end: int, live: bool) -> None:
        self.until[key] = end
        heapq.heappush(self.heap, (end, key))
        if live:
            heapq.heappush(self.live_heap, (end, key))

    def purge_live(self, now: int) -> None:
        """Forget the wall-clock windows that ended at or before ``now`` (keeps memory bounded)."""
        _purge(self.live_heap, self.until, now)


def _purge(heap: list[tuple[int, str]], until: dict[str, int], t: int) -> None:
    while heap and heap[0][0] <= t:
        end, key = heapq.heappop(heap)
        if until.get(key) == end:
            del until[key]


class Condition:
    """``condition`` (env ``evt``, ``queue``, ``leaky``) true after a pour ⇒ overflow at ``Last_ts``."""

    __slots__ = ("fn", "stats")

    def __init__(self, fn: BucketFn, stats: ScenarioStats) -> None:
        self.fn = fn
        self.stats = stats

    def after_pour(self, bucket: Bucket, evt: Event) -> bool:
        try:
            result = self.fn(evt, bucket.queue, bucket)
        except Exception as exc:
            self.stats.expr_errors += 1
            log.debug("%s: condition failed: %s", bucket.scenario.name, exc)
            return False
        if result is True:
            bucket.ovflw = bucket.last
            return True
        return False


class BayesianCondition:
    __slots__ = ("fn", "guillotine", "pb", "pe")

    def __init__(
        self, fn: BucketFn, prob_given_evil: float, prob_given_benign: float, guillotine: bool
    ) -> None:
        self.fn = fn
        self.pe = prob_given_evil
        self.pb = prob_given_benign
        self.guillotine = guillotine


def bayes_update(prior: float, pe: float, pb: float) -> float:
    """Posterior ``pe·p / (pe·p + pb·(1−p))`` with every operation rounded to float32."""
    numerator = float32(pe * prior)
    denominator = float32(numerator + float32(pb * float32(1.0 - prior)))
    if denominator == 0.0:
        return float("nan") if numerator == 0.0 else float("inf")
    return float32(numerator / denominator)


class Bayesian:
    """Recompute the posterior from the prior after every pour; overflow when it exceeds the threshold."""

    __slots__ = ("conditions", "prior", "stats", "threshold")

    def __init__(
        self, prior: float, threshold: float, conditions: Sequence[BayesianCondition], stats: ScenarioStats
    ) -> None:
        self.prior = prior
        self.threshold = threshold
        self.conditions = tuple(conditions)
        self.stats = stats

    def after_pour(self, bucket: Bucket, evt: Event) -> bool:
        fired = bucket.guillotines
        assert fired is not None
        p = self.prior
        for i, cond in enumerate(self.conditions):
            if fired[i]:
                p = bayes_update(p, cond.pe, cond.pb)
                continue
            try:
                result = cond.fn(evt, bucket.queue, bucket)
            except Exception as exc:  # that condition is skipped
                self.stats.expr_errors += 1
                log.debug("%s: bayesian condition failed: %s", bucket.scenario.name, exc)
                continue
            if result is True:
                p = bayes_update(p, cond.pe, cond.pb)
                fired[i] = cond.guillotine
            elif result is False:
                p = bayes_update(p, float32(1.0 - cond.pe), float32(1.0 - cond.pb))
            else:
                self.stats.expr_errors += 1
        if p > self.threshold:
            bucket.ovflw = bucket.last
            return True
        return False
