"""Bucket state across restarts: a compact, column-oriented binary document.

``dump`` returns ``MAGIC`` followed by a zlib stream (level 1) of a ``marshal`` (version 4)
document made of plain values only (no code objects): ``marshal`` writes an object that is
referenced several times once and back-references it afterwards, so the sharing of the live
state survives the round trip (a log line's ``Raw`` and ``Parsed.message``, the map keys a
parser sets on every event, a source's ``Labels`` map), and the restored state is as small in
memory as the original. Document ``crowdwatch-buckets/v2``::

    {"format": FORMAT, "events": {"count": n, "fields": {name: column}, "times": {name: times},
                                  "overflows": {row: RuntimeAlert}},
     "scenarios": [{"name": str, "buckets": {name: column}, "queue": [row...], "qlen": column,
                    "blackhole": [(key, end_ns, live), ...]}]}

A column is ``("c", value)`` when every row holds that very object, else ``("l", [values])``.
Events are stored once, as rows referenced from the queues (a log event poured into several
scenarios stays one object). Times are ISO 8601 text; their ``tzinfo`` is kept exactly
(name included) through a small table when ``fromisoformat`` would not give it back. Events
are rebuilt without running ``__init__`` (slots assigned column by column).

Scenarios are matched by name, then by position among scenarios of the same name; state of
scenarios that are no longer loaded is dropped. Restored buckets take their queue size and
burst from the scenario as loaded now.
"""

from __future__ import annotations

import marshal
import zlib
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import accumulate, chain, repeat
from operator import attrgetter, is_
from typing import Any
from zoneinfo import ZoneInfo

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Alert, AlertEvent, Event, Line, RuntimeAlert, Source
from crowdwatch.scenarios.bucket import UNBOUNDED, Bucket
from crowdwatch.scenarios.clock import Stamp
from crowdwatch.scenarios.factory import Scenario

FORMAT = "crowdwatch-buckets/v2"
MAGIC = b"CWBK\x02"
_MARSHAL_VERSION = 4
_LEVEL = 1  # zlib: level 1 already shrinks the document 5-10x, at a few hundred MB/s

# Event and Line slots saved as they are (times, the line, overflow and appsec apart)
_EVENT_FIELDS = (
    "Type",
    "ExpectMode",
    "Whitelisted",
    "WhitelistReason",
    "Stage",
    "Parsed",
    "Enriched",
    "Unmarshaled",
    "Meta",
    "StrTime",
    "StrTimeFormat",
    "MarshaledTime",
    "Process",
)
_LINE_FIELDS = ("Raw", "Src", "Labels", "Module", "Process")
_MUTABLE = frozenset({"Parsed", "Enriched", "Unmarshaled", "Meta", "Labels"})
_DICTS = ("Parsed", "Enriched", "Unmarshaled", "Meta", "Labels")

_EMPTY = Event()
_NO_OVERFLOW = _EMPTY.Overflow  # the shared empty RuntimeAlert of log events
_NO_APPSEC = _EMPTY.Appsec


class StateError(ValueError):
    """A state document cannot be restored."""


def dump(scenarios: list[Scenario]) -> bytes:
    per_scenario = [list(scn.buckets.values()) for scn in scenarios]
    queues = [list(map(_EVENTS, bs)) for bs in per_scenario]
    flat: list[Event] = list(chain.from_iterable(chain.from_iterable(queues)))
    unique = dict(zip(map(id, flat), flat, strict=True))  # first occurrence order
    events = list(unique.values())
    row = dict(zip(unique, range(len(events)), strict=True))
    doc_scenarios = []
    for scn, buckets, qs in zip(scenarios, per_scenario, queues, strict=True):
        refs = list(map(row.__getitem__, map(id, chain.from_iterable(qs))))
        doc_scenarios.append(
            {
                "name": scn.name,
                "buckets": _bucket_columns(buckets),
                "qlen": _column(list(map(len, qs))),
                "queue": refs,
                "blackhole": _windows(scn),
            }
        )
    doc = {"format": FORMAT, "events": _event_columns(events), "scenarios": doc_scenarios}
    try:
        body = marshal.dumps(doc, _MARSHAL_VERSION)
    except ValueError:  # a value that is not a plain one (set by an expression?): as text
        body = marshal.dumps(_plain(doc), _MARSHAL_VERSION)
    return MAGIC + zlib.compress(body, _LEVEL)


def restore(scenarios: list[Scenario], data: bytes) -> list[Bucket]:
    """Install the state of ``data`` into ``scenarios`` (whose tables must be empty); returns
    the restored buckets. Raises :class:`StateError` when the document is unusable."""
    doc = document(data)
    try:
        events = _events_from(doc["events"])
        by_name: dict[str, list[Scenario]] = {}
        for scn in scenarios:
            by_name.setdefault(scn.name, []).append(scn)
        seen: dict[str, int] = {}
        plan: list[tuple[Scenario, list[Bucket], list[Any]]] = []
        for entry in doc["scenarios"]:
            name = entry["name"]
            n = seen[name] = seen.get(name, -1) + 1
            same = by_name.get(name, [])
            if n >= len(same):
                continue
            scn = same[n]
            plan.append((scn, _buckets_from(scn, entry, events), entry["blackhole"]))
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateError(f"invalid bucket state: {type(exc).__name__}: {exc}") from None
    restored: list[Bucket] = []
    for scn, buckets, windows in plan:
        table = scn.buckets
        for b in buckets:
            table[b.key] = b
        restored.extend(buckets)
        if scn.blackhole is not None:
            for key, end, live in windows:
                scn.blackhole.add(str(key), int(end), bool(live))
    return restored


def document(data: bytes) -> dict[str, Any]:
    """The plain document inside a :func:`dump` (see the module docstring)."""
    if not data.startswith(MAGIC):
        raise StateError(f"not a {FORMAT} document")
    try:
        doc = marshal.loads(zlib.decompress(memoryview(data)[len(MAGIC) :]))
    except (EOFError, zlib.error, TypeError, ValueError) as exc:
        raise StateError(f"invalid bucket state: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError(f"not a {FORMAT} document")
    return doc


def describe(data: bytes) -> dict[str, dict[str, int]]:
    """Scenario name → bucket key → queued events, of a :func:`dump` (for tests and tools)."""
    doc = document(data)
    try:
        out: dict[str, dict[str, int]] = {}
        for entry in doc["scenarios"]:
            keys = _values(entry["buckets"]["key"], _count(entry))
            sizes = _values(entry["qlen"], len(keys))
            out.setdefault(entry["name"], {}).update(zip(keys, sizes, strict=True))
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateError(f"invalid bucket state: {type(exc).__name__}: {exc}") from None
    return out


def _plain(v: Any) -> Any:
    """``v`` with every value ``marshal`` cannot write replaced by its ``str`` (slow; rare)."""
    t = type(v)
    if t in (str, int, float, bool, bytes) or v is None:
        return v
    if t is dict:
        return {_plain(k): _plain(x) for k, x in v.items()}
    if t in (list, tuple, set, frozenset):
        return t(map(_plain, v))
    return str(v)


# --- columns -----------------------------------------------------------------------------------


def _column(values: list[Any]) -> tuple[str, Any]:
    """``("c", v)`` when every value is the object ``v`` (or there are none), else the list."""
    if not values:
        return ("c", None)
    first = values[0]
    if all(map(is_, values, repeat(first))):
        return ("c", first)
    return ("l", values)


def _values(col: Any, n: int) -> list[Any]:
    """The ``n`` values of a column (a constant column: ``n`` times the same object, as dumped)."""
    kind, value = col
    if kind == "c":
        return [value] * n
    if kind != "l" or type(value) is not list or len(value) != n:
        raise StateError(f"column of {len(value) if isinstance(value, list) else '?'} values, {n} expected")
    return value


def _count(entry: dict[str, Any]) -> int:
    n = entry["buckets"]["count"]
    if type(n) is not int or n < 0:
        raise StateError("bad bucket count")
    return n


def _setall(objs: list[Any], name: str, values: Iterable[Any]) -> None:
    """``obj.name = value`` for each pair, in C (no Python loop)."""
    deque(map(setattr, objs, repeat(name), values), maxlen=0)


# --- times ---------------------------------------------------------------------------------------


def _times(values: list[datetime]) -> tuple[list[str], list[Any] | None, list[int] | None]:
    """ISO texts, plus (table of zone specs, row → table index) unless ``fromisoformat`` gives
    every zone back exactly (``None`` and fixed offsets without a name of their own)."""
    zones = list(map(_TZINFO, values))
    distinct = dict(zip(map(id, zones), zones))
    if all(map(_exact_zone, distinct.values())):
        return list(map(datetime.isoformat, values)), None, None
    index = {k: i for i, k in enumerate(distinct)}
    table = [_zone_spec(z) for z in distinct.values()]
    naive = [t.replace(tzinfo=None).isoformat() for t in values]
    return naive, table, list(map(index.__getitem__, map(id, zones)))


_TZINFO = attrgetter("tzinfo")


def _exact_zone(z: tzinfo | None) -> bool:
    if z is None:
        return True
    if type(z) is not timezone:
        return False
    off = z.utcoffset(None)
    return z.tzname(None) == timezone(off).tzname(None)


def _zone_spec(z: tzinfo | None) -> Any:
    if z is None:
        return None
    if isinstance(z, ZoneInfo) and z.key:
        return ("zone", z.key)
    off = z.utcoffset(None) or timedelta(0)
    name = z.tzname(None)
    return ("fixed", off.days, off.seconds, off.microseconds, name)


def _zone_from(spec: Any) -> tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "zone":
        return ZoneInfo(str(spec[1]))
    _, days, seconds, micros, name = spec
    off = timedelta(days=days, seconds=seconds, microseconds=micros)
    return timezone(off, name) if isinstance(name, str) else timezone(off)


def _times_from(texts: list[str], table: list[Any] | None, rows: list[int] | None) -> list[datetime]:
    values = list(map(datetime.fromisoformat, texts))
    if table is None:
        return values
    if rows is None or len(rows) != len(values):
        raise StateError("bad time zone column")
    zones = [_zone_from(spec) for spec in table]
    return [t.replace(tzinfo=zones[i]) for t, i in zip(values, rows, strict=True)]


# --- events --------------------------------------------------------------------------------------

_EVENTS = attrgetter("events")
_LINE = attrgetter("Line")


def _event_columns(events: list[Event]) -> dict[str, Any]:
    lines = list(map(_LINE, events))
    fields = {name: _column(list(map(attrgetter(name), events))) for name in _EVENT_FIELDS}
    fields.update(
        {"Line." + name: _column(list(map(attrgetter(name), lines))) for name in _LINE_FIELDS}
    )
    times = {"Time": _times(list(map(attrgetter("Time"), events)))}
    times["Line.Time"] = _times(list(map(attrgetter("Time"), lines)))
    overflows = {i: _runtime_alert(e.Overflow) for i, e in enumerate(events) if e.Type == OVFLW}
    return {"count": len(events), "fields": fields, "times": times, "overflows": overflows}


def _events_from(doc: dict[str, Any]) -> list[Event]:
    n = doc["count"]
    if type(n) is not int or n < 0:
        raise StateError("bad event count")
    fields = doc["fields"]
    events: list[Event] = list(map(Event.__new__, repeat(Event, n)))
    lines: list[Line] = list(map(Line.__new__, repeat(Line, n)))
    for name in _EVENT_FIELDS:
        values = _values(fields[name], n)
        if name in _MUTABLE and not all(map(_is_dict, values)):
            raise StateError(f"{name}: maps expected")
        _setall(events, name, values)
    for name in _LINE_FIELDS:
        values = _values(fields["Line." + name], n)
        if name in _MUTABLE and not all(map(_is_dict, values)):
            raise StateError(f"Line.{name}: maps expected")
        _setall(lines, name, values)
    times = doc["times"]
    _setall(events, "Time", _checked(_times_from(*times["Time"]), n))
    _setall(lines, "Time", _checked(_times_from(*times["Line.Time"]), n))
    _setall(events, "Line", lines)
    _setall(events, "Appsec", repeat(_NO_APPSEC, n))
    _setall(events, "Overflow", repeat(_NO_OVERFLOW, n))
    for i, ra in doc["overflows"].items():
        evt = events[i] if type(i) is int and i >= 0 else None
        if evt is None or evt.Type != OVFLW:
            raise StateError(f"event {i} is not an overflow")
        evt.Overflow = _runtime_alert_from(ra)
    for evt in events:  # rare: overflows without their alert, other event types
        if evt.Type == OVFLW and evt.Overflow is _NO_OVERFLOW:
            evt.Overflow = RuntimeAlert()
    return events


def _is_dict(v: object) -> bool:
    return type(v) is dict


def _checked(values: list[Any], n: int) -> list[Any]:
    if len(values) != n:
        raise StateError(f"column of {len(values)} values, {n} expected")
    return values


# --- buckets -----------------------------------------------------------------------------------

_BUCKET_FIELDS = ("key", "mode", "uid", "total", "deadline", "tokens", "tlast", "distinct", "guillotines")
_STAMPS = ("first", "last", "ovflw")


def _stamps(values: list[Stamp | None]) -> tuple[str, Any]:
    """A column of ``(ns, off)`` pairs or ``None`` (``marshal`` takes no tuple subclass)."""
    nones = values.count(None)
    if nones == len(values):
        return ("c", None)
    if nones == 0:
        return ("l", list(map(tuple, values)))
    return ("l", [None if s is None else tuple(s) for s in values])


def _stamps_from(values: list[Any]) -> list[Stamp | None]:
    if values.count(None) == 0:
        return list(map(_new_tuple, repeat(Stamp), values))
    return [None if v is None else _new_tuple(Stamp, v) for v in values]


_new_tuple = tuple.__new__


def _bucket_columns(buckets: list[Bucket]) -> dict[str, Any]:
    cols: dict[str, Any] = {"count": len(buckets)}
    for name in _BUCKET_FIELDS:
        cols[name] = _column(list(map(attrgetter(name), buckets)))
    for name in _STAMPS:
        cols[name] = _stamps(list(map(attrgetter(name), buckets)))
    return cols


def _buckets_from(scn: Scenario, entry: dict[str, Any], events: list[Event]) -> list[Bucket]:
    cols = entry["buckets"]
    n = _count(entry)
    keys = _values(cols["key"], n)
    modes = _values(cols["mode"], n)
    if not set(modes) <= {LIVE, TIMEMACHINE}:
        raise StateError(f"unknown bucket mode in {set(modes) - {LIVE, TIMEMACHINE}}")
    qlen = _values(entry["qlen"], n)
    refs = entry["queue"]
    if len(refs) != sum(qlen) or (refs and min(refs) < 0) or min(qlen, default=0) < 0:
        raise StateError("queue references do not match the queue lengths")
    queued = list(map(events.__getitem__, refs))
    ends = list(accumulate(qlen))
    limit = scn.queue_size
    keep = limit + 1 if limit != UNBOUNDED else 0  # Bucket.add keeps at most limit + 1 events
    rate = scn.rate
    has_distinct = scn.distinct is not None
    n_guillotines = scn.guillotines
    new = Bucket.__new__
    out: list[Bucket] = []
    columns = zip(
        keys,
        modes,
        _values(cols["uid"], n),
        _values(cols["total"], n),
        _stamps_from(_values(cols["first"], n)),
        _stamps_from(_values(cols["last"], n)),
        _stamps_from(_values(cols["ovflw"], n)),
        _values(cols["deadline"], n),
        _values(cols["tokens"], n),
        _values(cols["tlast"], n),
        _values(cols["distinct"], n),
        _values(cols["guillotines"], n),
        ends,
        qlen,
        strict=True,
    )
    for key, mode, uid, total, first, last, ovflw, deadline, tokens, tlast, distinct, guil, end, size in columns:
        b = new(Bucket)
        b.scenario = scn
        b.key = key
        b.mode = mode
        b.alive = True
        b.total = total
        b.first = first
        b.last = last
        b.ovflw = ovflw
        b.deadline = deadline
        b.events = queued[end - min(size, keep) if keep else end - size : end]
        b.qview = None
        b.tokens = tokens if rate is None or tokens <= rate.burst else rate.burst
        b.tlast = tlast
        if has_distinct:
            b.distinct = distinct if type(distinct) is set else set()
        else:
            b.distinct = None
        if n_guillotines:
            b.guillotines = guil if type(guil) is list and len(guil) == n_guillotines else [False] * n_guillotines
        else:
            b.guillotines = None
        b.uid = uid
        out.append(b)
    return out


def _windows(scn: Scenario) -> list[tuple[str, int, bool]]:
    hole = scn.blackhole
    if hole is None:
        return []
    live = set(hole.live_heap)
    return [(key, end, (end, key) in live) for key, end in hole.until.items()]


# --- overflow events in queues (reprocessed alerts) ----------------------------------------------


def _runtime_alert(ra: RuntimeAlert) -> dict[str, Any]:
    alerts = ra.APIAlerts
    first = None
    if ra.Alert is not None:
        first = next((i for i, a in enumerate(alerts) if a is ra.Alert), None)
        if first is None:
            alerts = [ra.Alert, *alerts]
            first = 0
    return {
        "Mapkey": ra.Mapkey,
        "BucketId": ra.BucketId,
        "Whitelisted": ra.Whitelisted,
        "Reprocess": ra.Reprocess,
        "Sources": {k: s.to_dict() for k, s in ra.Sources.items()},
        "APIAlerts": [_alert(a) for a in alerts],
        "Alert": first,
    }


def _alert(a: Alert) -> dict[str, Any]:
    d = a.to_dict()
    d["events"] = [(e.Timestamp, [tuple(m) for m in e.Meta]) for e in a.Events]
    d["meta"] = [tuple(m) for m in a.Meta]
    d["labels"] = None if a.Labels is None else list(a.Labels)
    d["decisions"] = None if a.Decisions is None else list(a.Decisions)
    return d


def _runtime_alert_from(d: dict[str, Any]) -> RuntimeAlert:
    ra = RuntimeAlert()
    ra.Mapkey = str(d["Mapkey"])
    ra.BucketId = str(d["BucketId"])
    ra.Whitelisted = bool(d["Whitelisted"])
    ra.Reprocess = bool(d["Reprocess"])
    ra.Sources = {str(k): _source_from(s) for k, s in d["Sources"].items()}
    ra.APIAlerts = [_alert_from(a, ra.Sources) for a in d["APIAlerts"]]
    if d["Alert"] is not None:
        ra.Alert = ra.APIAlerts[int(d["Alert"])]
    return ra


def _source_from(d: dict[str, Any]) -> Source:
    src = Source(str(d["ip"]), str(d["range"]), str(d["scope"] or ""), str(d["value"] or ""))
    src.AsNumber = str(d["as_number"])
    src.AsName = str(d["as_name"])
    src.Cn = str(d["cn"])
    src.Latitude = float(d["latitude"])
    src.Longitude = float(d["longitude"])
    return src


def _alert_from(d: dict[str, Any], sources: dict[str, Source]) -> Alert:
    a = Alert()
    a.Scenario = str(d["scenario"])
    a.ScenarioHash = str(d["scenario_hash"])
    a.ScenarioVersion = str(d["scenario_version"])
    a.Message = str(d["message"])
    a.EventsCount = int(d["events_count"])
    a.Capacity = int(d["capacity"])
    a.Leakspeed = str(d["leakspeed"])
    a.StartAt = str(d["start_at"])
    a.StopAt = str(d["stop_at"])
    a.Remediation = bool(d["remediation"])
    a.Simulated = bool(d["simulated"])
    src = d["source"]
    if src is not None:  # the very Source object of ``Sources`` when it was one (alert.py)
        shared = sources.get(str(src["value"] or ""))
        a.Source = shared if shared is not None and shared.to_dict() == src else _source_from(src)
    a.Events = [AlertEvent(str(ts), [(str(k), str(v)) for k, v in meta]) for ts, meta in d["events"]]
    a.Meta = [(str(k), str(v)) for k, v in d["meta"]]
    a.Labels = d["labels"]
    a.Decisions = d["decisions"]
    return a

