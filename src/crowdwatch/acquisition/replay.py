"""Forensic replay: cold log files → TIMEMACHINE events → a detection engine, in file order.

Files are read one after the other, in the order given (glob matches sorted), each line
becoming one TIMEMACHINE event labelled with its source's labels (ENGINE.md §3.4). Events
reach the engine strictly in that order and event time is the only clock of their buckets,
so replaying the same files always gives the same alerts. At the end the engine is told the
input is over (in-flight buckets are dropped, as CrowdSec does).

Memory: a bucket whose key never comes back would live until the end of the replay. Every
:data:`EXPIRE_EVERY` lines, buckets that ended before the oldest event time seen in those
lines minus :data:`EXPIRE_SLACK` are forgotten (``expire`` callback, e.g.
``ScenarioSet.expire_replay``): any event at or after that time would replace them anyway,
so alerts only change for events out of order by more than the slack. The oldest time of
the window (not the latest) is used so that a few lines dated "now" (dates that failed to
parse) cannot push the horizon forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from crowdwatch.acquisition.file import ReadStats, read_lines
from crowdwatch.event import TIMEMACHINE, Event, Line

EXPIRE_EVERY = 4096  # lines between two expiries of finished buckets (and progress reports)
EXPIRE_SLACK = timedelta(minutes=10)  # tolerated disorder of event times
_NEVER = datetime.max.replace(tzinfo=UTC)


class Engine(Protocol):
    """What replay needs from :class:`crowdwatch.engine.DetectionEngine`."""

    def process(self, evt: Event) -> list[Event]: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Source:
    """One file to replay with its acquisition labels (``type`` selects the parsers)."""

    path: Path
    labels: dict[str, str]

    @property
    def type(self) -> str:
        return self.labels.get("type", "")


@dataclass
class SourceStats:
    """Read counters of one source, how many of its lines parsed (whitelisted ones included)
    and how many alerts they caused."""

    path: str
    type: str
    read: ReadStats = field(default_factory=ReadStats)
    parsed: int = 0
    alerts: int = 0

    @property
    def lines_read(self) -> int:
        return self.read.lines + self.read.too_long

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "type": self.type,
            "lines_read": self.lines_read,
            "too_long": self.read.too_long,
            "empty_skipped": self.read.empty,
            "parsed": self.parsed,
            "alerts": self.alerts,
            "read_error": self.read.error or None,
        }


AlertSink = Callable[[Event], None]
EventSink = Callable[[Event, int], None]
ProgressHook = Callable[[int], None]
ExpireHook = Callable[[datetime], None]


def replay(
    engine: Engine,
    sources: Iterable[Source],
    on_alert: AlertSink,
    *,
    max_line_bytes: int,
    on_event: EventSink | None = None,
    progress: Callable[[Source], ProgressHook | None] | None = None,
    expire: ExpireHook | None = None,
) -> list[SourceStats]:
    """Replay ``sources`` through ``engine``; each alert (OVFLW event) goes to ``on_alert``.

    ``on_event`` sees every log event after processing with its line number (e.g. to list
    parsed events); ``progress(source)`` may return a hook called with the bytes read so far;
    ``expire(before)`` forgets the replay buckets that ended before ``before`` (see above).
    Raises :class:`~crowdwatch.acquisition.file.AcquisitionError` if a file cannot be opened.
    """
    results: list[SourceStats] = []
    process = engine.process
    for src in sources:
        st = SourceStats(str(src.path), src.type)
        results.append(st)
        hook = progress(src) if progress is not None else None
        name, labels = str(src.path), src.labels
        # Line.Time is the read time; one value per file keeps the hot loop free of clock calls
        read_at = datetime.now(UTC)
        oldest = _NEVER  # oldest event time since the last expiry
        for raw in read_lines(src.path, max_line_bytes, st.read):
            if raw.lineno % EXPIRE_EVERY == 0:
                if hook is not None:
                    hook(st.read.bytes)
                if expire is not None and oldest is not _NEVER:
                    expire(oldest - EXPIRE_SLACK)
                    oldest = _NEVER
            if raw.too_long:
                continue
            evt = Event(Line(raw.text, name, labels, "file", read_at), TIMEMACHINE)
            alerts = process(evt)
            if evt.Process:
                st.parsed += 1
                if evt.MarshaledTime and evt.Time < oldest:
                    oldest = evt.Time
            if on_event is not None:
                on_event(evt, raw.lineno)
            if alerts:
                st.alerts += len(alerts)
                for alert in alerts:
                    on_alert(alert)
        if hook is not None:
            hook(st.read.bytes)
    engine.finish()
    return results
