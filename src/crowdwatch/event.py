"""The pipeline event model (ENGINE.md §2), shared by acquisition, parsers, scenarios and expr.

Events are light `__slots__` objects. Maps that never change per line (e.g. acquisition
`Labels`) are shared, not copied. Field names are CrowdSec's Go names because hub
expressions address them verbatim (`evt.Line.Labels.type`, `evt.Meta.source_ip`).

Each model class declares, for the expression compiler (``crowdwatch.expr``):

* ``EXPR_FIELDS``: field name -> static kind. Kinds: ``"str" "int" "float" "bool"``
  (scalars), ``"strmap"`` (dict[str, str]: a missing key reads as ``""``), ``"anymap"``
  (dict[str, Any]: a missing key reads as ``None``), ``"time"`` (aware ``datetime``),
  ``"list"`` (list of any), ``"any"``, or the name of another model class
  (``"Line"``, ``"RuntimeAlert"``, ``"Alert"``, ``"Source"``, ``"AppsecEvent"``).
  Only these names can be reached from an expression: everything else (``__class__``,
  Python methods, private attributes) is invisible, which is the sandbox boundary.
* ``EXPR_METHODS``: method name -> Python method name callable from expressions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

# Event.Type
LOG = 0
OVFLW = 1
APPSEC = 2

# Event.ExpectMode
LIVE = 0
TIMEMACHINE = 1

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class Line:
    """Raw acquisition data (`evt.Line`)."""

    __slots__ = ("Labels", "Module", "Process", "Raw", "Src", "Time")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "Raw": "str",
        "Src": "str",
        "Time": "time",
        "Labels": "strmap",
        "Process": "bool",
        "Module": "str",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        raw: str = "",
        src: str = "",
        labels: dict[str, str] | None = None,
        module: str = "",
        time: datetime | None = None,
        process: bool = True,
    ) -> None:
        self.Raw = raw
        self.Src = src
        self.Labels: dict[str, str] = labels if labels is not None else {}
        self.Module = module
        self.Time = time if time is not None else ZERO_TIME
        self.Process = process

    def to_dict(self) -> dict[str, Any]:
        return {
            "Raw": self.Raw,
            "Src": self.Src,
            "Time": format_time(self.Time),
            "Labels": dict(self.Labels),
            "Process": self.Process,
            "Module": self.Module,
        }


class Source:
    """An alert source (LAPI model `Source`); JSON names in `to_dict`."""

    __slots__ = ("AsName", "AsNumber", "Cn", "IP", "Latitude", "Longitude", "Range", "Scope", "Value")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "IP": "str",
        "Range": "str",
        "Scope": "str",
        "Value": "str",
        "AsName": "str",
        "AsNumber": "str",
        "Cn": "str",
        "Latitude": "float",
        "Longitude": "float",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {"GetScope": "get_scope", "GetValue": "get_value"}

    def __init__(self, ip: str = "", range_: str = "", scope: str = "", value: str = "") -> None:
        self.IP = ip
        self.Range = range_
        self.Scope = scope
        self.Value = value
        self.AsName = ""
        self.AsNumber = ""
        self.Cn = ""
        self.Latitude = 0.0
        self.Longitude = 0.0

    def get_scope(self) -> str:
        return self.Scope

    def get_value(self) -> str:
        return self.Value

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.IP,
            "range": self.Range,
            "scope": self.Scope,
            "value": self.Value,
            "as_number": self.AsNumber,
            "as_name": self.AsName,
            "cn": self.Cn,
            "latitude": self.Latitude,
            "longitude": self.Longitude,
        }


class AlertEvent:
    """One event kept in an alert: timestamp + meta (sorted key/value pairs)."""

    __slots__ = ("Meta", "Timestamp")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {"Timestamp": "str", "Meta": "list"}
    EXPR_METHODS: ClassVar[dict[str, str]] = {"GetMeta": "get_meta"}

    def __init__(self, timestamp: str, meta: list[tuple[str, str]]) -> None:
        self.Timestamp = timestamp
        self.Meta = meta

    def get_meta(self, key: str) -> str:
        for k, v in self.Meta:
            if k == key:
                return v
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.Timestamp, "meta": [{"key": k, "value": v} for k, v in self.Meta]}


class Alert:
    """An alert (LAPI model `Alert`), reachable as `evt.Overflow.Alert`. Filled by the scenario engine."""

    __slots__ = (
        "Capacity",
        "Decisions",
        "Events",
        "EventsCount",
        "Labels",
        "Leakspeed",
        "Message",
        "Meta",
        "Remediation",
        "Scenario",
        "ScenarioHash",
        "ScenarioVersion",
        "Simulated",
        "Source",
        "StartAt",
        "StopAt",
    )

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "Scenario": "str",
        "ScenarioHash": "str",
        "ScenarioVersion": "str",
        "Message": "str",
        "EventsCount": "int",
        "Capacity": "int",
        "Leakspeed": "str",
        "StartAt": "str",
        "StopAt": "str",
        "Remediation": "bool",
        "Simulated": "bool",
        "Source": "Source",
        "Events": "list",
        "Meta": "list",
        "Labels": "list",
        "Decisions": "list",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {
        "GetScope": "get_scope",
        "GetValue": "get_value",
        "GetScenario": "get_scenario",
        "GetEventsCount": "get_events_count",
        "GetMeta": "get_meta",
    }

    def __init__(self) -> None:
        self.Scenario = ""
        self.ScenarioHash = ""
        self.ScenarioVersion = ""
        self.Message = ""
        self.EventsCount = 0
        self.Capacity = 0
        self.Leakspeed = "0s"
        self.StartAt = ""
        self.StopAt = ""
        self.Remediation = False
        self.Simulated = False
        self.Source: Source | None = None
        self.Events: list[AlertEvent] = []
        self.Meta: list[tuple[str, str]] = []
        self.Labels: list[str] | None = None
        self.Decisions: list[Any] | None = None

    def get_scope(self) -> str:
        return self.Source.Scope if self.Source is not None else ""

    def get_value(self) -> str:
        return self.Source.Value if self.Source is not None else ""

    def get_scenario(self) -> str:
        return self.Scenario

    def get_events_count(self) -> int:
        return self.EventsCount

    def get_meta(self, key: str) -> str:
        for k, v in self.Meta:
            if k == key:
                return v
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.Scenario,
            "scenario_hash": self.ScenarioHash,
            "scenario_version": self.ScenarioVersion,
            "message": self.Message,
            "events_count": self.EventsCount,
            "capacity": self.Capacity,
            "leakspeed": self.Leakspeed,
            "start_at": self.StartAt,
            "stop_at": self.StopAt,
            "remediation": self.Remediation,
            "simulated": self.Simulated,
            "source": self.Source.to_dict() if self.Source is not None else None,
            "events": [e.to_dict() for e in self.Events],
            "meta": [{"key": k, "value": v} for k, v in self.Meta],
            "labels": self.Labels,
            "decisions": self.Decisions,
        }


class RuntimeAlert:
    """`evt.Overflow` (ENGINE.md §2.2)."""

    __slots__ = ("APIAlerts", "Alert", "BucketId", "Mapkey", "Reprocess", "Sources", "Whitelisted")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "Mapkey": "str",
        "BucketId": "str",
        "Whitelisted": "bool",
        "Reprocess": "bool",
        "Sources": "anymap",
        "Alert": "Alert",
        "APIAlerts": "list",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {"GetSources": "get_sources"}

    def __init__(self) -> None:
        self.Mapkey = ""
        self.BucketId = ""
        self.Whitelisted = False
        self.Reprocess = False
        self.Sources: dict[str, Source] = {}
        self.Alert: Alert | None = None
        self.APIAlerts: list[Alert] = []

    def get_sources(self) -> list[str]:
        return list(self.Sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "MapKey": self.Mapkey,
            "BucketId": self.BucketId,
            "Whitelisted": self.Whitelisted,
            "Reprocess": self.Reprocess,
            "Sources": {k: s.to_dict() for k, s in self.Sources.items()},
            "Alert": self.Alert.to_dict() if self.Alert is not None else None,
            "APIAlerts": [a.to_dict() for a in self.APIAlerts],
        }


class AppsecEvent:
    """Placeholder for WAF data (out of scope); hub scenarios only call these methods."""

    __slots__ = ()

    EXPR_FIELDS: ClassVar[dict[str, str]] = {"HasInBandMatches": "bool", "HasOutBandMatches": "bool"}
    EXPR_METHODS: ClassVar[dict[str, str]] = {"GetName": "get_name", "GetRuleIDs": "get_rule_ids"}

    HasInBandMatches = False
    HasOutBandMatches = False

    def get_name(self) -> str:
        return ""

    def get_rule_ids(self) -> list[int]:
        return []


_NO_APPSEC = AppsecEvent()


class Event:
    """A pipeline event (`evt`)."""

    __slots__ = (
        "Appsec",
        "Enriched",
        "ExpectMode",
        "Line",
        "MarshaledTime",
        "Meta",
        "Overflow",
        "Parsed",
        "Process",
        "Stage",
        "StrTime",
        "StrTimeFormat",
        "Time",
        "Type",
        "Unmarshaled",
        "WhitelistReason",
        "Whitelisted",
    )

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "Type": "int",
        "ExpectMode": "int",
        "Whitelisted": "bool",
        "WhitelistReason": "str",
        "Stage": "str",
        "Line": "Line",
        "Parsed": "strmap",
        "Enriched": "strmap",
        "Unmarshaled": "anymap",
        "Overflow": "RuntimeAlert",
        "Time": "time",
        "StrTime": "str",
        "StrTimeFormat": "str",
        "MarshaledTime": "str",
        "Process": "bool",
        "Appsec": "AppsecEvent",
        "Meta": "strmap",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {
        "GetMeta": "get_meta",
        "SetMeta": "set_meta",
        "SetParsed": "set_parsed",
        "GetType": "get_type",
        "ParseIPSources": "parse_ip_sources",
    }

    def __init__(self, line: Line | None = None, expect_mode: int = LIVE, type_: int = LOG) -> None:
        self.Type = type_
        self.ExpectMode = expect_mode
        self.Whitelisted = False
        self.WhitelistReason = ""
        self.Stage = ""
        self.Line = line if line is not None else Line()
        self.Parsed: dict[str, str] = {}
        self.Enriched: dict[str, str] = {}
        self.Unmarshaled: dict[str, Any] = {}
        self.Overflow = RuntimeAlert() if type_ == OVFLW else _EMPTY_OVERFLOW
        self.Time = ZERO_TIME
        self.StrTime = ""
        self.StrTimeFormat = ""
        self.MarshaledTime = ""
        self.Process = False
        self.Appsec = _NO_APPSEC
        self.Meta: dict[str, str] = {}

    # --- methods reachable from expressions -------------------------------------------
    def get_meta(self, key: str) -> str:
        if self.Type == OVFLW:
            alerts = self.Overflow.APIAlerts or ([self.Overflow.Alert] if self.Overflow.Alert else [])
            for alert in alerts:
                for ev in alert.Events:
                    v = ev.get_meta(key)
                    if v:
                        return v
            return ""
        return self.Meta.get(key, "")

    def set_meta(self, key: str, value: str) -> bool:
        self.Meta[key] = value
        return True

    def set_parsed(self, key: str, value: str) -> bool:
        self.Parsed[key] = value
        return True

    def get_type(self) -> str:
        if self.Type == LOG:
            return "log"
        if self.Type == OVFLW:
            return "overflow"
        return "unknown"

    def parse_ip_sources(self) -> list[str]:
        if self.Type == OVFLW:
            return list(self.Overflow.Sources)
        ip = self.Meta.get("source_ip", "")
        return [ip] if ip else []

    # --- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of OUTPUT_CONTRACT.md §3.3 (Go field names)."""
        d: dict[str, Any] = {
            "Type": self.Type,
            "ExpectMode": self.ExpectMode,
            "Whitelisted": self.Whitelisted,
            "WhitelistReason": self.WhitelistReason,
            "Stage": self.Stage,
            "Line": self.Line.to_dict(),
            "Parsed": dict(self.Parsed),
            "Enriched": dict(self.Enriched),
            "Unmarshaled": self.Unmarshaled,
            "Time": format_time(self.Time),
            "StrTime": self.StrTime,
            "StrTimeFormat": self.StrTimeFormat,
            "MarshaledTime": self.MarshaledTime,
            "Process": self.Process,
            "Meta": dict(self.Meta),
        }
        if self.Type == OVFLW:
            d["Overflow"] = self.Overflow.to_dict()
        return d


_EMPTY_OVERFLOW = RuntimeAlert()


def format_time(t: datetime) -> str:
    """RFC 3339 with the minimal number of fractional digits (Go's RFC3339Nano)."""
    if t == ZERO_TIME:
        return "0001-01-01T00:00:00Z"
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    off = t.utcoffset()
    if off is None or off.total_seconds() == 0:
        return base + "Z"
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{base}{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"


MODEL_CLASSES: dict[str, type] = {
    "Event": Event,
    "Line": Line,
    "RuntimeAlert": RuntimeAlert,
    "Alert": Alert,
    "Source": Source,
    "AlertEvent": AlertEvent,
    "AppsecEvent": AppsecEvent,
}
