"""Alert payloads: validation of what agents and cscli POST, and the expression view of an
alert that profiles filter on (``crowdwatch.event.Alert``, so the sandbox is the same)."""

from __future__ import annotations

import codecs
import json
import re
import sys
import uuid as uuidlib
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crowdwatch.event import Alert as ExprAlert
from crowdwatch.event import AlertEvent
from crowdwatch.event import Source as ExprSource
from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.storage.decisions import NewDecision
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
    # decisions given in the payload (cscli): kept as is, profiles are not consulted
    decisions: list[NewDecision] = field(default_factory=list)
    durations: list[tuple[int, str]] = field(default_factory=list)  # see GivenDecisions
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
# ``until`` of a decision given in a payload until its alert is known (``LapiService._decide``)
UNTIL_PENDING = datetime.min


class GivenDecisions:
    """The decisions an alert brings, parsed straight into the objects that are stored (an
    import's 100k decisions exist once, not also as an intermediate form). Their ``until``
    depends on the alert's ``stop_at`` (which may come after them in the body): it is
    :data:`UNTIL_PENDING` meanwhile and their durations are kept aside, by runs: ``durations``
    is [(index of the first decision with this duration, duration)]. ``error``: the first
    invalid decision's (past it, the others are not kept)."""

    __slots__ = ("decisions", "durations", "error")

    def __init__(self) -> None:
        self.decisions: list[NewDecision] = []
        self.durations: list[tuple[int, str]] = []
        self.error: BadRequest | None = None

    def add(self, doc: Any, where: str, n: int) -> None:
        """Decision ``n`` of an alert; a refusal is kept in ``error``."""
        try:
            d, duration = parse_decision(doc, f"{where}.decisions[{n}]")
        except BadRequest as exc:
            self.error, self.decisions, self.durations = exc, [], []
            return
        durations = self.durations
        if not durations or durations[-1][1] is not duration:  # (interned)
            durations.append((len(self.decisions), duration))
        self.decisions.append(d)


def parse_decision(doc: Any, where: str) -> tuple[NewDecision, str]:
    """A decision given in a payload, ``until`` pending, and its duration."""
    if not isinstance(doc, dict):
        raise BadRequest(f"{where}: expected an object")
    for key in _DECISION_REQUIRED:
        if doc.get(key) is None:
            raise BadRequest(f"{where}.{key} is required")
    intern = sys.intern  # origin, type, scope, duration and scenario repeat across an import
    origin = intern(_str(doc, "origin", where))
    type_ = intern(_str(doc, "type", where))
    scope = intern(normalize_scope(_str(doc, "scope", where)))
    value = _str(doc, "value", where)
    duration = intern(_str(doc, "duration", where, limit=64))
    d = NewDecision(
        type=type_,
        scope=scope,
        value=value,
        origin=origin,
        scenario=intern(_str(doc, "scenario", where)),
        until=UNTIL_PENDING,
        simulated=_bool(doc, "simulated", where),
    )
    if duration not in _VALID_DURATIONS:  # an import repeats one duration 100k times
        parse_duration(duration, f"{where}.duration")
        if len(_VALID_DURATIONS) < 256:
            _VALID_DURATIONS.add(duration)
    if not type_ or not value or not scope:
        raise BadRequest(f"{where}: type, scope and value must not be empty")
    return d, duration


def _parse_decisions(docs: list[Any], where: str, release: bool) -> GivenDecisions:
    given = GivenDecisions()
    for i in range(len(docs)):
        given.add(docs[i], where, i)
        if given.error is not None:
            raise given.error
        if release:
            docs[i] = None
    return given


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
    if isinstance(decisions, GivenDecisions):
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
        **_decisions_of(decisions, where, release),
        uuid=_uuid(doc.get("uuid")),
    )


def _decisions_of(decisions: Any, where: str, release: bool) -> dict[str, Any]:
    given = (
        decisions if isinstance(decisions, GivenDecisions) else _parse_decisions(decisions, where, release)
    )
    return {"decisions": given.decisions, "durations": given.durations}


# --- large bodies: parsed as they arrive, a decision at a time ------------------------------

_WS = re.compile(r"[ \t\n\r]*")
# an element's separator and the blanks around it (the fast path of a decisions array)
_SEP = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_EVERYTHING = sys.maxsize  # what a parser waits for when it needs the rest of the body


class _Tail:
    """The part of a body not parsed yet, ``buf[pos:]``; ``base`` characters were dropped
    before ``buf`` (and ``lines`` newlines among them, the last at ``last_nl``), so that errors
    give positions in the whole text, as a whole parse would."""

    __slots__ = ("base", "buf", "eof", "last_nl", "lines", "pos")

    def __init__(self) -> None:
        self.buf = ""
        self.pos = 0
        self.base = 0
        self.lines = 0
        self.last_nl = -1
        self.eof = False

    def append(self, text: str) -> None:
        buf, pos = self.buf, self.pos
        if pos:
            n = buf.count("\n", 0, pos)
            if n:
                self.lines += n
                self.last_nl = self.base + buf.rfind("\n", 0, pos)
            self.base += pos
        self.buf = buf[pos:] + text if pos < len(buf) else text
        self.pos = 0

    def at(self) -> int:
        """The position in the whole text of the next character."""
        return self.base + self.pos

    def relocate(self, exc: json.JSONDecodeError) -> ValueError:
        """``exc`` (raised on ``buf``) as a whole parse would have raised it."""
        pos, buf = exc.pos, self.buf
        nl = buf.rfind("\n", 0, pos)
        line = self.lines + buf.count("\n", 0, pos) + 1
        column = pos - nl if nl >= 0 else self.base + pos - self.last_nl
        return ValueError(f"{exc.msg}: line {line} column {column} (char {self.base + pos})")


# The parser is a generator that yields how many characters (from ``pos``) it needs before it
# can go on; :class:`AlertsParser` resumes it once that many arrived, or the body ended.
_Steps = Generator[int, None, Any]


def _blanks(t: _Tail) -> Generator[int, None, None]:
    """Skip blanks (to the next character, or the end of the body)."""
    while True:
        t.pos = _WS.match(t.buf, t.pos).end()  # type: ignore[union-attr]  # always matches
        if t.pos < len(t.buf) or t.eof:
            return
        yield 1


def _next_char(t: _Tail) -> Generator[int, None, str]:
    """The next non-blank character, not consumed ('' at the end of the body)."""
    yield from _blanks(t)
    return t.buf[t.pos : t.pos + 1]


def _value(t: _Tail) -> _Steps:
    """One JSON value. Before the end of the body, a value that fails to parse, or a number
    that reaches the end of what arrived, may just be incomplete: it is parsed again once
    twice as much text arrived (a large value is not re-parsed once per chunk)."""
    yield from _blanks(t)
    while True:
        try:
            value, end = _DECODER.raw_decode(t.buf, t.pos)
        except json.JSONDecodeError as exc:
            if t.eof:
                raise t.relocate(exc) from None
        except ValueError:  # NaN & co.
            if t.eof:
                raise
        else:
            if end < len(t.buf) or t.eof:
                t.pos = end
                return value
        have = len(t.buf) - t.pos
        yield max(have + 1, 2 * have)


def _separator(t: _Tail) -> Generator[int, None, str]:
    """The separator after an element (consumed, with the blanks after it)."""
    sep = yield from _next_char(t)
    t.pos += 1
    yield from _blanks(t)
    return sep


def _alerts(t: _Tail) -> _Steps:
    if (yield from _next_char(t)) != "[":  # not an array: parsed whole (the caller reports it)
        while not t.eof:
            yield _EVERYTHING
        try:
            return _DECODER.decode(t.buf)
        except json.JSONDecodeError as exc:
            raise t.relocate(exc) from None
    t.pos += 1
    out: list[Any] = []
    first = yield from _next_char(t)
    if first == "]":
        t.pos += 1
    else:
        while True:
            if (yield from _next_char(t)) == "{":
                doc = yield from _alert_object(t, f"alerts[{len(out)}]")
            else:
                doc = yield from _value(t)
            out.append(doc)
            sep = yield from _separator(t)
            if sep == "]":
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at char {t.at()}")
    yield from _blanks(t)
    if t.pos < len(t.buf):
        raise ValueError(f"extra data at char {t.at()}")
    return out


def _alert_object(t: _Tail, where: str) -> Generator[int, None, dict[str, Any]]:
    doc: dict[str, Any] = {}
    t.pos += 1
    if (yield from _next_char(t)) == "}":
        t.pos += 1
        return doc
    while True:
        if (yield from _next_char(t)) != '"':
            raise ValueError(f"expected a key at char {t.at()}")
        key = yield from _value(t)
        if (yield from _next_char(t)) != ":":
            raise ValueError(f"expected ':' at char {t.at()}")
        t.pos += 1
        if key == "decisions" and (yield from _next_char(t)) == "[":
            doc[key] = yield from _decisions_array(t, where)
        else:
            doc[key] = yield from _value(t)
        sep = yield from _separator(t)
        if sep == "}":
            return doc
        if sep != ",":
            raise ValueError(f"expected ',' or '}}' at char {t.at()}")


def _decisions_array(t: _Tail, where: str) -> Generator[int, None, GivenDecisions]:
    given = GivenDecisions()
    t.pos += 1
    if (yield from _next_char(t)) == "]":
        t.pos += 1
        return given
    decode, sep_match = _DECODER.raw_decode, _SEP.match
    n = 0
    while True:
        # fast path: the element, its separator and the blanks after it all arrived
        buf = t.buf
        try:
            value, end = decode(buf, t.pos)
        except ValueError:
            m = None
        else:
            m = sep_match(buf, end)
        if m is not None and m.end() < len(buf):
            t.pos = m.end()
            sep = m.group(1)
        else:
            value = yield from _value(t)
            sep = yield from _separator(t)
        if given.error is None:  # past the first error the rest is only checked to be JSON
            given.add(value, where, n)
        n += 1
        if sep == "]":
            return given
        if sep != ",":
            raise ValueError(f"expected ',' or ']' at char {t.at()}")


class AlertsParser:
    """A JSON array of alerts parsed as its text arrives (:meth:`feed`, then :meth:`close`):
    each alert's ``decisions`` array is parsed one element at a time into a
    :class:`GivenDecisions`, so that a 100k-decision import (cscli sends one ~13 MB request)
    never exists whole, neither as text nor as 100k JSON objects (nor as a parser's
    whole-document tree: orjson builds one, ~8× the body at its peak). Give each document of
    the result to :func:`parse_alert`. ``ValueError`` if the text is not valid JSON, or its
    bytes not UTF-8 (positions in messages are in the whole body)."""

    __slots__ = (
        "_bytes",
        "_decoder",
        "_done",
        "_pending",
        "_pending_len",
        "_result",
        "_steps",
        "_tail",
        "_want",
    )

    def __init__(self) -> None:
        self._tail = _Tail()
        self._steps = _alerts(self._tail)
        self._want = next(self._steps)  # it needs a first character
        self._pending: list[str] = []
        self._pending_len = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._bytes = 0  # bytes given to the decoder so far
        self._done = False
        self._result: Any = None

    def feed_bytes(self, data: bytes | bytearray, *, final: bool = False) -> None:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:  # said as a decoding of the whole body would say it
            shift = self._bytes - len(self._decoder.getstate()[0])  # (bytes held from the last chunk)
            start, end = exc.start + shift, exc.end + shift
            where = f"byte 0x{exc.object[exc.start]:02x} in position {start}"
            if end - start > 1:
                where = f"bytes in position {start}-{end - 1}"
            raise ValueError(f"'{exc.encoding}' codec can't decode {where}: {exc.reason}") from None
        self._bytes += len(data)
        self.feed(text)

    def feed(self, text: str) -> None:
        if self._done:  # (only after the end of the body, or an error)
            return
        if text:
            self._pending.append(text)
            self._pending_len += len(text)
        tail = self._tail
        if len(tail.buf) - tail.pos + self._pending_len >= self._want or tail.eof:
            tail.append("".join(self._pending))
            self._pending.clear()
            self._pending_len = 0
            try:
                self._want = self._steps.send(None)
            except StopIteration as stop:
                self._done, self._result = True, stop.value

    def close(self) -> Any:
        """The documents (once the whole body was fed), handed over: the parser keeps no
        reference to them (an import's decisions are freed as soon as they are stored)."""
        if not self._done:
            self.feed_bytes(b"", final=True)
            self._tail.eof = True
            self.feed("")
        assert self._done  # the steps end at the end of the body
        result, self._result = self._result, None
        self._tail.buf = ""
        return result


def parse_alerts_text(text: str) -> Any:
    """:class:`AlertsParser` on a whole text."""
    parser = AlertsParser()
    parser.feed(text)
    return parser.close()


def _uuid(v: Any) -> str:
    """A client's alert uuid in canonical form; anything else is ignored (as CrowdSec does)."""
    if not isinstance(v, str) or len(v) > 64:
        return ""
    try:
        return str(uuidlib.UUID(v))
    except ValueError:
        return ""
