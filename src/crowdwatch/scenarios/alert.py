"""Building the alert of an overflow (ENGINE.md §7.1–§7.3).

``build_signal`` turns an overflowing bucket into CrowdSec's ``RuntimeAlert``: sources from
every queued event (§7.2), one API alert per source (copies differing only in ``source``),
``Alert`` = the first of them. When the sources cannot be collected the signal carries only
``Mapkey`` and the overflow is lost (counted in ``alert_errors``).

Each API alert's ``source`` is the very ``Source`` object stored in ``Sources`` under its
key: in Go the copies share their ``Scope``/``Value`` pointers, so a postoverflow static
rewriting ``evt.Overflow.Alert.Source.Value``/``Scope`` (``ipv6_to_range``) is seen through
``Sources`` too (hub test ``ipv6-postoverflow`` asserts it).

Deviation: Go iterates the sources map in random order; here sources (hence ``APIAlerts``
and ``Alert``) keep the order in which the queue first shows them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crowdwatch.event import OVFLW, ZERO_TIME, Alert, AlertEvent, Event, RuntimeAlert, Source, format_time
from crowdwatch.expr.helpers.durations import format_go_duration
from crowdwatch.expr.helpers.net import parse_cidr
from crowdwatch.netutil import parse_ip
from crowdwatch.scenarios.bucket import Bucket
from crowdwatch.scenarios.clock import format_go_default, format_rfc3339
from crowdwatch.scenarios.model import float32

if TYPE_CHECKING:
    from crowdwatch.scenarios.factory import Scenario

log = logging.getLogger("crowdwatch.scenarios")

IP = "Ip"
RANGE = "Range"


class SourceError(Exception):
    """The sources of an overflow cannot be determined: the alert is lost."""


class ScopeRule:
    """A scenario's ``scope``: its type (``Ip`` when absent) and optional value expression."""

    __slots__ = ("fn", "type")

    def __init__(self, type_: str, fn: Callable[[Event], Any] | None) -> None:
        self.type = type_ or IP
        self.fn = fn

    def value(self, evt: Event) -> str:
        assert self.fn is not None
        try:
            result = self.fn(evt)
        except Exception as exc:
            raise SourceError(f"scope expression failed: {exc}") from None
        return result if isinstance(result, str) else ""


def build_signal(scn: Scenario, bucket: Bucket) -> RuntimeAlert:
    """The RuntimeAlert of ``bucket``'s overflow (``Alert`` is None when it cannot be built)."""
    signal = RuntimeAlert()
    signal.Mapkey = scn.mapkey(bucket.key)
    queued = bucket.events
    try:
        sources, scope = collect_sources(scn.scope, queued)
    except SourceError as exc:
        scn.stats.alert_errors += 1
        log.warning("%s: overflow lost: %s", scn.name, exc)
        return signal
    signal.Sources = sources
    if len(sources) > 1:
        who = f"{len(sources)} sources"
    elif sources:
        who = next(iter(sources))
    else:
        who = "UNKNOWN"
    span = (bucket.ovflw.ns if bucket.ovflw else 0) - (bucket.first.ns if bucket.first else 0)
    template = Alert()
    template.Scenario = scn.name
    template.ScenarioHash = scn.hash
    template.ScenarioVersion = scn.version
    template.Capacity = scn.capacity
    template.EventsCount = bucket.total
    template.Leakspeed = format_go_duration(scn.leakspeed)
    template.StartAt = format_rfc3339(bucket.first)
    template.StopAt = format_rfc3339(bucket.ovflw)
    template.Message = (
        f"{scope} {who} performed '{scn.name}' ({bucket.total} events over "
        f"{format_go_duration(span)}) at {format_go_default(bucket.last)}"
    )
    template.Events = alert_events(queued)
    if scn.context is not None:
        template.Meta = scn.context.meta(queued)
    template.Remediation = scn.remediation
    template.Simulated = scn.simulated
    for src in sources.values():
        alert = copy.copy(template)
        alert.Source = src
        signal.APIAlerts.append(alert)
    if signal.APIAlerts:
        signal.Alert = signal.APIAlerts[0]
    signal.Reprocess = scn.reprocess
    return signal


def alert_events(queued: list[Event]) -> list[AlertEvent]:
    """One entry per queued event with a Meta map: timestamp and meta sorted by key."""
    out = []
    for evt in queued:
        if evt.Type == OVFLW and not evt.Meta:  # an overflow event has no Meta map (Go nil)
            continue
        if evt.MarshaledTime:
            stamp = evt.MarshaledTime
        else:
            stamp = format_time(evt.Time) if evt.Time != ZERO_TIME else ""
        out.append(AlertEvent(stamp, sorted(evt.Meta.items())))
    return out


def collect_sources(scope: ScopeRule, queued: list[Event]) -> tuple[dict[str, Source], str]:
    """Sources of every queued event, keyed by value, and their scope ("" when there is none).

    Every source is in the scenario's scope (log events are read in it, overflow sources are
    kept, converted or dropped to fit), so CrowdSec's "multiple source types" error cannot occur.
    """
    sources: dict[str, Source] = {}
    for evt in queued:
        found = overflow_sources(scope, evt) if evt.Type == OVFLW else event_sources(scope, evt)
        for key, src in found:
            sources[key] = src
    return sources, (scope.type if sources else "")


def event_sources(scope: ScopeRule, evt: Event) -> list[tuple[str, Source]]:
    """The source of a log event for the scenario's scope (ENGINE.md §7.2)."""
    if scope.type not in (IP, RANGE):
        if scope.fn is None:
            raise SourceError(f"scope {scope.type} has no expression")
        value = scope.value(evt)
        return [(value, Source(scope=scope.type, value=value))]
    meta = evt.Meta
    ip = meta.get("source_ip")
    if ip is None:
        raise SourceError(f"scope is {scope.type} but Meta[source_ip] doesn't exist")
    if parse_ip(ip) is None:
        raise SourceError(f"scope is {scope.type} but {ip!r} isn't a valid ip")
    src = Source(ip=ip, scope=scope.type)
    enriched = evt.Enriched
    asn = enriched.get("ASNumber")
    if asn is None:
        asn = enriched.get("ASNNumber")
    if asn is not None:
        src.AsNumber = asn
    src.Cn = enriched.get("IsoCode", "")
    src.AsName = enriched.get("ASNOrg", "")
    if "Latitude" in enriched:
        src.Latitude = go_float32(enriched["Latitude"])
    if "Longitude" in enriched:
        src.Longitude = go_float32(enriched["Longitude"])
    declared = meta.get("SourceRange", "")
    if declared:
        net = parse_cidr(declared)
        if net is None:
            raise SourceError(f"declared range {declared} of {ip} can't be parsed")
        src.Range = str(net)
    if scope.type == IP:
        src.Value = ip
    else:
        src.Value = scope.value(evt) if scope.fn is not None else src.Range
    return [(src.Value, src)]


def overflow_sources(scope: ScopeRule, evt: Event) -> list[tuple[str, Source]]:
    """Sources of a reprocessed overflow: kept when already in scope, Ip → Range converted."""
    out: list[tuple[str, Source]] = []
    for key, src in evt.Overflow.Sources.items():
        if src.Scope == scope.type:
            out.append((key, src))
            continue
        if scope.type != RANGE or src.Scope != IP:
            log.warning("scope %s cannot be derived from a %s source (%s)", scope.type, src.Scope, src.Value)
            continue
        conv = Source(range_=src.Range, scope=RANGE, value=src.Range)
        conv.AsName, conv.AsNumber, conv.Cn = src.AsName, src.AsNumber, src.Cn
        conv.Latitude, conv.Longitude = src.Latitude, src.Longitude
        if scope.fn is not None:
            conv.Value = scope.value(evt)
        if conv.Value:
            out.append((conv.Value, conv))
        else:
            log.warning("scope Range required but %s has no range", src.Value)
    return out


def go_float32(text: str) -> float:
    """Go ``ParseFloat(text, 32)`` stored as float32, as the shortest decimal that reads back
    as the same float32 (what Go's JSON encoder prints); unparsable → 0."""
    try:
        if any(c.isspace() or c == "_" for c in text):
            raise ValueError(text)
        value = float32(float(text))
    except ValueError:
        log.warning("bad coordinate %r", text)
        return 0.0
    if value != value or value in (float("inf"), float("-inf")):
        return value
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if float32(short) == value:
            return short
    return value
