"""Alert payloads: validation of what agents and cscli POST, and the expression view of an
alert that profiles filter on (``crowdwatch.event.Alert``, so the sandbox is the same)."""

from __future__ import annotations

import json
import re
import sys
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crowdwatch.event import Alert as ExprAlert
from crowdwatch.event import AlertEvent
from crowdwatch.event import Source as ExprSource
from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.storage.tables import NAME_LEN
from crowdwatch.lapi.timefmt import parse_duration, parse_time

_REQUIRED = (
    "scenario",
    "scenario_hash",
    "scenario_version",
    "message",
    "events_count",
    "start_at",
    "stop_at",
    "capacity",
    "leakspeed",
    "simulated",
    "events",
    "source",
)
_DECISION_REQUIRED = ("origin", "type", "scope", "value", "duration", "scenario")


@dataclass
class SourceIn:
    scope: str
    value: str
    ip: str = ""
    range: str = ""
    as_number: str = ""
    as_name: str = ""
    cn: str = ""
    latitude: float = 0.0
    longitude: float = 0.0


@dataclass(slots=True)  # one per decision of an import: no per-instance dict
class DecisionIn:
    """A decision given in the payload (cscli): kept as is, profiles are not consulted."""

    origin: str
    type: str
    scope: str
    value: str
    duration: str
    scenario: str
    simulated: bool = False


@dataclass
class AlertIn:
    scenario: str
    scenario_hash: str
    scenario_version: str
    message: str
    events_count: int
    start_at: datetime
    stop_at: datetime
    capacity: int
    leakspeed: str
    simulated: bool
    remediation: bool
    kind: str
    source: SourceIn
    events: list[dict[str, Any]]
    meta: list[dict[str, str]]
    labels: list[str] | None
    decisions: list[DecisionIn] = field(default_factory=list)
    uuid: str = ""  # the agent's uuid (canonical form) when it sent a valid one: resends are deduplicated

    def expr_view(self) -> ExprAlert:
        """The alert as profile filters see it (``Alert.*`` in profiles.yaml)."""
        a = ExprAlert()
        a.Scenario = self.scenario
        a.ScenarioHash = self.scenario_hash
        a.ScenarioVersion = self.scenario_version
        a.Message = self.message
        a.EventsCount = self.events_count
        a.Capacity = self.capacity
        a.Leakspeed = self.leakspeed
        a.StartAt = self.start_at.isoformat().replace("+00:00", "Z")
        a.StopAt = self.stop_at.isoformat().replace("+00:00", "Z")
        a.Remediation = self.remediation
        a.Simulated = self.simulated
        s = ExprSource(self.source.ip, self.source.range, self.source.scope, self.source.value)
        s.AsName, s.AsNumber, s.Cn = self.source.as_name, self.source.as_number, self.source.cn
        s.Latitude, s.Longitude = self.source.latitude, self.source.longitude
        a.Source = s
        a.Events = [
            AlertEvent(str(e.get("timestamp", "")), [(m["key"], m["value"]) for m in e.get("meta") or []])
            for e in self.events
        ]
        a.Meta = [(m["key"], m["value"]) for m in self.meta]
        a.Labels = list(self.labels) if self.labels is not None else None
        return a


# --- validation helpers ---------------------------------------------------------------


def _str(
    doc: dict[str, Any], key: str, where: str, *, limit: int | None = NAME_LEN, default: str = ""
) -> str:
    v = doc.get(key)
    if v is None:
        return default
    if not isinstance(v, str):
        raise BadRequest(f"{where}.{key}: expected a string")
    if limit is not None and len(v) > limit:
        raise BadRequest(f"{where}.{key}: longer than {limit} characters")
    return v


def _int(doc: dict[str, Any], key: str, where: str) -> int:
    v = doc.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
        raise BadRequest(f"{where}.{key}: expected an integer")
    if not -(2**31) <= v < 2**31:
        raise BadRequest(f"{where}.{key}: out of range")
    return int(v)


def _float(doc: dict[str, Any], key: str, where: str) -> float:
    v = doc.get(key)
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise BadRequest(f"{where}.{key}: expected a number")
    return float(v)


def _bool(doc: dict[str, Any], key: str, where: str) -> bool:
    v = doc.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise BadRequest(f"{where}.{key}: expected true or false")
    return v


def _meta_list(v: Any, where: str) -> list[dict[str, str]]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise BadRequest(f"{where}: expected a list of {{key, value}}")
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict):
            raise BadRequest(f"{where}[{i}]: expected an object")
        k, val = m.get("key", ""), m.get("value", "")
        if not isinstance(k, str) or not isinstance(val, str):
            raise BadRequest(f"{where}[{i}]: key and value must be strings")
        out.append({"key": k, "value": val})
    return out


def parse_source(doc: Any, where: str) -> SourceIn:
    if not isinstance(doc, dict):
        raise BadRequest(f"{where}: expected an object")
    for key in ("scope", "value"):
        if key not in doc:
            raise BadRequest(f"{where}.{key} is required")
    return SourceIn(
        scope=normalize_scope(_str(doc, "scope", where)),
        value=_str(doc, "value", where),
        ip=_str(doc, "ip", where),
        range=_str(doc, "range", where),
        as_number=_str(doc, "as_number", where),
        as_name=_str(doc, "as_name", where),
        cn=_str(doc, "cn", where),
        latitude=_float(doc, "latitude", where),
        longitude=_float(doc, "longitude", where),
    )


_VALID_DURATIONS: set[str] = set()


def parse_decision(doc: Any, where: str) -> DecisionIn:
    if not isinstance(doc, dict):
        raise BadRequest(f"{where}: expected an object")
    for key in _DECISION_REQUIRED:
        if doc.get(key) is None:
            raise BadRequest(f"{where}.{key} is required")
    intern = sys.intern  # origin, type, scope, duration and scenario repeat across an import
    d = DecisionIn(
        origin=intern(_str(doc, "origin", where)),
        type=intern(_str(doc, "type", where)),
        scope=intern(normalize_scope(_str(doc, "scope", where))),
        value=_str(doc, "value", where),
        duration=intern(_str(doc, "duration", where, limit=64)),
        scenario=intern(_str(doc, "scenario", where)),
        simulated=_bool(doc, "simulated", where),
    )
    if d.duration not in _VALID_DURATIONS:  # an import repeats one duration 100k times
        parse_duration(d.duration, f"{where}.duration")
        if len(_VALID_DURATIONS) < 256:
            _VALID_DURATIONS.add(d.duration)
    if not d.type or not d.value or not d.scope:
        raise BadRequest(f"{where}: type, scope and value must not be empty")
    return d


def _parse_decisions(docs: list[Any], where: str, release: bool) -> list[DecisionIn]:
    out = []
    for i in range(len(docs)):
        out.append(parse_decision(docs[i], f"{where}.decisions[{i}]"))
        if release:
            docs[i] = None
    return out


@dataclass
class _Parsed:
    """Decisions parsed while the body was read (:func:`parse_alerts_text`), or the first
    error among them, reported when :func:`parse_alert` reaches them."""

    decisions: list[DecisionIn]
    error: BadRequest | None = None


def parse_alert(doc: Any, where: str = "alert", *, release: bool = False) -> AlertIn:
    """``release``: the caller owns ``doc`` and lets each decision object go once parsed (a
    100k-decision import would otherwise hold its JSON objects beside the parsed ones)."""
    if not isinstance(doc, dict):
        raise BadRequest(f"{where}: expected an object")
    for key in _REQUIRED:
        if key not in doc:
            raise BadRequest(f"{where}.{key} is required")
    events = doc.get("events") or []
    if not isinstance(events, list):
        raise BadRequest(f"{where}.events: expected a list")
    clean_events = []
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise BadRequest(f"{where}.events[{i}]: expected an object")
        ts = e.get("timestamp", "")
        if not isinstance(ts, str):
            raise BadRequest(f"{where}.events[{i}].timestamp: expected a string")
        clean_events.append({"timestamp": ts, "meta": _meta_list(e.get("meta"), f"{where}.events[{i}].meta")})
    labels = doc.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise BadRequest(f"{where}.labels: expected a list of strings")
    decisions = doc.get("decisions") or []
    if isinstance(decisions, _Parsed):
        if decisions.error is not None:
            raise decisions.error
    elif not isinstance(decisions, list):
        raise BadRequest(f"{where}.decisions: expected a list")
    return AlertIn(
        scenario=_str(doc, "scenario", where),
        scenario_hash=_str(doc, "scenario_hash", where),
        scenario_version=_str(doc, "scenario_version", where),
        message=_str(doc, "message", where, limit=65_536),
        events_count=_int(doc, "events_count", where),
        start_at=parse_time(_str(doc, "start_at", where, limit=64), f"{where}.start_at"),
        stop_at=parse_time(_str(doc, "stop_at", where, limit=64), f"{where}.stop_at"),
        capacity=_int(doc, "capacity", where),
        leakspeed=_str(doc, "leakspeed", where, limit=64),
        simulated=_bool(doc, "simulated", where),
        remediation=_bool(doc, "remediation", where),
        kind=_str(doc, "kind", where, limit=64),
        source=parse_source(doc.get("source"), f"{where}.source"),
        events=clean_events,
        meta=_meta_list(doc.get("meta"), f"{where}.meta"),
        labels=labels,
        decisions=(
            decisions.decisions
            if isinstance(decisions, _Parsed)
            else _parse_decisions(decisions, where, release)
        ),
        uuid=_uuid(doc.get("uuid")),
    )


# --- large bodies: decisions parsed one by one -------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _ws(text: str, i: int) -> int:
    """The index of the first non-blank character from ``i``."""
    m = _WS.match(text, i)
    return m.end() if m is not None else i


class _Fallback(Exception):
    """The body is not shaped as expected (an array of objects): parse it whole instead."""


def parse_alerts_text(text: str) -> Any:
    """The documents of a JSON array of alerts, each alert's ``decisions`` array parsed one
    element at a time into :class:`DecisionIn` (inside a :class:`_Parsed`), so that a
    100k-decision import (cscli sends one ~13 MB request) never exists as 100k JSON objects,
    nor as a parser's whole-document tree (orjson builds one: ~8× the body at its peak).
    Give the result to :func:`parse_alert`. ``ValueError`` if the text is not valid JSON."""
    try:
        return _alerts_text(text)
    except _Fallback:
        return _DECODER.decode(text)  # not an array: the caller reports it


def _alerts_text(text: str) -> list[Any]:
    decode = _DECODER.raw_decode
    i = _ws(text, 0)
    if text[i : i + 1] != "[":
        raise _Fallback
    out: list[Any] = []
    i = _ws(text, i + 1)
    if text[i : i + 1] == "]":
        i += 1
    else:
        while True:
            if text[i : i + 1] == "{":
                doc, i = _alert_object(text, i, f"alerts[{len(out)}]")
            else:
                doc, i = decode(text, i)
            out.append(doc)
            i = _ws(text, i)
            sep = text[i : i + 1]
            i = _ws(text, i + 1)
            if sep == "]":
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at char {i}")
    if _ws(text, i) != len(text):
        raise ValueError(f"extra data at char {i}")
    return out


def _alert_object(text: str, i: int, where: str) -> tuple[dict[str, Any], int]:
    decode = _DECODER.raw_decode
    doc: dict[str, Any] = {}
    i = _ws(text, i + 1)
    if text[i : i + 1] == "}":
        return doc, i + 1
    while True:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a key at char {i}")
        key, i = decode(text, i)
        i = _ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at char {i}")
        i = _ws(text, i + 1)
        if key == "decisions" and text[i : i + 1] == "[":
            doc[key], i = _decisions_array(text, i, where)
        else:
            doc[key], i = decode(text, i)
        i = _ws(text, i)
        sep = text[i : i + 1]
        i = _ws(text, i + 1)
        if sep == "}":
            return doc, i
        if sep != ",":
            raise ValueError(f"expected ',' or '}}' at char {i}")


def _decisions_array(text: str, i: int, where: str) -> tuple[_Parsed, int]:
    decode = _DECODER.raw_decode
    parsed = _Parsed([])
    i = _ws(text, i + 1)
    if text[i : i + 1] == "]":
        return parsed, i + 1
    n = 0
    while True:
        value, i = decode(text, i)
        if parsed.error is None:  # past the first error the rest is only checked to be JSON
            try:
                parsed.decisions.append(parse_decision(value, f"{where}.decisions[{n}]"))
            except BadRequest as exc:
                parsed.error, parsed.decisions = exc, []
        n += 1
        i = _ws(text, i)
        sep = text[i : i + 1]
        i = _ws(text, i + 1)
        if sep == "]":
            return parsed, i
        if sep != ",":
            raise ValueError(f"expected ',' or ']' at char {i}")


def _uuid(v: Any) -> str:
    """A client's alert uuid in canonical form; anything else is ignored (as CrowdSec does)."""
    if not isinstance(v, str) or len(v) > 64:
        return ""
    try:
        return str(uuidlib.UUID(v))
    except ValueError:
        return ""
