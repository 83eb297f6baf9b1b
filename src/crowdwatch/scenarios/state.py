"""Bucket state across restarts: a versioned JSON document (orjson).

Document ``crowdwatch-buckets/v1``::

    {"format": ..., "events": [Event...],
     "scenarios": [{"name": str, "buckets": [Bucket...], "blackhole": [[key, end_ns, live], ...]}]}

Events are stored once and referenced by index from the queues (a log event poured into
several scenarios stays one object). Scenarios are matched by name, then by position among
scenarios of the same name; state of scenarios that are no longer loaded is dropped.
Restored buckets take their queue size and burst from the scenario as loaded now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Alert, AlertEvent, Event, Line, RuntimeAlert, Source
from crowdwatch.scenarios.bucket import Bucket
from crowdwatch.scenarios.clock import Stamp
from crowdwatch.scenarios.factory import Scenario

FORMAT = "crowdwatch-buckets/v1"


class StateError(ValueError):
    """A state document cannot be restored."""


def dump(scenarios: list[Scenario]) -> bytes:
    events: list[dict[str, Any]] = []
    index: dict[int, int] = {}

    def ref(evt: Event) -> int:
        n = index.get(id(evt))
        if n is None:
            n = index[id(evt)] = len(events)
            events.append(_event(evt))
        return n

    doc_scenarios = []
    for scn in scenarios:
        buckets = [_bucket(b, ref) for b in scn.buckets.values()]
        hole = scn.blackhole
        windows: list[list[Any]] = []
        if hole is not None:
            live = {(end, key) for end, key in hole.live_heap}
            windows = [[key, end, (end, key) in live] for key, end in hole.until.items()]
        doc_scenarios.append({"name": scn.name, "buckets": buckets, "blackhole": windows})
    doc = {"format": FORMAT, "events": events, "scenarios": doc_scenarios}
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS, default=str)


def restore(scenarios: list[Scenario], data: bytes) -> list[Bucket]:
    """Install the state of ``data`` into ``scenarios`` (whose tables must be empty); returns
    the restored buckets. Raises :class:`StateError` when the document is unusable."""
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StateError(f"not a {FORMAT} document")
        events = [_event_from(e) for e in doc["events"]]
        by_name: dict[str, list[Scenario]] = {}
        for scn in scenarios:
            by_name.setdefault(scn.name, []).append(scn)
        seen: dict[str, int] = {}
        plan: list[tuple[Scenario, list[Bucket], list[list[Any]]]] = []
        for entry in doc["scenarios"]:
            name = entry["name"]
            n = seen[name] = seen.get(name, -1) + 1
            same = by_name.get(name, [])
            if n >= len(same):
                continue
            scn = same[n]
            buckets = [_bucket_from(scn, b, events) for b in entry["buckets"]]
            plan.append((scn, buckets, entry["blackhole"]))
    except StateError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateError(f"invalid bucket state: {type(exc).__name__}: {exc}") from None
    restored: list[Bucket] = []
    for scn, buckets, windows in plan:
        for b in buckets:
            scn.buckets[b.key] = b
            restored.append(b)
        if scn.blackhole is not None:
            for key, end, live in windows:
                scn.blackhole.add(str(key), int(end), bool(live))
    return restored


# --- buckets -----------------------------------------------------------------------------------


def _stamp(s: Stamp | None) -> list[int] | None:
    return None if s is None else [s.ns, s.off]


def _stamp_from(v: Any) -> Stamp | None:
    return None if v is None else Stamp(int(v[0]), int(v[1]))


def _bucket(b: Bucket, ref: Any) -> dict[str, Any]:
    return {
        "key": b.key,
        "mode": b.mode,
        "uuid": b.uid,
        "total": b.total,
        "first": _stamp(b.first),
        "last": _stamp(b.last),
        "ovflw": _stamp(b.ovflw),
        "deadline": b.deadline,
        "tokens": b.tokens,
        "limiter_last": b.tlast,
        "distinct": sorted(b.distinct) if b.distinct is not None else None,
        "guillotines": b.guillotines,
        "queue": [ref(e) for e in b.events],
    }


def _bucket_from(scn: Scenario, d: dict[str, Any], events: list[Event]) -> Bucket:
    mode = int(d["mode"])
    if mode not in (LIVE, TIMEMACHINE):
        raise StateError(f"unknown bucket mode {mode}")
    b = Bucket(scn, str(d["key"]), mode)
    b.uid = str(d.get("uuid") or "")
    b.total = int(d["total"])
    b.first = _stamp_from(d["first"])
    b.last = _stamp_from(d["last"])
    b.ovflw = _stamp_from(d["ovflw"])
    b.deadline = None if d["deadline"] is None else int(d["deadline"])
    b.tokens = float(d["tokens"])
    b.tlast = None if d["limiter_last"] is None else int(d["limiter_last"])
    if scn.rate is not None:
        b.tokens = min(b.tokens, scn.rate.burst)
    if b.distinct is not None and d["distinct"] is not None:
        b.distinct.update(str(v) for v in d["distinct"])
    saved = d["guillotines"]
    if b.guillotines is not None and saved is not None and len(saved) == len(b.guillotines):
        b.guillotines[:] = [bool(v) for v in saved]
    for n in d["queue"]:
        b.add(events[int(n)])
    return b


# --- events --------------------------------------------------------------------------------------


def _time(t: datetime) -> str:
    return t.isoformat()


def _event(evt: Event) -> dict[str, Any]:
    line = evt.Line
    d: dict[str, Any] = {
        "Type": evt.Type,
        "ExpectMode": evt.ExpectMode,
        "Whitelisted": evt.Whitelisted,
        "WhitelistReason": evt.WhitelistReason,
        "Stage": evt.Stage,
        "Line": {
            "Raw": line.Raw,
            "Src": line.Src,
            "Labels": line.Labels,
            "Module": line.Module,
            "Time": _time(line.Time),
            "Process": line.Process,
        },
        "Parsed": evt.Parsed,
        "Enriched": evt.Enriched,
        "Unmarshaled": evt.Unmarshaled,
        "Meta": evt.Meta,
        "Time": _time(evt.Time),
        "StrTime": evt.StrTime,
        "StrTimeFormat": evt.StrTimeFormat,
        "MarshaledTime": evt.MarshaledTime,
        "Process": evt.Process,
    }
    if evt.Type == OVFLW:
        d["Overflow"] = _runtime_alert(evt.Overflow)
    return d


def _event_from(d: dict[str, Any]) -> Event:
    ld = d["Line"]
    line = Line(
        str(ld["Raw"]),
        str(ld["Src"]),
        {str(k): str(v) for k, v in ld["Labels"].items()},
        str(ld["Module"]),
        datetime.fromisoformat(ld["Time"]),
        bool(ld["Process"]),
    )
    evt = Event(line, expect_mode=int(d["ExpectMode"]), type_=int(d["Type"]))
    evt.Whitelisted = bool(d["Whitelisted"])
    evt.WhitelistReason = str(d["WhitelistReason"])
    evt.Stage = str(d["Stage"])
    evt.Parsed = {str(k): str(v) for k, v in d["Parsed"].items()}
    evt.Enriched = {str(k): str(v) for k, v in d["Enriched"].items()}
    evt.Unmarshaled = dict(d["Unmarshaled"])
    evt.Meta = {str(k): str(v) for k, v in d["Meta"].items()}
    evt.Time = datetime.fromisoformat(d["Time"])
    evt.StrTime = str(d["StrTime"])
    evt.StrTimeFormat = str(d["StrTimeFormat"])
    evt.MarshaledTime = str(d["MarshaledTime"])
    evt.Process = bool(d["Process"])
    if evt.Type == OVFLW and "Overflow" in d:
        evt.Overflow = _runtime_alert_from(d["Overflow"])
    return evt


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
        "APIAlerts": [a.to_dict() for a in alerts],
        "Alert": first,
    }


def _runtime_alert_from(d: dict[str, Any]) -> RuntimeAlert:
    ra = RuntimeAlert()
    ra.Mapkey = str(d["Mapkey"])
    ra.BucketId = str(d["BucketId"])
    ra.Whitelisted = bool(d["Whitelisted"])
    ra.Reprocess = bool(d["Reprocess"])
    ra.Sources = {str(k): _source_from(s) for k, s in d["Sources"].items()}
    ra.APIAlerts = [_alert_from(a) for a in d["APIAlerts"]]
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


def _alert_from(d: dict[str, Any]) -> Alert:
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
    a.Source = None if d["source"] is None else _source_from(d["source"])
    a.Events = [
        AlertEvent(str(e["timestamp"]), [(str(m["key"]), str(m["value"])) for m in e["meta"]])
        for e in d["events"]
    ]
    a.Meta = [(str(m["key"]), str(m["value"])) for m in d["meta"]]
    a.Labels = d["labels"]
    a.Decisions = d["decisions"]
    return a
