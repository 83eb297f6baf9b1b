"""Decisions as the API serves them: the in-memory record, wire form, filters, and the
decision-count provider behind the ``GetDecisionsCount`` family of expression helpers."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson

from crowdwatch.expr.values import Duration
from crowdwatch.lapi.iprange import IpRange, mask
from crowdwatch.lapi.timefmt import format_duration, format_time

_ALL = (1 << 128) - 1
SCOPE_NAMES = {"ip": "Ip", "range": "Range", "as": "AS", "country": "Country"}


def normalize_scope(scope: str) -> str:
    """CrowdSec's case normalisation of the well-known scopes (others are kept verbatim)."""
    return SCOPE_NAMES.get(scope.lower(), scope)


class DecisionRecord:
    """One decision row as known to the API (immutable once built: a change is a new record).

    The stream index holds one per active decision (100k and more), so the record is four
    slots (≈170 bytes with its ints, whether it came alone from an alert or with 100k others
    from an import): ``net``, the block as one int (start << 8 | prefix, also the index's
    lookup key); ``_num``, every number in one int (a canonical uuid, the id, seq,
    created_seq, state and ``until`` in microseconds: :data:`_LAYOUT`); ``_kind``, the tuple
    (origin, type, scope, scenario) shared by the decisions stored together; and ``_extra``,
    None unless the uuid is not canonical or the value is not the block's canonical text
    (other scopes: the usual case for Ip/Range is to rebuild it). ``simulated`` is in the
    class (records of simulated decisions are rare and of a subclass)."""

    __slots__ = ("_extra", "_kind", "_num", "net")
    simulated = False

    def __init__(
        self,
        id: int,
        uuid: str,
        origin: str,
        type: str,
        scope: str,
        value: str,
        scenario: str,
        until: datetime,
        simulated: bool,
        state: int,
        seq: int,
        created_seq: int,
        ip: IpRange | None,
    ) -> None:
        if not (0 <= id <= _M64 and 0 <= seq <= _M48 and 0 <= created_seq <= _M48 and 0 <= state <= 0xFF):
            raise ValueError(f"decision {id}: id, seq or state out of range")
        packed = _pack_uuid(uuid)
        text_uuid = None if isinstance(packed, int) else uuid
        self._num = (
            (
                (((0 if text_uuid is not None else cast(int, packed)) << 64 | id) << 48 | seq) << 48
                | created_seq
            )
            << 8
            | state
        ) << 64 | us_of(until)
        self._kind = _kind(origin, type, scope, scenario)
        self.net = net = ip.start << 8 | ip.prefix if ip is not None else None
        text_value = None if net is not None and _net_text(net) == value else value
        self._extra = None if text_uuid is None and text_value is None else (text_uuid, text_value)
        if simulated:
            self.__class__ = _SimulatedRecord

    @property
    def id(self) -> int:
        return self._num >> 168 & _M64

    @property
    def uuid(self) -> str:
        extra = self._extra
        if extra is not None and extra[0] is not None:
            return extra[0]
        return _unpack_uuid(self._num >> 232)

    @property
    def seq(self) -> int:
        return self._num >> 120 & _M48

    @property
    def created_seq(self) -> int:
        return self._num >> 72 & _M48

    @property
    def state(self) -> int:
        return self._num >> 64 & 0xFF

    @property
    def until_us(self) -> int:
        """``until`` as microseconds since 0001-01-01 UTC (compare with :func:`us_of`)."""
        return self._num & _M64

    @property
    def until(self) -> datetime:
        return _BASE + timedelta(microseconds=self._num & _M64)

    @property
    def origin(self) -> str:
        return self._kind[0]

    @property
    def type(self) -> str:
        return self._kind[1]

    @property
    def scope(self) -> str:
        return self._kind[2]

    @property
    def scenario(self) -> str:
        return self._kind[3]

    @property
    def value(self) -> str:
        extra = self._extra
        if extra is not None and extra[1] is not None:
            return extra[1]
        return _net_text(self.net)  # type: ignore[arg-type]

    @property
    def ip(self) -> IpRange | None:
        net = self.net
        if net is None:
            return None
        start, prefix = net >> 8, net & 0xFF
        return IpRange(start, start | (~mask(prefix) & _ALL), prefix, self.value)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "origin": self.origin,
            "type": self.type,
            "scope": self.scope,
            "value": self.value,
            "scenario": self.scenario,
            "simulated": self.simulated,
            "until": format_time(self.until),
            "duration": format_duration(self.until - now),
        }


_M64 = (1 << 64) - 1
_M48 = (1 << 48) - 1
_LAYOUT = "uuid 128 | id 64 | seq 48 | created_seq 48 | state 8 | until_us 64 bits (high to low)"
_BASE = datetime(1, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def us_of(moment: datetime) -> int:
    """Microseconds since 0001-01-01 UTC (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _BASE) // _US


_KINDS: dict[tuple[str, str, str, str], tuple[str, str, str, str]] = {}
_KINDS_MAX = 65_536


def _kind(origin: str, type: str, scope: str, scenario: str) -> tuple[str, str, str, str]:
    """One shared tuple per distinct (origin, type, scope, scenario): 8 bytes a record instead
    of 32 (decisions of one alert or import share it; the table is cleared when it grows past
    :data:`_KINDS_MAX`, records keep theirs)."""
    key = (origin, type, scope, scenario)
    got = _KINDS.get(key)
    if got is None:
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        got = _KINDS[key] = key
    return got


class _SimulatedRecord(DecisionRecord):
    __slots__ = ()
    simulated = True


_UUID_CHARS = frozenset("0123456789abcdef-")


def _pack_uuid(text: str) -> str | int:
    """A canonical (lower-case, hyphenated) uuid as its int (stored with the id: no object of
    its own)."""
    dashes = text[8:9] + text[13:14] + text[18:19] + text[23:24]
    if len(text) == 36 and dashes == "----" and _UUID_CHARS.issuperset(text):
        return int(text.replace("-", ""), 16)
    return text


def _unpack_uuid(n: int) -> str:
    h = n.to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _net_text(net: int) -> str:
    """The canonical text of a block (``iprange`` form: bare address for a single host)."""
    start, prefix = net >> 8, net & 0xFF
    if start >> 32 == 0xFFFF and prefix >= 96:
        addr = socket.inet_ntop(socket.AF_INET, (start & 0xFFFFFFFF).to_bytes(4, "big"))
        return addr if prefix == 128 else f"{addr}/{prefix - 96}"
    addr = socket.inet_ntop(socket.AF_INET6, start.to_bytes(16, "big"))
    return addr if prefix == 128 else f"{addr}/{prefix}"


_CHUNK = 2000  # records serialised per orjson call: bounds the transient dicts of a large answer
_MEMO_MAX = 4096


def json_chunks(records: list[DecisionRecord], now: datetime) -> Iterator[bytes]:
    """The wire form of ``records`` as the comma-separated items of a JSON array, in pieces.
    Nothing is cached on the records (at 100k decisions a cached form would cost ~25 MB);
    ``until`` and ``duration`` texts are memoised per answer (decisions stored together share
    their ``until``), and so is the JSON of each (origin, type, scope, scenario). A record with
    a canonical uuid and block value (the usual case) is written as text directly: its uuid,
    value, times and numbers need no escaping."""
    memo: dict[int, str] = {}
    kinds: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    simulated_kinds: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    for start in range(0, len(records), _CHUNK):
        parts: list[str] = []
        for r in records[start : start + _CHUNK]:
            num = r._num
            until_us = num & _M64
            times = memo.get(until_us)
            if times is None:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                until = _BASE + timedelta(microseconds=until_us)
                times = memo[until_us] = (
                    f'"until":"{format_time(until)}","duration":"{format_duration(until - now)}"'
                )
            kind = r._kind
            table = simulated_kinds if r.simulated else kinds
            texts = table.get(kind)
            if texts is None:
                dump = orjson.dumps
                texts = table[kind] = (
                    f'"origin":{dump(kind[0]).decode()},"type":{dump(kind[1]).decode()},'
                    f'"scope":{dump(kind[2]).decode()}',
                    f'"scenario":{dump(kind[3]).decode()},"simulated":{"true" if r.simulated else "false"}',
                )
            if r._extra is None and r.net is not None:
                h = (num >> 232).to_bytes(16, "big").hex()
                parts.append(
                    f'{{"id":{num >> 168 & _M64},"uuid":"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",'
                    f'{texts[0]},"value":"{_net_text(r.net)}",{texts[1]},{times}}}'
                )
            else:
                parts.append(
                    f'{{"id":{r.id},"uuid":{orjson.dumps(r.uuid).decode()},{texts[0]},'
                    f'"value":{orjson.dumps(r.value).decode()},{texts[1]},{times}}}'
                )
        yield ",".join(parts).encode()


def json_array(records: list[DecisionRecord], now: datetime) -> bytes:
    return b"[" + b",".join(json_chunks(records, now)) + b"]"


def _words(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(w.strip() for w in text.split(",") if w.strip())


@dataclass(frozen=True)
class DecisionFilter:
    """What a bouncer asks for (GET /v1/decisions and the stream). ``None`` = no constraint."""

    scopes: frozenset[str] | None = None  # lower-cased
    origins: frozenset[str] | None = None
    types: frozenset[str] | None = None
    value: str | None = None
    scenarios_containing: tuple[str, ...] = ()
    scenarios_not_containing: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls,
        *,
        scopes: str | None = None,
        origins: str | None = None,
        type_: str | None = None,
        value: str | None = None,
        scenarios_containing: str | None = None,
        scenarios_not_containing: str | None = None,
    ) -> DecisionFilter:
        sc = _words(scopes)
        orig = _words(origins)
        return cls(
            scopes=frozenset(s.lower() for s in sc) if sc else None,
            origins=frozenset(orig) if orig else None,
            types=frozenset([type_]) if type_ else None,
            value=value or None,
            scenarios_containing=_words(scenarios_containing),
            scenarios_not_containing=_words(scenarios_not_containing),
        )

    def predicate(self) -> Callable[[DecisionRecord], bool]:
        scopes, origins, types, value = self.scopes, self.origins, self.types, self.value
        inc, exc = self.scenarios_containing, self.scenarios_not_containing

        def accept(r: DecisionRecord) -> bool:
            if scopes is not None and r.scope.lower() not in scopes:
                return False
            if origins is not None and r.origin not in origins:
                return False
            if types is not None and r.type not in types:
                return False
            if value is not None and r.value != value:
                return False
            if inc and not any(w in r.scenario for w in inc):
                return False
            return not (exc and any(w in r.scenario for w in exc))

        return accept


class CountProvider:
    """Adapter from the store's count queries to ``expr.helpers.decisions.DecisionProvider``."""

    def __init__(
        self,
        count: Callable[[str, datetime | None], int],
        active: Callable[[str], tuple[int, timedelta]],
        clock: Callable[[], datetime],
    ) -> None:
        self._count = count
        self._active = active
        self._clock = clock

    def count(self, value: str) -> int:
        return self._count(value, None)

    def count_since(self, value: str, since_ns: int) -> int:
        return self._count(value, self._clock() - timedelta(microseconds=since_ns // 1000))

    def active_count(self, value: str) -> int:
        return self._active(value)[0]

    def active_time_left(self, value: str) -> Duration:
        left = self._active(value)[1]
        us = (left.days * 86_400 + left.seconds) * 1_000_000 + left.microseconds
        return Duration(max(us, 0) * 1000)
