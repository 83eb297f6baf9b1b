"""The agent's engine thread: line records → detection → checkpoints of state and alerts.

Sources hand :class:`~crowdwatch.acquisition.base.LineRecord` s to :meth:`Pipeline.sink`,
which blocks while the bounded line queue is full (back-pressure up to the sources). One
thread runs the detection engine over them in arrival order (so per-source order is kept),
ticks the scenarios every second (LIVE timers and garbage collection) and checkpoints.

Checkpoints (``agent.state``):

* every ``checkpoint_interval`` a *light* checkpoint: position of the last processed line
  and counters of every stream that moved, plus the alerts raised since the previous one,
  in one transaction. Alerts reach the on-disk queue (and the pusher) at this pace.
* a *full* checkpoint also carries the bucket state (``ScenarioSet.dump``). Dumping costs
  about 40 µs per bucket (seconds with 60 000 buckets), and the engine waits meanwhile, so
  full checkpoints are spaced so that dumping takes at most ``dump_budget`` (5 %) of the
  time: ``interval = max(min_dump_interval, last dump time / dump_budget)``, at most
  ``max_dump_interval``; ``min_dump_interval`` defaults to 10 checkpoint intervals, which
  bounds what a restart after a crash re-reads. Stop and reload always take a full one.

Recovery after a crash (``kill -9``): the bucket state of the last full checkpoint is
restored and every stream resumes from its *dump* position, so the lines processed since
are processed again against the buckets they were poured into the first time. Counters
restart from the dump's counters, so no line is counted twice. While a stream has not yet
caught up with its light position, the alerts raised are matched against those already
queued since the dump (``(scenario, source value)``, a multiset): matches are dropped,
anything else is new and queued. No full checkpoint is taken during recovery (it would
forget the light positions); if the streams stay idle for ``recovery_idle`` seconds
before catching up (lines gone), recovery ends there.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from crowdwatch.acquisition.base import LineRecord, SourceCounters
from crowdwatch.agent.alerts import to_api_alerts
from crowdwatch.agent.state import AgentState, QueueFull, alert_identity
from crowdwatch.engine import DetectionEngine
from crowdwatch.event import LIVE, Event, Line
from crowdwatch.scenarios import StateError

log = logging.getLogger(__name__)

TICK_INTERVAL = 1.0
_BATCH = 256  # lines processed between two looks at the clock
_COUNTER_KEYS = ("lines", "parsed", "unparsed", "poured")


class _Stop:
    pass


_STOP = _Stop()
Command = Callable[[], None]


class _PourFlag:
    """Pour recorder that only notes whether the event entered any bucket."""

    __slots__ = ("hit",)

    def __init__(self) -> None:
        self.hit = False

    def poured(self, scenario: str, bucket_key: str) -> None:
        self.hit = True


class Pipeline:
    """One engine thread fed by a bounded queue; see the module docstring."""

    def __init__(
        self,
        engine: DetectionEngine,
        state: AgentState,
        *,
        machine_id: str = "",
        checkpoint_interval: float = 1.0,
        queue_size: int = 10_000,
        counters_of: Callable[[str], SourceCounters | None] | None = None,
        on_queued: Callable[[int], None] | None = None,
        dump_budget: float = 0.05,
        min_dump_interval: float | None = None,
        max_dump_interval: float = 600.0,
        recovery_idle: float = 10.0,
    ) -> None:
        self.engine = engine
        self.state = state
        self.machine_id = machine_id
        self.checkpoint_interval = checkpoint_interval
        self.dump_budget = dump_budget
        self.min_dump_interval = (
            min_dump_interval if min_dump_interval is not None else 10 * checkpoint_interval
        )
        self.max_dump_interval = max_dump_interval
        self.recovery_idle = recovery_idle
        self._counters_of = counters_of
        self._on_queued = on_queued
        self._q: queue.Queue[LineRecord | Command | _Stop] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self._positions: dict[str, Any] = {}
        self._counters: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        self._recovering: dict[str, int] = {}  # stream key -> lines count of its light position
        self._recent: Counter[tuple[str, str]] = Counter()
        self._source_counters: dict[str, SourceCounters | None] = {}
        self._flag = _PourFlag()
        self._stopping = False
        # figures (read by metrics and tests)
        self.lines = 0
        self.alerts = 0
        self.suppressed = 0
        self.errors = 0
        self.checkpoints = 0
        self.dumps = 0
        self.last_dump_seconds = 0.0
        self.last_dump_bytes = 0
        self._load()

    # --- start-up ---------------------------------------------------------------------------

    def _load(self) -> None:
        light = self.state.positions()
        data = self.state.buckets()
        dumped: dict[str, tuple[Any, dict[str, Any]]] = {}
        if data is not None and self.engine.scenarios is not None:
            try:
                self.engine.scenarios.restore(data)
                dumped = self.state.dump_positions()
            except StateError as exc:
                log.warning("bucket state not restored (%s): starting with empty buckets", exc)
        start = dict(light)
        for key, (pos, cnt) in dumped.items():
            target = int(light.get(key, (None, {}))[1].get("lines", 0))
            start[key] = (pos, cnt)
            if target > int(cnt.get("lines", 0)):
                self._recovering[key] = target
        for key, (pos, cnt) in start.items():
            if pos is not None:
                self._positions[key] = pos
            self._counters[key] = {k: int(cnt.get(k, 0)) for k in _COUNTER_KEYS}
        if self._recovering:
            self._recent = Counter(self.state.recent_alerts())
            log.info(
                "recovering: re-reading %d lines processed after the last bucket dump",
                sum(t - self._counters[k]["lines"] for k, t in self._recovering.items()),
            )

    def resume(self, key: str) -> Any:
        """Where the stream ``key`` resumes (the sources' ``resume`` callback)."""
        return self._positions.get(key)

    def counters(self) -> dict[str, dict[str, int]]:
        """Per stream: lines processed, parsed, unparsed, poured (persisted, across restarts)."""
        return {k: dict(v) for k, v in self._counters.items()}

    @property
    def recovering(self) -> bool:
        return bool(self._recovering)

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="crowdwatch-engine", daemon=True)
        self._thread.start()

    def sink(self, rec: LineRecord) -> None:
        """Queue one line (blocks while the pipeline is full)."""
        self._q.put(rec)

    def queued_lines(self) -> int:
        return self._q.qsize()

    def call(self, fn: Command, timeout: float | None = None) -> None:
        """Run ``fn`` in the engine thread after every line queued so far; wait for it."""
        done = threading.Event()
        err: list[BaseException] = []

        def cmd() -> None:
            try:
                fn()
            except BaseException as exc:
                err.append(exc)
            finally:
                done.set()

        self._q.put(cmd)
        if not done.wait(timeout):
            raise TimeoutError("engine thread did not answer")
        if err:
            raise err[0]

    def replace_engine(self, engine: DetectionEngine) -> None:
        """Swap in a reloaded engine, its buckets carried over (dump → restore), then take a
        full checkpoint. Call once the old sources are stopped: queued lines go to the old
        engine first."""

        def swap() -> None:
            old = self.engine
            if old.scenarios is not None and engine.scenarios is not None:
                try:
                    engine.scenarios.restore(old.scenarios.dump())
                except StateError as exc:
                    log.warning("bucket state not carried over the reload: %s", exc)
            self.engine = engine
            self._source_counters.clear()  # the sources are rebuilt too
            self._checkpoint(full=not self._recovering)

        self.call(swap)

    def stop(self, timeout: float = 30.0) -> None:
        """Process the lines still queued, take a final (full) checkpoint and end the thread."""
        if self._thread is None:
            return
        self._q.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stopping = True  # a checkpoint waiting for queue room gives up
            self._thread.join(5)
        self._thread = None

    # --- the engine thread ------------------------------------------------------------------

    def _run(self) -> None:
        q = self._q
        now = time.monotonic()
        next_tick = now + TICK_INTERVAL
        next_ckpt = now + self.checkpoint_interval
        next_dump = now + self.checkpoint_interval
        idle_since: float | None = None
        while True:
            item: LineRecord | Command | _Stop | None
            try:
                item = q.get(timeout=max(0.0, min(next_tick, next_ckpt) - time.monotonic()))
            except queue.Empty:
                item = None
            stop = False
            for _ in range(_BATCH):
                if item is None:
                    break
                if isinstance(item, LineRecord):
                    self._line(item)
                elif isinstance(item, _Stop):
                    stop = True
                    break
                else:
                    item()
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    item = None
            if stop:
                break
            if item is not None:  # batch full: put the look-ahead back in front
                self._process_one(item)
            now = time.monotonic()
            if now >= next_tick:
                self._tick()
                next_tick = now + TICK_INTERVAL
            if self._recovering:
                if q.empty():
                    idle_since = idle_since if idle_since is not None else now
                    if now - idle_since >= self.recovery_idle:
                        self._end_recovery("streams idle before catching up")
                else:
                    idle_since = None
            if now >= next_ckpt:
                full = now >= next_dump and not self._recovering
                self._checkpoint(full=full)
                now = time.monotonic()
                next_ckpt = now + self.checkpoint_interval
                if full:
                    wait = self.last_dump_seconds / self.dump_budget if self.dump_budget > 0 else 0.0
                    next_dump = now + min(self.max_dump_interval, max(self.min_dump_interval, wait))
        self._tick()
        self._checkpoint(full=not self._recovering)

    def _process_one(self, item: LineRecord | Command | _Stop) -> None:
        if isinstance(item, LineRecord):
            self._line(item)
        elif isinstance(item, _Stop):
            self._q.put(item)  # seen again at the next round
        else:
            item()

    def _line(self, rec: LineRecord) -> None:
        key = rec.key
        cnt = self._counters.get(key)
        if cnt is None:
            cnt = self._counters[key] = dict.fromkeys(_COUNTER_KEYS, 0)
        labels = rec.labels if isinstance(rec.labels, dict) else dict(rec.labels)
        evt = Event(Line(rec.text, rec.src, labels, rec.module, rec.time or datetime.now(UTC)), LIVE)
        flag = self._flag
        flag.hit = False
        try:
            alerts = self.engine.process(evt, None, flag)
        except Exception:  # one bad line must not stop the agent
            self.errors += 1
            log.exception("processing a line of %s failed", key)
            alerts = []
        cnt["lines"] += 1
        parsed = evt.Process or evt.Whitelisted
        cnt["parsed" if parsed else "unparsed"] += 1
        if flag.hit:
            cnt["poured"] += 1
        sc = self._source_counters.get(key)
        if sc is None and self._counters_of is not None:
            sc = self._source_counters[key] = self._counters_of(key)
        if sc is not None:
            if parsed:
                sc.parsed += 1
            else:
                sc.unparsed += 1
            if flag.hit:
                sc.poured += 1
        if rec.position is not None:
            self._positions[key] = rec.position
        self._dirty.add(key)
        self.lines += 1
        if alerts:
            self._emit(alerts)
        if self._recovering:
            target = self._recovering.get(key)
            if target is not None and cnt["lines"] >= target:
                del self._recovering[key]
                if not self._recovering:
                    self._end_recovery("caught up")

    def _end_recovery(self, why: str) -> None:
        log.info("recovery done (%s): %d re-raised alerts were already queued", why, self.suppressed)
        self._recovering.clear()
        self._recent.clear()

    def _tick(self) -> None:
        alerts = self.engine.tick(datetime.now(UTC))
        if alerts:
            self._emit(alerts)

    def _emit(self, events: list[Event]) -> None:
        for evt in events:
            for doc in to_api_alerts(evt, self.machine_id):
                if self._recovering:
                    ident = alert_identity(doc)
                    if self._recent[ident] > 0:
                        self._recent[ident] -= 1
                        self.suppressed += 1
                        continue
                self._pending.append(doc)
                self.alerts += 1

    def _checkpoint(self, *, full: bool) -> None:
        keys = self._dirty - self._recovering.keys()
        positions = {k: self._positions[k] for k in keys if k in self._positions}
        counters: Mapping[str, Any] = {k: dict(self._counters[k]) for k in keys}
        data: bytes | None = None
        scenarios = self.engine.scenarios
        if full and scenarios is not None:
            t0 = time.perf_counter()
            data = scenarios.dump()
            self.last_dump_seconds = time.perf_counter() - t0
            self.last_dump_bytes = len(data)
            self.dumps += 1
        elif not keys and not self._pending:
            return
        pending = self._pending
        while True:
            try:
                self.state.checkpoint(positions, counters, pending, data, timeout=1.0)
                break
            except QueueFull:
                if self._stopping:
                    log.warning("stopping with a full alert queue: last lines will be read again at start")
                    return
        self.checkpoints += 1
        self._dirty -= keys
        self._pending = []
        if pending and self._on_queued is not None:
            self._on_queued(len(pending))
