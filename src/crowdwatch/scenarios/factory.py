"""A compiled scenario ("bucket factory") and the pouring algorithm (ENGINE.md §6.3–§6.6).

Per event offered to a scenario: ``filter`` → ``groupby`` → find/create the bucket of the
group key → (trigger) or pour hooks → count, timestamps, limiter, queue → after hooks →
(re)arm the LIVE timer. An overflow kills the bucket in the same step; the next event of the
key starts a fresh one.

Clocks: a bucket's mode is the ``ExpectMode`` of the event that created it. LIVE buckets
use the wall clock given to the pour and expire ``lifetime`` after their last pour
(counters: ``duration`` after the first), either in ``ScenarioSet.tick`` or, lazily, when
the next event of the key arrives after the deadline. TIMEMACHINE buckets use the event's
``MarshaledTime`` only: no wall-clock timer ever touches them [ENGINE §11 item 2]; an event
later than ``Last_ts + lifetime`` (strictly) replaces the bucket, and counters never fire
(CrowdSec in a short replay) [§11 item 3]. ``ScenarioSet.expire_replay(t)`` forgets the
replay buckets that any event at or after ``t`` would replace anyway (memory in long replays).

Deviation [ENGINE §11 item 1]: a ``filter``/``groupby`` runtime error or wrongly typed
result means "no match" for this scenario only, counted in the stats (CrowdSec skips the
remaining scenarios, or exits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Event, RuntimeAlert
from crowdwatch.scenarios.alert import ScopeRule, build_signal
from crowdwatch.scenarios.bucket import Bucket, mapkey
from crowdwatch.scenarios.clock import Stamp, datetime_ns, format_rfc3339, parse_rfc3339
from crowdwatch.scenarios.limiter import Rate
from crowdwatch.scenarios.processors import CANCEL, Blackhole
from crowdwatch.scenarios.stats import ScenarioStats

if TYPE_CHECKING:
    from crowdwatch.scenarios.context import AlertContext
    from crowdwatch.scenarios.store import Timers

log = logging.getLogger("crowdwatch.scenarios")

TRIGGER = "trigger"
CONDITIONAL = "conditional"
BAYESIAN = "bayesian"


class PourHook(Protocol):
    def on_pour(self, bucket: Bucket, evt: Event) -> int: ...


class AfterHook(Protocol):
    def after_pour(self, bucket: Bucket, evt: Event) -> bool: ...


class OverflowHook(Protocol):
    def on_overflow(self, bucket: Bucket, signal: RuntimeAlert) -> bool: ...


class PourRecorder(Protocol):
    """Told about every bucket an event is poured into (``crowdwatch explain``)."""

    def poured(self, scenario: str, bucket_key: str) -> None: ...


class PourContext:
    """State of one ``ScenarioSet.pour`` call: the output list, the recorder, the (lazily
    read) wall clock, and the deadline heaps buckets are armed in."""

    __slots__ = ("_now", "_now_dt", "out", "recorder", "replay_timers", "timers")

    def __init__(self, timers: Timers, replay_timers: Timers) -> None:
        self.timers = timers
        self.replay_timers = replay_timers
        self.out: list[Event] = []
        self.recorder: PourRecorder | None = None
        self._now_dt: datetime | None = None
        self._now: Stamp | None = None

    def reset(self, now: datetime | None, recorder: PourRecorder | None) -> None:
        self.out = []
        self.recorder = recorder
        self._now_dt = now
        self._now = None

    def now(self) -> Stamp:
        """The wall clock of this call, in UTC (read once)."""
        s = self._now
        if s is None:
            s = self._now = Stamp(datetime_ns(self._now_dt or datetime.now(UTC)))
        return s


class Scenario:
    """One compiled scenario document and its table of live buckets (group key → bucket)."""

    __slots__ = (
        "after_hooks",
        "blackhole",
        "buckets",
        "cache_size",
        "capacity",
        "context",
        "distinct",
        "filter",
        "filter_text",
        "groupby",
        "guillotines",
        "hash",
        "index",
        "leakspeed",
        "lifetime",
        "mutates",
        "name",
        "overflow_hooks",
        "pour_hooks",
        "queue_size",
        "rate",
        "remediation",
        "reprocess",
        "scope",
        "simulated",
        "stats",
        "timed",
        "trigger",
        "version",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        filter_text: str,
        filter_fn: Callable[[Event], Any],
        groupby: Callable[[Event], Any] | None,
        distinct: Callable[[Event], Any] | None,
        capacity: int,
        leakspeed: int,
        duration: int,
        cache_size: int,
        scope: ScopeRule,
        labels_remediation: bool,
        reprocess: bool,
        simulated: bool,
        hash_: str,
        version: str,
        stats: ScenarioStats,
        context: AlertContext | None = None,
    ) -> None:
        self.name = name
        self.filter_text = filter_text
        self.filter = filter_fn
        self.groupby = groupby
        self.distinct = distinct
        self.capacity = capacity
        self.leakspeed = leakspeed  # ns
        self.cache_size = cache_size
        self.scope = scope
        self.remediation = labels_remediation
        self.reprocess = reprocess
        self.simulated = simulated
        self.hash = hash_
        self.version = version
        self.stats = stats
        self.context = context
        self.trigger = kind == TRIGGER
        # conditional buckets queue every event: the limiter has no say
        limited = capacity != -1 and not self.trigger and kind != CONDITIONAL
        self.rate = Rate(capacity, leakspeed) if limited else None
        lifetime = (capacity + 1) * leakspeed if capacity > 0 and leakspeed else 0
        self.timed = duration > 0  # counter: overflows when its timer fires
        if self.timed:
            lifetime = duration
        if kind in (CONDITIONAL, BAYESIAN):
            lifetime = leakspeed
        self.lifetime = lifetime
        size = capacity
        if cache_size > 0 and (cache_size <= capacity or capacity == -1):
            size = cache_size
        self.queue_size = size
        self.pour_hooks: tuple[PourHook, ...] = ()
        self.after_hooks: tuple[AfterHook, ...] = ()
        self.overflow_hooks: tuple[OverflowHook, ...] = ()
        self.blackhole: Blackhole | None = None
        self.guillotines = 0  # number of bayesian conditions
        self.buckets: dict[str, Bucket] = {}
        self.index = 0  # position in load order (set by ScenarioSet)
        self.mutates = False  # some expression may write the event's Meta/Parsed (routing)

    def set_processors(
        self,
        pour: Sequence[PourHook],
        after: Sequence[AfterHook],
        overflow: Sequence[OverflowHook],
        guillotines: int,
    ) -> None:
        self.pour_hooks = tuple(pour)
        self.after_hooks = tuple(after)
        self.overflow_hooks = tuple(overflow)
        self.blackhole = next((h for h in overflow if isinstance(h, Blackhole)), None)
        self.guillotines = guillotines

    def new_guillotines(self) -> list[bool] | None:
        return [False] * self.guillotines if self.guillotines else None

    def mapkey(self, key: str) -> str:
        return mapkey(self.filter_text, key, self.name)

    # --- per event ----------------------------------------------------------------------------
    def offer(self, evt: Event, cx: PourContext) -> None:
        """Filter and group ``evt``; pour it into its bucket when it matches."""
        try:
            ok = self.filter(evt)
        except Exception as exc:
            self.stats.filter_errors += 1
            log.debug("%s: filter failed: %s", self.name, exc)
            return
        if ok is not True:
            if ok is not False:
                self.stats.filter_errors += 1
                log.debug("%s: filter returned %r, not a bool", self.name, ok)
            return
        key = ""
        if self.groupby is not None:
            try:
                key = self.groupby(evt)
            except Exception as exc:
                self.stats.groupby_errors += 1
                log.debug("%s: groupby failed: %s", self.name, exc)
                return
            if not isinstance(key, str):
                self.stats.groupby_errors += 1
                log.debug("%s: groupby returned %r, not a string", self.name, key)
                return
        self.pour(evt, key, cx)

    def pour(self, evt: Event, key: str, cx: PourContext) -> None:
        stats = self.stats
        stats.poured += 1
        if cx.recorder is not None:
            cx.recorder.poured(self.name, self.mapkey(key))
        b = self.buckets.get(key)
        if b is not None:
            if b.mode == LIVE:
                if b.deadline is not None and cx.now().ns > b.deadline:
                    self.expire(b, cx.out)
                    b = None
            elif b.last is not None:
                t = parse_rfc3339(evt.MarshaledTime)
                if t is not None and t.ns > b.last.ns + self.lifetime:
                    self.kill(b)
                    stats.underflowed += 1
                    b = None
        if b is None:
            b = Bucket(self, key, TIMEMACHINE if evt.ExpectMode == TIMEMACHINE else LIVE)
            self.buckets[key] = b
            stats.instantiated += 1
        if self.trigger:
            self._trigger(b, evt, cx)
            return
        for hook in self.pour_hooks:
            action = hook.on_pour(b, evt)
            if action:
                if action == CANCEL:
                    self.kill(b)
                    stats.cancelled += 1
                return
        live = b.mode == LIVE
        t = cx.now() if live else parse_rfc3339(evt.MarshaledTime)
        rate = self.rate
        if t is None:  # replay event without a usable time: the bucket exists, nothing is poured
            stats.unpoured += 1
            log.debug("%s: event without a valid MarshaledTime (%r) not poured", self.name, evt.MarshaledTime)
        else:
            b.total += 1
            if b.first is None:
                b.first = t
            b.last = t
            b.add(evt)
            if rate is not None and not rate.allow(b, t.ns):
                b.ovflw = t
                self.overflow(b, cx.out)
                return
        for after in self.after_hooks:
            if after.after_pour(b, evt):
                self.overflow(b, cx.out)
                return
        if self.lifetime > 0:
            armed = b.deadline is not None
            if not live:  # only for ScenarioSet.expire_replay: the bucket's own rule is above
                if b.last is not None:
                    b.deadline = b.last.ns + self.lifetime
                    if not armed:
                        cx.replay_timers.push(b)
                return
            if not (self.timed and armed):
                b.deadline = cx.now().ns + self.lifetime
            if not armed:
                cx.timers.push(b)

    def _trigger(self, b: Bucket, evt: Event, cx: PourContext) -> None:
        """Every event overflows at once, with a count of 1 and its own time."""
        t = None if b.mode == LIVE else parse_rfc3339(evt.MarshaledTime)
        if t is None:
            t = cx.now()
        b.first = b.last = b.ovflw = t
        b.total = 1
        b.add(evt)
        self.overflow(b, cx.out)

    # --- bucket ends ---------------------------------------------------------------------------
    def kill(self, b: Bucket) -> None:
        """Remove ``b`` from the table (it is dead; a new event starts a new bucket)."""
        b.alive = False
        if self.buckets.get(b.key) is b:
            del self.buckets[b.key]

    def expire(self, b: Bucket, out: list[Event]) -> None:
        """``b`` reached its deadline: LIVE counters overflow, the others underflow."""
        if self.timed and b.mode == LIVE:
            assert b.deadline is not None
            b.ovflw = Stamp(b.deadline, 0)
            self.overflow(b, out, timed=True)
        else:
            self.kill(b)
            self.stats.underflowed += 1

    def overflow(self, b: Bucket, out: list[Event], timed: bool = False) -> None:
        """Kill ``b``, build its alert, run the overflow hooks, emit the OVFLW event."""
        self.kill(b)
        self.stats.overflowed += 1
        signal = build_signal(self, b)
        for hook in self.overflow_hooks:
            if not hook.on_overflow(b, signal):
                self.stats.discarded += 1
                return
        if signal.Alert is None:
            return
        evt = Event(type_=OVFLW)
        evt.Overflow = signal
        if not timed:
            evt.MarshaledTime = format_rfc3339(b.ovflw)
        out.append(evt)
