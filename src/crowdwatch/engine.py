"""The detection orchestrator: parse → scenarios → postoverflows → reprocess → out.

One :class:`DetectionEngine` owns the three loaded stages of ENGINE.md §1:

* a log event goes through the parser pipeline; it is poured into the scenarios only when
  it parsed (``Process``) and is not whitelisted (§4.4);
* every overflow runs through the postoverflow stages (§8; stage gating applies, so the
  whitelists of ``s01-whitelist`` are only reached through an ``s00-enrich`` node with
  ``onsuccess: next_stage``); a whitelisted overflow is counted and dropped;
* an overflow of a scenario with ``reprocess: true`` is poured again into the scenarios as
  the LIVE overflow event it is (not re-parsed, §7.4); what that causes is handled the same
  way, up to :data:`MAX_REPROCESS_DEPTH` levels (a loop guard: CrowdSec has none);
* what is left are the alerts ready for LAPI, returned in the order they were produced.

Observers (hubtest, explain) see every overflow after postoverflows, whitelisted ones
included, through ``on_overflow``; parser and postoverflow node evaluations go to the
``recorder`` given to :meth:`process`/:meth:`tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from crowdwatch.event import Event
from crowdwatch.parser import ParseRecorder, ParserPipeline

if TYPE_CHECKING:
    from crowdwatch.scenarios import PourRecorder, ScenarioSet

log = logging.getLogger("crowdwatch.engine")

MAX_REPROCESS_DEPTH = 8
"""How many times an overflow caused by a reprocessed overflow may itself be reprocessed."""

OverflowHook = Callable[[Event, int], None]
"""Called with each overflow event after postoverflows (whitelisted or not) and its reprocess depth."""


@dataclass(slots=True)
class EngineStats:
    """Counters of one engine (ENGINE.md §1 drop points)."""

    lines: int = 0  # log events offered to process()
    parsed: int = 0  # parsed and not whitelisted
    unparsed: int = 0  # dropped by the parsers (no stage succeeded, or a parse error)
    whitelisted: int = 0  # parsed events a parser whitelist dropped
    poured: int = 0  # events handed to the scenarios (log events and reprocessed overflows)
    pour_errors: int = 0  # pours (and ticks) the scenario engine failed on
    overflows: int = 0  # overflows that carry an alert, before postoverflows
    postoverflow_whitelisted: int = 0  # overflows dropped by a postoverflow whitelist
    reprocessed: int = 0  # overflows poured again into the scenarios
    reprocess_dropped: int = 0  # reprocess requests refused by the depth limit
    alerts: int = 0  # overflows returned (ready for LAPI)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class DetectionEngine:
    """Runs events through parsers, scenarios and postoverflows; see the module docstring."""

    __slots__ = ("_clock", "on_overflow", "parsers", "postoverflows", "scenarios", "stats")

    def __init__(
        self,
        parsers: ParserPipeline,
        scenarios: ScenarioSet | None = None,
        postoverflows: ParserPipeline | None = None,
        *,
        on_overflow: OverflowHook | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` is the time given to the scenarios for LIVE events (reprocessed overflows);
        ``None`` lets the scenario engine use the wall clock."""
        self.parsers = parsers
        self.scenarios = scenarios
        self.postoverflows = postoverflows
        self.on_overflow = on_overflow
        self._clock = clock
        self.stats = EngineStats()

    # --- per event ----------------------------------------------------------------------
    def process(
        self, evt: Event, recorder: ParseRecorder | None = None, pour_recorder: PourRecorder | None = None
    ) -> list[Event]:
        """Parse ``evt`` and pour it; returns the alerts (OVFLW events) it caused, in order.

        ``recorder`` receives parser and postoverflow node evaluations; ``pour_recorder``
        (``.poured(scenario, bucket_key)``) the buckets the event entered.
        """
        stats = self.stats
        stats.lines += 1
        if not self.parsers.process(evt, recorder):
            if evt.Whitelisted:
                stats.whitelisted += 1
            else:
                stats.unparsed += 1
            return []
        stats.parsed += 1
        if self.scenarios is None:
            return []
        return self._pour(evt, None, recorder, pour_recorder, 0)

    def tick(self, now: datetime, recorder: ParseRecorder | None = None) -> list[Event]:
        """Advance the scenarios' clock to ``now`` (timers, expiry); returns the alerts it caused."""
        if self.scenarios is None:
            return []
        try:
            overflows = self.scenarios.tick(now)
        except Exception:  # a broken timer must not stop the engine
            self.stats.pour_errors += 1
            log.exception("scenario tick failed")
            return []
        return self._handle(overflows, recorder, None, 0)

    def finish(self) -> None:
        """End of input (replay): drop every live bucket without overflowing (ENGINE.md §3.4)."""
        if self.scenarios is not None:
            self.scenarios.flush()

    # --- internals ----------------------------------------------------------------------
    def _pour(
        self,
        evt: Event,
        now: datetime | None,
        recorder: ParseRecorder | None,
        pour_recorder: PourRecorder | None,
        depth: int,
    ) -> list[Event]:
        scenarios = self.scenarios
        assert scenarios is not None
        self.stats.poured += 1
        try:
            overflows = scenarios.pour(evt, now, pour_recorder)
        except Exception:  # per-event problems are counted, never raised
            self.stats.pour_errors += 1
            log.exception("pouring an event into the scenarios failed")
            return []
        if not overflows:
            return overflows
        return self._handle(overflows, recorder, pour_recorder, depth)

    def _handle(
        self,
        overflows: Iterable[Event],
        recorder: ParseRecorder | None,
        pour_recorder: PourRecorder | None,
        depth: int,
    ) -> list[Event]:
        stats = self.stats
        post = self.postoverflows
        hook = self.on_overflow
        out: list[Event] = []
        for ovf in overflows:
            stats.overflows += 1
            if post is not None:
                post.process(ovf, recorder)
            if hook is not None:
                hook(ovf, depth)
            if ovf.Overflow.Whitelisted:
                stats.postoverflow_whitelisted += 1
                continue
            out.append(ovf)
            stats.alerts += 1
            if not ovf.Overflow.Reprocess:
                continue
            if depth >= MAX_REPROCESS_DEPTH:
                stats.reprocess_dropped += 1
                log.warning(
                    "overflow of %s not reprocessed: reprocess depth limit (%d) reached",
                    ovf.Overflow.Alert.Scenario if ovf.Overflow.Alert else "?",
                    MAX_REPROCESS_DEPTH,
                )
                continue
            stats.reprocessed += 1
            now = self._clock() if self._clock is not None else None
            out.extend(self._pour(ovf, now, recorder, pour_recorder, depth + 1))
        return out
