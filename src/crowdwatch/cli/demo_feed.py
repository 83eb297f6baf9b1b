"""Live traffic for ``crowdwatch demo``: the bundled sample logs written as if happening now.

The samples (``content/samples``) were recorded over about half a minute. :func:`schedule`
merges their lines by time into one timeline; :class:`Feeder` appends them to the demo
logs at a compressed pace, each line's timestamp rewritten to the moment it is written
(nginx's ``[10/Mar/2024:08:00:00 +0000]`` in UTC, syslog's ``Mar 10 08:00:00`` in local
time, as the real daemons write them), so the running service sees a live attack.

:func:`expected_attackers` replays the same samples through the service's detection items
(forensic mode): the IPs it raises remediation alerts for are the decisions to wait for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from crowdwatch.acquisition.replay import Engine

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUM = {m: i + 1 for i, m in enumerate(_MONTHS)}


@dataclass(frozen=True)
class Stamp:
    """Where a log format puts its timestamp, how to read it and how to write it."""

    pattern: re.Pattern[str]
    parse: Callable[[re.Match[str]], datetime]
    render: Callable[[datetime], str]


def _nginx_parse(m: re.Match[str]) -> datetime:
    return datetime.strptime(
        m.group(1).replace(m.group(2), f"{_MONTH_NUM[m.group(2)]:02d}"), "%d/%m/%Y:%H:%M:%S %z"
    )


def _nginx_render(when: datetime) -> str:
    t = when.astimezone(UTC)
    return f"[{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000]"


def _syslog_parse(m: re.Match[str]) -> datetime:
    day, clock = int(m.group(2)), m.group(3)
    h, mi, s = (int(x) for x in clock.split(":"))
    return datetime(2000, _MONTH_NUM[m.group(1)], day, h, mi, s, tzinfo=UTC)


def _syslog_render(when: datetime) -> str:
    t = when.astimezone()  # local time, no zone: what syslog daemons write
    return f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"


STAMPS: dict[str, Stamp] = {
    "nginx": Stamp(
        re.compile(r"\[(\d{2}/([A-Z][a-z]{2})/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]"),
        _nginx_parse,
        _nginx_render,
    ),
    "syslog": Stamp(
        re.compile(r"^([A-Z][a-z]{2}) ([ \d]\d) (\d{2}:\d{2}:\d{2})"), _syslog_parse, _syslog_render
    ),
}


@dataclass(frozen=True)
class DemoLog:
    """One bundled sample and the demo log it is appended to."""

    sample: Path
    type: str  # acquisition label type (selects the parsers and the timestamp format)
    target: Path


@dataclass(frozen=True)
class TimedLine:
    offset: float  # seconds after the first line of all samples
    log: DemoLog
    text: str  # without the newline


def schedule(logs: list[DemoLog]) -> list[TimedLine]:
    """Every sample line with its offset, merged by time (file order kept within a file and
    for equal times). Lines without a readable timestamp keep the previous line's time."""
    stamped: list[tuple[datetime, int, int, DemoLog, str]] = []
    for n, log in enumerate(logs):
        stamp = STAMPS[log.type]
        last: datetime | None = None
        lines = log.sample.read_text(encoding="utf-8").splitlines()
        pending: list[tuple[int, str]] = []
        for i, text in enumerate(lines):
            m = stamp.pattern.search(text)
            if m is not None:
                last = stamp.parse(m)
                for j, t in pending:  # lines before the first timestamp take its time
                    stamped.append((last, n, j, log, t))
                pending = []
            if last is None:
                pending.append((i, text))
            else:
                stamped.append((last, n, i, log, text))
        if pending:
            raise ValueError(f"{log.sample}: no {log.type} timestamp found")
    if not stamped:
        return []
    # each sample starts at offset 0 (syslog lines carry no year: comparing files is moot)
    firsts: dict[int, datetime] = {}
    for when, n, *_ in stamped:
        firsts[n] = min(firsts.get(n, when), when)
    timeline = [TimedLine((when - firsts[n]).total_seconds(), log, text) for when, n, i, log, text in stamped]
    order = sorted(range(len(timeline)), key=lambda k: (timeline[k].offset, stamped[k][1], stamped[k][2]))
    return [timeline[k] for k in order]


def restamp(line: TimedLine, when: datetime) -> str:
    """``line`` with its timestamp replaced by ``when``."""
    stamp = STAMPS[line.log.type]
    return stamp.pattern.sub(lambda _m: stamp.render(when), line.text, count=1)


class Feeder:
    """Appends a :func:`schedule` to the demo logs over ``duration`` seconds.

    Call :meth:`feed_due` in a loop: it writes (and flushes) the lines whose time has come
    and returns when the next one is due. Demo logs are created empty by :meth:`open`.
    """

    def __init__(self, lines: list[TimedLine], duration: float) -> None:
        self.lines = lines
        span = lines[-1].offset if lines else 0.0
        self.scale = duration / span if span > 0 else 0.0
        self.written = 0
        self.started: float | None = None  # monotonic time of the first line
        self._files: dict[Path, IO[str]] = {}

    @property
    def done(self) -> bool:
        return self.written >= len(self.lines)

    def open(self) -> None:
        for line in self.lines:
            t = line.log.target
            if t not in self._files:
                t.parent.mkdir(parents=True, exist_ok=True)
                self._files[t] = t.open("w", encoding="utf-8")

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def feed_due(self) -> float:
        """Write the lines due now; seconds until the next one (0 when all are written)."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        touched: set[Path] = set()
        while self.written < len(self.lines):
            line = self.lines[self.written]
            due = self.started + line.offset * self.scale
            if due > now:
                break
            f = self._files[line.log.target]
            f.write(restamp(line, datetime.now(UTC)) + "\n")
            touched.add(line.log.target)
            self.written += 1
        for t in touched:
            self._files[t].flush()
        if self.done:
            return 0.0
        return max(0.0, self.started + self.lines[self.written].offset * self.scale - time.monotonic())


def expected_attackers(engine: Engine, logs: list[DemoLog], max_line_bytes: int) -> dict[str, list[str]]:
    """IP → scenarios of the remediation alerts a forensic replay of the samples raises."""
    from crowdwatch.acquisition.replay import Source, replay
    from crowdwatch.agent.alerts import to_api_alerts
    from crowdwatch.event import Event

    found: dict[str, list[str]] = {}

    def on_alert(evt: Event) -> None:
        for alert in to_api_alerts(evt, ""):
            src = alert.get("source") or {}
            if src.get("scope") != "Ip" or not alert.get("remediation") or alert.get("simulated"):
                continue
            scenarios = found.setdefault(src["value"], [])
            if alert["scenario"] not in scenarios:
                scenarios.append(alert["scenario"])

    replay(
        engine,
        [Source(log.sample, {"type": log.type}) for log in logs],
        on_alert,
        max_line_bytes=max_line_bytes,
    )
    return found
