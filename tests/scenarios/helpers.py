"""Building scenario sets from YAML text and events on a replay/live timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Event, Line
from crowdwatch.scenarios import ScenarioContext, ScenarioFile, ScenarioSet
from crowdwatch.scenarios.clock import Stamp, format_rfc3339, parse_rfc3339, stamp_from_datetime, to_datetime

BASE = datetime(2024, 1, 1, tzinfo=UTC)
BASE_NS = stamp_from_datetime(BASE).ns


def scenario_set(tmp: Path, *texts: str, simulated: frozenset[str] = frozenset()) -> ScenarioSet:
    tmp.mkdir(parents=True, exist_ok=True)
    files = []
    for i, text in enumerate(texts):
        path = tmp / f"s{i:02d}.yaml"
        path.write_text(text)
        files.append(ScenarioFile(path, hash=f"hash{i}", version="0.1"))
    return ScenarioSet.load(files, ScenarioContext(None, simulated=lambda name: name in simulated))


def at(seconds: float) -> str:
    """MarshaledTime ``seconds`` after 2024-01-01T00:00:00Z (nanosecond exact for short fractions)."""
    return format_rfc3339(Stamp(BASE_NS + round(seconds * 1e9)))


def wall(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def log_event(
    t: float | None = None,
    *,
    ip: str | None = "1.2.3.4",
    meta: dict[str, str] | None = None,
    enriched: dict[str, str] | None = None,
    marshaled: str | None = None,
    live: bool = False,
) -> Event:
    """A parsed log event; replay events carry ``MarshaledTime`` = ``at(t)`` (or ``marshaled``) and
    the same ``Time`` (as dateparse-enrich sets them)."""
    evt = Event(
        Line("line", "/var/log/x.log", {"type": "test"}, "file"), expect_mode=LIVE if live else TIMEMACHINE
    )
    evt.Process = True
    if ip is not None:
        evt.Meta["source_ip"] = ip
    evt.Meta["log_type"] = "test"
    evt.Meta.update(meta or {})
    evt.Enriched.update(enriched or {})
    if marshaled is not None:
        evt.MarshaledTime = marshaled
    elif t is not None:
        evt.MarshaledTime = at(t)
    stamp = parse_rfc3339(evt.MarshaledTime)
    if stamp is not None:
        evt.Time = to_datetime(stamp)
    return evt


def is_overflow(evt: Event) -> bool:
    return evt.Type == OVFLW and evt.Overflow.Alert is not None


def summary(evt: Event) -> dict[str, Any]:
    """The interesting fields of an overflow event, for compact assertions."""
    ra = evt.Overflow
    alert = ra.Alert
    assert alert is not None
    return {
        "scenario": alert.Scenario,
        "count": alert.EventsCount,
        "start": alert.StartAt,
        "stop": alert.StopAt,
        "sources": list(ra.Sources),
        "events": len(alert.Events),
        "message": alert.Message,
    }
