"""Bucket state across restarts: a compact, column-oriented binary document.

``dump`` returns ``MAGIC`` followed by a zstandard frame (level 1) of a ``marshal`` (version 4)
document made of plain values only (no code objects). ``marshal`` writes an object that is
referenced several times once and back-references it afterwards, so the sharing of the live
state survives the round trip (a log line's ``Raw`` and ``Parsed.message``, the map keys a
parser sets on every event, a source's ``Labels`` map) and the restored state takes as little
memory as the original. Document ``crowdwatch-buckets/v2``::

    {"format": FORMAT,
     "events": {"count": n, "fields": {slot: column}, "times": {slot: times},
                "overflows": {row: RuntimeAlert}},
     "scenarios": [{"name": str, "buckets": {"count": m, slot: column}, "qlen": column,
                    "queue": column of event rows, "blackhole": [(key, end_ns, live), ...]}]}

Columns (:func:`_column`, :func:`_ints`): ``("c", v)`` when every row holds the very object
``v``; ``("l", [values])``; integers and floats as little-endian 64-bit arrays (``"q"``,
``"d"``; ``"qn"`` adds a ``None`` mask). Events are stored once, as rows referenced from the
queues (a log event poured into several scenarios stays one object), and rebuilt without
running ``__init__`` (slots assigned column by column, in C). Times are microseconds since
the epoch plus their fixed-offset zone (name included); other zones take a slower path.
The garbage collector is paused while a document is written or read (millions of objects).

Scenarios are matched by name, then by position among scenarios of the same name; state of
scenarios that are no longer loaded is dropped. Restored buckets take their queue size and
burst from the scenario as loaded now.
"""

from __future__ import annotations

import gc
import marshal
import sys
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import accumulate, chain, repeat
from operator import add, attrgetter, floordiv, is_, sub
from typing import Any

import zstandard

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Alert, AlertEvent, Event, Line, RuntimeAlert, Source
from crowdwatch.scenarios.bucket import UNBOUNDED, Bucket
from crowdwatch.scenarios.clock import Stamp
from crowdwatch.scenarios.factory import Scenario

FORMAT = "crowdwatch-buckets/v2"
MAGIC = b"CWBK\x02"
_MARSHAL_VERSION = 4
_LEVEL = 1  # zstd level 1: ~9x smaller at several hundred MB/s (zlib -1: 3x slower, larger)

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
_MAPS = frozenset({"Parsed", "Enriched", "Unmarshaled", "Meta", "Labels"})

_EMPTY = Event()
_NO_OVERFLOW = _EMPTY.Overflow  # the shared empty RuntimeAlert of log events
_NO_APPSEC = _EMPTY.Appsec


class StateError(ValueError):
    """A state document cannot be restored."""


def dump(scenarios: list[Scenario]) -> bytes:
    with _gc_paused():
        per_scenario = [list(scn.buckets.values()) for scn in scenarios]
        queues = [list(map(_EVENTS, bs)) for bs in per_scenario]
        flat: list[Event] = list(chain.from_iterable(chain.from_iterable(queues)))
        unique = dict(zip(map(id, flat), flat, strict=True))  # in order of first appearance
        events = list(unique.values())
        row = dict(zip(unique, range(len(events)), strict=True))
        doc_scenarios = []
        for scn, buckets, qs in zip(scenarios, per_scenario, queues, strict=True):
            refs = list(map(row.__getitem__, map(id, chain.from_iterable(qs))))
            doc_scenarios.append(
                {
                    "name": scn.name,
                    "buckets": _bucket_columns(buckets),
                    "qlen": _ints(list(map(len, qs))),
                    "queue": _ints(refs),
                    "blackhole": _windows(scn),
                }
            )
        doc = {"format": FORMAT, "events": _event_columns(events), "scenarios": doc_scenarios}
        try:
            body = marshal.dumps(doc, _MARSHAL_VERSION)
        except ValueError:  # a value that is not a plain one (set by an expression?): as text
            body = marshal.dumps(_plain(doc), _MARSHAL_VERSION)
        return MAGIC + zstandard.ZstdCompressor(level=_LEVEL).compress(body)


def restore(scenarios: list[Scenario], data: bytes) -> list[Bucket]:
    """Install the state of ``data`` into ``scenarios`` (whose tables must be empty); returns
    the restored buckets. Raises :class:`StateError` when the document is unusable."""
    with _gc_paused():
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
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise StateError(f"invalid bucket state: {type(exc).__name__}: {exc}") from None
        restored: list[Bucket] = []
        for scn, buckets, windows in plan:
            scn.buckets.update(zip(map(_KEY, buckets), buckets, strict=True))
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
        body = zstandard.ZstdDecompressor().decompress(memoryview(data)[len(MAGIC) :])
        doc = marshal.loads(body)
    except (EOFError, zstandard.ZstdError, TypeError, ValueError) as exc:
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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection while millions of objects are made (each would walk the whole heap)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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

_SWAP = sys.byteorder != "little"


def _column(values: list[Any]) -> tuple[str, Any]:
    """``("c", v)`` when every value is the object ``v`` (or there are none), else the list."""
    if not values:
        return ("c", None)
    first = values[0]
    if all(map(is_, values, repeat(first))):
        return ("c", first)
    return ("l", values)


def _packed(code: str, values: Iterable[Any]) -> bytes:
    arr = array(code, values)
    if _SWAP:
        arr.byteswap()
    return arr.tobytes()


def _unpacked(code: str, blob: bytes) -> list[Any]:
    arr = array(code)
    arr.frombytes(blob)
    if _SWAP:
        arr.byteswap()
    return arr.tolist()


def _ints(values: list[Any]) -> tuple[Any, ...]:
    """A column of ints (``None`` allowed) as a packed array when they fit in 64 bits."""
    col = _column(values)
    if col[0] == "c":
        return col
    try:
        nones = values.count(None)
        if not nones:
            return ("q", _packed("q", values))
        mask = bytes(map(is_, values, repeat(None)))
        return ("qn", _packed("q", [0 if v is None else v for v in values]), mask)
    except (TypeError, OverflowError):  # not all ints (a bool is one)
        return col


def _floats(values: list[Any]) -> tuple[Any, ...]:
    col = _column(values)
    if col[0] == "c" or not all(map(float.__instancecheck__, values)):
        return col
    return ("d", _packed("d", values))


def _values(col: Any, n: int) -> list[Any]:
    """The ``n`` values of a column (a constant column: ``n`` times the same object, as dumped)."""
    kind = col[0]
    if kind == "c":
        return [col[1]] * n
    if kind == "l":
        values = col[1]
    elif kind == "q":
        values = _unpacked("q", col[1])
    elif kind == "d":
        values = _unpacked("d", col[1])
    elif kind == "qn":
        values = _unpacked("q", col[1])
        mask = col[2]
        if len(mask) != len(values):
            raise StateError("bad None mask")
        values = [None if m else v for v, m in zip(values, mask, strict=True)]
    else:
        raise StateError(f"unknown column kind {kind!r}")
    if type(values) is not list or len(values) != n:
        raise StateError(f"column of {len(values)} values, {n} expected")
    return values


def _count(entry: dict[str, Any]) -> int:
    n = entry["buckets"]["count"]
    if type(n) is not int or n < 0:
        raise StateError("bad bucket count")
    return n


def _setall(objs: list[Any], name: str, values: Iterable[Any]) -> None:
    """``obj.name = value`` for each pair, in C (no Python loop)."""
    deque(map(setattr, objs, repeat(name), values), maxlen=0)


# --- times ---------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_TZINFO = attrgetter("tzinfo")


def _times(values: list[datetime]) -> tuple[Any, ...]:
    """Fixed-offset zones (the common case): ``("us", zone specs, zone column, µs since the
    epoch)``; otherwise ``("iso", zone specs, zone column, naive ISO texts)``."""
    zones = list(map(_TZINFO, values))
    distinct = dict(zip(map(id, zones), zones))
    index = {k: i for i, k in enumerate(distinct)}
    specs = [_zone_spec(z) for z in distinct.values()]
    rows = _ints(list(map(index.__getitem__, map(id, zones)))) if len(distinct) > 1 else ("c", 0)
    if all(type(z) is timezone for z in distinct.values()):
        return (
            "us",
            specs,
            rows,
            _ints(list(map(floordiv, map(sub, values, repeat(_EPOCH)), repeat(_MICRO)))),
        )
    return ("iso", specs, rows, _column([t.replace(tzinfo=None).isoformat() for t in values]))


def _zone_spec(z: tzinfo | None) -> Any:
    if z is None:
        return None
    key = getattr(z, "key", None)
    if type(z) is not timezone and isinstance(key, str):  # zoneinfo.ZoneInfo
        return ("zone", key)
    off = z.utcoffset(None) or timedelta(0)
    return ("fixed", off.days, off.seconds, off.microseconds, z.tzname(None))


def _zone_from(spec: Any) -> tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "zone":
        from zoneinfo import ZoneInfo

        return ZoneInfo(str(spec[1]))
    _, days, seconds, micros, name = spec
    off = timedelta(days=days, seconds=seconds, microseconds=micros)
    plain = timezone(off)
    return plain if name is None or name == plain.tzname(None) else timezone(off, name)


def _times_from(doc: Any, n: int) -> list[datetime]:
    kind, specs, rows, data = doc
    zones = [_zone_from(spec) for spec in specs]
    zone_rows = _values(rows, n)
    if kind == "us":
        bases = [_EPOCH.astimezone(z) for z in zones]  # a fixed offset: wall-clock sums are exact
        deltas = map(timedelta, repeat(0), repeat(0), _values(data, n))
        if len(bases) == 1:
            return list(map(add, repeat(bases[0]), deltas))
        return list(map(add, map(bases.__getitem__, zone_rows), deltas))
    if kind == "iso":
        texts = _values(data, n)
        return [
            datetime.fromisoformat(t).replace(tzinfo=zones[z]) for t, z in zip(texts, zone_rows, strict=True)
        ]
    raise StateError(f"unknown time column kind {kind!r}")


# --- events --------------------------------------------------------------------------------------

_EVENTS = attrgetter("events")
_LINE = attrgetter("Line")
_KEY = attrgetter("key")


def _event_columns(events: list[Event]) -> dict[str, Any]:
    lines = list(map(_LINE, events))
    fields = {name: _column(list(map(attrgetter(name), events))) for name in _EVENT_FIELDS}
    for name in _LINE_FIELDS:
        fields["Line." + name] = _column(list(map(attrgetter(name), lines)))
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
        if name in _MAPS and not all(map(dict.__instancecheck__, values)):
            raise StateError(f"{name}: maps expected")
        _setall(events, name, values)
    for name in _LINE_FIELDS:
        values = _values(fields["Line." + name], n)
        if name in _MAPS and not all(map(dict.__instancecheck__, values)):
            raise StateError(f"Line.{name}: maps expected")
        _setall(lines, name, values)
    times = doc["times"]
    _setall(events, "Time", _times_from(times["Time"], n))
    _setall(lines, "Time", _times_from(times["Line.Time"], n))
    _setall(events, "Line", lines)
    _setall(events, "Appsec", repeat(_NO_APPSEC, n))
    _setall(events, "Overflow", repeat(_NO_OVERFLOW, n))
    for i, ra in doc["overflows"].items():
        evt = events[i] if type(i) is int and i >= 0 else None
        if evt is None or evt.Type != OVFLW:
            raise StateError(f"event {i} is not an overflow")
        evt.Overflow = _runtime_alert_from(ra)
    return events


# --- buckets -----------------------------------------------------------------------------------

_STAMPS = ("first", "last", "ovflw")
_new_tuple = tuple.__new__


def _stamps(values: list[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Two int columns (``ns``, ``off``; ``None`` in ``ns`` for no stamp)."""
    if not values.count(None):
        return _ints([s[0] for s in values]), _ints([s[1] for s in values])
    ns = [None if s is None else s[0] for s in values]
    return _ints(ns), _ints([0 if s is None else s[1] for s in values])


def _stamps_from(cols: Any, n: int) -> list[Stamp | None]:
    ns = _values(cols[0], n)
    off = _values(cols[1], n)
    if not ns.count(None):
        return list(map(_new_tuple, repeat(Stamp), zip(ns, off, strict=True)))
    return [None if t is None else _new_tuple(Stamp, (t, o)) for t, o in zip(ns, off, strict=True)]


def _bucket_columns(buckets: list[Bucket]) -> dict[str, Any]:
    def col(name: str) -> list[Any]:
        return list(map(attrgetter(name), buckets))

    cols: dict[str, Any] = {"count": len(buckets)}
    cols["key"] = _column(col("key"))
    cols["uid"] = _column(col("uid"))
    cols["distinct"] = _column(col("distinct"))
    cols["guillotines"] = _column(col("guillotines"))
    for name in ("mode", "total", "deadline", "tlast"):
        cols[name] = _ints(col(name))
    cols["tokens"] = _floats(col("tokens"))
    for name in _STAMPS:
        cols[name] = _stamps(col(name))
    return cols


def _buckets_from(scn: Scenario, entry: dict[str, Any], events: list[Event]) -> list[Bucket]:
    cols = entry["buckets"]
    n = _count(entry)
    modes = _values(cols["mode"], n)
    if not set(modes) <= {LIVE, TIMEMACHINE}:
        raise StateError(f"unknown bucket mode in {set(modes) - {LIVE, TIMEMACHINE}}")
    qlen = _values(entry["qlen"], n)
    refs = _values(entry["queue"], sum(qlen))
    if (refs and min(refs) < 0) or min(qlen, default=0) < 0:
        raise StateError("negative queue reference or length")
    queued = list(map(events.__getitem__, refs))
    limit = scn.queue_size
    keep = limit + 1 if limit != UNBOUNDED else 0  # Bucket.add keeps at most limit + 1 events
    rate = scn.rate
    burst = rate.burst if rate is not None else 0.0
    has_distinct = scn.distinct is not None
    n_guillotines = scn.guillotines
    new = Bucket.__new__
    out: list[Bucket] = []
    columns = zip(
        _values(cols["key"], n),
        modes,
        _values(cols["uid"], n),
        _values(cols["total"], n),
        _stamps_from(cols["first"], n),
        _stamps_from(cols["last"], n),
        _stamps_from(cols["ovflw"], n),
        _values(cols["deadline"], n),
        _values(cols["tokens"], n),
        _values(cols["tlast"], n),
        _values(cols["distinct"], n),
        _values(cols["guillotines"], n),
        accumulate(qlen),
        qlen,
        strict=True,
    )
    for (
        key,
        mode,
        uid,
        total,
        first,
        last,
        ovflw,
        deadline,
        tokens,
        tlast,
        distinct,
        guil,
        end,
        size,
    ) in columns:
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
        b.events = queued[end - (size if not keep or size < keep else keep) : end]
        b.qview = None
        b.tokens = tokens if rate is None or tokens <= burst else burst
        b.tlast = tlast
        if has_distinct:
            b.distinct = distinct if type(distinct) is set else set()
        else:
            b.distinct = None
        if n_guillotines:
            b.guillotines = (
                guil if type(guil) is list and len(guil) == n_guillotines else [False] * n_guillotines
            )
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
