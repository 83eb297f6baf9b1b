"""The loaded scenarios as one unit: pour, tick, flush, dump/restore, stats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crowdwatch.event import LIVE, Event
from crowdwatch.scenarios import state
from crowdwatch.scenarios.clock import datetime_ns
from crowdwatch.scenarios.factory import PourContext, PourRecorder, Scenario
from crowdwatch.scenarios.loader import ScenarioContext, ScenarioFile, load_scenarios
from crowdwatch.scenarios.routing import Router
from crowdwatch.scenarios.stats import ScenarioStats
from crowdwatch.scenarios.store import Timers


class ScenarioSet:
    """Compiled scenarios in load order, with their buckets.

    ``pour`` offers an event to every scenario (§6.3) and returns the OVFLW events it
    produced, alerts built and ``overflow_filter``/``blackhole`` applied. ``tick`` advances
    the wall clock of LIVE buckets; ``flush`` ends a replay (in-flight buckets are dropped).
    """

    __slots__ = ("_cx", "_replay_timers", "_router", "_stats", "_timers", "scenarios")

    def __init__(self, scenarios: Sequence[Scenario], stats: dict[str, ScenarioStats] | None = None) -> None:
        self.scenarios = list(scenarios)
        for i, scn in enumerate(self.scenarios):
            scn.index = i
        self._stats = stats if stats is not None else {s.name: s.stats for s in self.scenarios}
        self._router = Router(self.scenarios)
        self._timers = Timers()
        self._replay_timers = Timers()
        self._cx = PourContext(self._timers, self._replay_timers)

    @classmethod
    def load(cls, files: Sequence[ScenarioFile], ctx: ScenarioContext) -> ScenarioSet:
        """Load ``files`` (strict; raises :class:`ScenarioLoadError` naming ``file:line``)."""
        stats: dict[str, ScenarioStats] = {}
        return cls(load_scenarios(files, ctx, stats), stats)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    @property
    def stats(self) -> dict[str, ScenarioStats]:
        """Counters per scenario name (scenarios sharing a name share counters)."""
        for st in self._stats.values():
            st.current = 0
        for scn in self.scenarios:
            scn.stats.current += len(scn.buckets)
        return self._stats

    def pour(
        self, evt: Event, now: datetime | None = None, recorder: PourRecorder | None = None
    ) -> list[Event]:
        """Offer ``evt`` to every scenario; ``now`` is the wall clock for LIVE buckets (default: now).

        ``recorder.poured(scenario, bucket_key)`` is told about each bucket the event enters.
        """
        cx = self._cx
        cx.reset(now, recorder)
        route = self._router.route
        todo = route(evt)
        i = 0
        while i < len(todo):
            scn = todo[i]
            scn.offer(evt, cx)
            i += 1
            if scn.mutates:  # its expressions may have changed what routing reads: route the rest again
                todo = [s for s in route(evt) if s.index > scn.index]
                i = 0
        return cx.out

    def tick(self, now: datetime) -> list[Event]:
        """Expire LIVE buckets whose deadline is before ``now``: idle buckets underflow (no
        alert), counters overflow. Also forgets blackhole windows that ended."""
        out: list[Event] = []
        t = datetime_ns(now)
        self._timers.expire(t, out)
        for scn in self.scenarios:
            if scn.blackhole is not None:
                scn.blackhole.purge_live(t)
        return out

    def expire_replay(self, before: datetime) -> None:
        """Forget replay (TIMEMACHINE) buckets whose ``Last_ts + lifetime`` is before ``before``:
        an event at or after ``before`` would replace them anyway, so calling this with the
        latest event time seen minus a slack only changes results for events that arrive
        out of order by more than the slack. No alert comes out (counters never fire in a replay)."""
        self._replay_timers.expire(datetime_ns(before), [])

    def flush(self) -> None:
        """End of a replay: every bucket in flight is dropped without overflowing."""
        for scn in self.scenarios:
            for b in scn.buckets.values():
                b.alive = False
            scn.buckets.clear()
        self._timers.clear()
        self._replay_timers.clear()

    def dump(self) -> bytes:
        """Bucket state (queues, limiter, timestamps, distinct sets, blackhole windows) as a
        compact binary document (:mod:`.state`)."""
        return state.dump(self.scenarios)

    def restore(self, data: bytes) -> None:
        """Replace the bucket state with a :meth:`dump` (scenarios matched by name and order)."""
        self.flush()
        armed = [b for b in state.restore(self.scenarios, data) if b.deadline is not None]
        self._timers.push_all([b for b in armed if b.mode == LIVE])
        self._replay_timers.push_all([b for b in armed if b.mode != LIVE])

    def live_buckets(self) -> int:
        return sum(len(s.buckets) for s in self.scenarios)
