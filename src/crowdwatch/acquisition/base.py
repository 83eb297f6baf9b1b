"""What every live data source gives the agent: line records, a resume position, counters.

A live source (file tail, journald, syslog server, docker) runs its own thread(s) and hands
each line to a :data:`Sink` as a :class:`LineRecord`, in the order the source produced them.
The sink may block (back-pressure: the agent's pipeline is full). A record carries the
source's *position after this line* (an opaque JSON-able value, e.g. a file's inode and byte
offset, a journald cursor); the agent persists the position of the last line it has fully
processed, atomically with the alerts and bucket state that line led to, and gives it back
through ``resume`` when the source starts again, so a restart (even after ``kill -9``) neither
re-reads nor skips a line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~5x more per line
class LineRecord:
    """One line from a live source.

    ``key`` identifies the stream the position belongs to (``file:/var/log/auth.log``,
    ``journald:<filters>``, ``docker:<container id>``, ``syslog:udp:0.0.0.0:514``);
    ``module`` and ``src`` become the event's ``Line.Module`` / ``Line.Src``; ``time`` is a
    timestamp the source itself carries (journald, syslog), ``None`` for plain files.
    ``position`` is ``None`` for sources that cannot resume (syslog).
    """

    key: str
    text: str
    labels: Mapping[str, str]
    module: str
    src: str
    position: Any = None
    time: datetime | None = None


Sink = Callable[[LineRecord], None]
"""Receives each line; may block while the pipeline is full."""

Resume = Callable[[str], Any]
"""Position persisted for a stream ``key`` (``None`` when there is none)."""


@dataclass(slots=True)
class SourceCounters:
    """Per-stream counters: lines read by the source; parsed/unparsed/poured filled by the agent."""

    type: str = ""
    read: int = 0
    parsed: int = 0
    unparsed: int = 0
    poured: int = 0
    errors: int = 0  # read errors, over-long lines, malformed messages


@dataclass
class SourceSpec:
    """One document of ``acquis.yaml`` after validation (the common keys; ``options`` holds
    the keys specific to ``source``)."""

    source: str
    labels: dict[str, str]
    file: str  # the acquisition file it came from (for messages)
    line: int = 0
    mode: str = "tail"  # tail | cat
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)


class LiveSource(Protocol):
    """A running data source. ``start`` returns at once (work happens in the source's own
    threads); ``stop`` ends them and returns when no more lines will be delivered. A source
    in ``cat`` mode stops by itself at the end of its input; ``done`` tells."""

    spec: SourceSpec

    def start(self, sink: Sink, resume: Resume) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    @property
    def done(self) -> bool: ...

    def counters(self) -> dict[str, SourceCounters]:
        """Counters per stream key (the agent adds parsed/unparsed/poured to these objects)."""
        ...
