"""Forensic replay: cold log files → TIMEMACHINE events → a detection engine, in file order.

Files are read one after the other, in the order given (glob matches sorted), each line
becoming one TIMEMACHINE event labelled with its source's labels (ENGINE.md §3.4). Events
reach the engine strictly in that order and event time is the only clock of their buckets,
so replaying the same files always gives the same alerts. At the end the engine is told the
input is over (in-flight buckets are dropped, as CrowdSec does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from crowdwatch.acquisition.file import ReadStats, read_lines
from crowdwatch.event import TIMEMACHINE, Event, Line

PROGRESS_EVERY = 4096  # lines between two progress reports


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


def replay(
    engine: Engine,
    sources: Iterable[Source],
    on_alert: AlertSink,
    *,
    max_line_bytes: int,
    on_event: EventSink | None = None,
    progress: Callable[[Source], ProgressHook | None] | None = None,
) -> list[SourceStats]:
    """Replay ``sources`` through ``engine``; each alert (OVFLW event) goes to ``on_alert``.

    ``on_event`` sees every log event after processing with its line number (e.g. to list
    parsed events); ``progress(source)`` may return a hook called with the bytes read so far.
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
        for raw in read_lines(src.path, max_line_bytes, st.read):
            if hook is not None and raw.lineno % PROGRESS_EVERY == 0:
                hook(st.read.bytes)
            if raw.too_long:
                continue
            evt = Event(Line(raw.text, name, labels, "file", read_at), TIMEMACHINE)
            alerts = process(evt)
            if evt.Process:
                st.parsed += 1
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
