"""Decisions as the API serves them: the in-memory record, wire form, filters, and the
decision-count provider behind the ``GetDecisionsCount`` family of expression helpers."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast, overload

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

    Four slots: ``net``, the block as one int (start << 8 | prefix, also the stream index's
    lookup key); ``_num``, every number in one int (a canonical uuid, the id, seq,
    created_seq, state, ``until`` in microseconds, and a kind id the stream index uses:
    :data:`_LAYOUT`); ``_kind``, the tuple (origin, type, scope, scenario) shared by the
    decisions stored together; and ``_extra``, None unless the uuid is not canonical or the
    value is not the block's canonical text (other scopes: the usual case for Ip/Range is to
    rebuild it). The stream index keeps only ``_num`` and ``net`` (see :class:`PackedRecords`)
    and builds records when it hands them out. ``simulated`` is in the class (records of
    simulated decisions are rare and of a subclass)."""

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
        self._num, self._kind, self.net, self._extra = _slots(
            id, uuid, origin, type, scope, value, scenario, until, state, seq, created_seq, ip
        )
        if simulated:
            self.__class__ = _SimulatedRecord

    @property
    def id(self) -> int:
        num = self._num
        return num >> _GROUP + 3 * (num >> _WIDTH & 0x7F)

    @property
    def uuid(self) -> str:
        extra = self._extra
        if extra is not None and extra[0] is not None:
            return extra[0]
        return _unpack_uuid(self._num >> 72 & _M128)

    @property
    def seq(self) -> int:
        num = self._num
        w = num >> _WIDTH & 0x7F
        return num >> _GROUP + 2 * w & (1 << w) - 1

    @property
    def created_seq(self) -> int:
        num = self._num
        w = num >> _WIDTH & 0x7F
        return num >> _GROUP + w & (1 << w) - 1

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


_M128 = (1 << 128) - 1
_M64 = (1 << 64) - 1
_M48 = (1 << 48) - 1
_LAYOUT = "id w | seq w | created_seq w | kind w | w 7 | uuid 128 | state 8 | until_us 64 bits (high to low)"
"""The packed form of a decision's numbers: ``w`` is the bit length of the largest of id,
seq, created_seq and kind (they are small in practice: 64 bytes for the whole int)."""
_WIDTH = 200  # where w is
_GROUP = 207  # where the w-bit fields start (kind, then created_seq, seq, id)
_MASKS = tuple((1 << w) - 1 for w in range(128))


def pack(id: int, seq: int, created_seq: int, kind: int, uuid: int, state: int, until_us: int) -> int:
    """The packed form (:data:`_LAYOUT`; ``uuid``: a canonical uuid as an int, else 0)."""
    w = max(id.bit_length(), seq.bit_length(), created_seq.bit_length(), kind.bit_length())
    group = ((id << w | seq) << w | created_seq) << w | kind
    return ((group << 7 | w) << 128 | uuid) << 72 | state << 64 | until_us


def kind_of(num: int) -> int:
    """The kind id in a packed form (see :func:`_kind`)."""
    return num >> _GROUP & (1 << (num >> _WIDTH & 0x7F)) - 1


def id_of(num: int) -> int:
    return num >> _GROUP + 3 * (num >> _WIDTH & 0x7F)


def seq_of(num: int) -> int:
    w = num >> _WIDTH & 0x7F
    return num >> _GROUP + 2 * w & (1 << w) - 1


_BASE = datetime(1, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def us_of(moment: datetime) -> int:
    """Microseconds since 0001-01-01 UTC (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _BASE) // _US


Kind = tuple[str, str, str, str]
Extra = tuple[str | None, str | None]
_KINDS: dict[Kind, tuple[Kind, int]] = {}
_KINDS_MAX = 65_536
_KIND_IDS = itertools.count()


def _kind(origin: str, type: str, scope: str, scenario: str) -> tuple[Kind, int]:
    """One shared tuple per distinct (origin, type, scope, scenario): 8 bytes a record instead
    of 32 (decisions of one alert or import share it), and its kind id (packed with the
    numbers: the stream index keeps a decision's kind by it). An id stands for one kind and is
    never reused (ids are handed out in sequence, atomically under the GIL); the table is
    cleared when it grows past :data:`_KINDS_MAX` (records keep theirs; a kind seen again
    gets a new id)."""
    key = (origin, type, scope, scenario)
    got = _KINDS.get(key)
    if got is None:
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        got = _KINDS[key] = (key, next(_KIND_IDS))
    return got


def _slots(
    id: int,
    uuid: str,
    origin: str,
    type: str,
    scope: str,
    value: str,
    scenario: str,
    until: datetime,
    state: int,
    seq: int,
    created_seq: int,
    ip: IpRange | None,
) -> tuple[int, Kind, int | None, Extra | None]:
    """A record's ``_num``, ``_kind``, ``net`` and ``_extra``."""
    if not (0 <= id <= _M64 and 0 <= seq <= _M48 and 0 <= created_seq <= _M48 and 0 <= state <= 0xFF):
        raise ValueError(f"decision {id}: id, seq or state out of range")
    packed = _pack_uuid(uuid)
    text_uuid = None if isinstance(packed, int) else uuid
    kind, kid = _kind(origin, type, scope, scenario)
    uuid_int = 0 if text_uuid is not None else cast(int, packed)
    num = pack(id, seq, created_seq, kid, uuid_int, state, us_of(until))
    net = ip.start << 8 | ip.prefix if ip is not None else None
    text_value = None if net is not None and _net_text(net) == value else value
    return num, kind, net, None if text_uuid is None and text_value is None else (text_uuid, text_value)


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


_new = object.__new__


def packed_record(num: int, net: int | None, kind: Kind, extra: Extra | None) -> DecisionRecord:
    """A (non-simulated) record from its slots, as the stream index stores them."""
    r: DecisionRecord = _new(DecisionRecord)
    r._num = num
    r.net = net
    r._kind = kind
    r._extra = extra
    return r


def unpack(num: int, net: int | None, kinds: dict[int, Kind], extras: dict[int, Extra]) -> DecisionRecord:
    """The record of a packed form whose kind id is in ``kinds`` (and ``_extra``, if any,
    in ``extras`` by decision id)."""
    r: DecisionRecord = _new(DecisionRecord)
    r._num = num
    r.net = net
    high = num >> _WIDTH
    w = high & 0x7F
    r._kind = kinds[high >> 7 & _MASKS[w]]
    r._extra = extras.get(high >> 7 + 3 * w) if extras else None
    return r


class PackedRecords(Sequence[DecisionRecord]):
    """Records as the stream index stores them, built one by one when read (a startup answer
    of 100k decisions holds no record: :func:`json_chunks` writes them from this form).

    ``nums[i]`` and ``nets[i]`` are a record's ``_num`` and ``net``; ``kinds`` resolves the
    kind ids of ``nums`` (id -> (origin, type, scope, scenario)) and ``extras`` holds the
    ``_extra`` of those that have one, by decision id. The index never changes what these
    hold for the ids an answer refers to (it replaces the table or dict instead), so the
    answer stays valid while it is sent."""

    __slots__ = ("extras", "kinds", "nets", "nums")

    def __init__(
        self,
        nums: list[int],
        nets: list[int | None],
        kinds: dict[int, Kind],
        extras: dict[int, Extra],
    ) -> None:
        self.nums = nums
        self.nets = nets
        self.kinds = kinds
        self.extras = extras

    def record(self, num: int, net: int | None) -> DecisionRecord:
        return unpack(num, net, self.kinds, self.extras)

    def __len__(self) -> int:
        return len(self.nums)

    @overload
    def __getitem__(self, i: int) -> DecisionRecord: ...

    @overload
    def __getitem__(self, i: slice) -> list[DecisionRecord]: ...

    def __getitem__(self, i: int | slice) -> DecisionRecord | list[DecisionRecord]:
        if isinstance(i, slice):
            return [self.record(n, net) for n, net in zip(self.nums[i], self.nets[i], strict=True)]
        return self.record(self.nums[i], self.nets[i])

    def __iter__(self) -> Iterator[DecisionRecord]:
        for num, net in zip(self.nums, self.nets, strict=True):
            yield self.record(num, net)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class PackedBuilder:
    """Builds :class:`PackedRecords` row by row, with no record per row: a batch of changes
    for the stream index (``DecisionIndex.apply``), whose ints the index then keeps as they
    are (a list of 100k records would hold 64 bytes more per decision until it is applied,
    and leave that much memory scattered among the index's ints after)."""

    def __init__(self) -> None:
        self.records = PackedRecords([], [], {}, {})

    def add(
        self,
        id: int,
        uuid: str,
        origin: str,
        type: str,
        scope: str,
        value: str,
        scenario: str,
        until: datetime,
        state: int,
        seq: int,
        created_seq: int,
        ip: IpRange | None,
    ) -> None:
        """A non-simulated decision (the arguments of :class:`DecisionRecord`)."""
        num, kind, net, extra = _slots(
            id, uuid, origin, type, scope, value, scenario, until, state, seq, created_seq, ip
        )
        out = self.records
        out.nums.append(num)
        out.nets.append(net)
        out.kinds[num >> _GROUP & _MASKS[num >> _WIDTH & 0x7F]] = kind
        if extra is not None:
            out.extras[id] = extra


_CHUNK = 2000  # records serialised per join: bounds the transient texts of a large answer
_MEMO_MAX = 4096
_KindTexts = tuple[str, str]


def _kind_texts(kind: Kind, simulated: bool) -> _KindTexts:
    dump = orjson.dumps
    return (
        f'"origin":{dump(kind[0]).decode()},"type":{dump(kind[1]).decode()},"scope":{dump(kind[2]).decode()}',
        f'"scenario":{dump(kind[3]).decode()},"simulated":{"true" if simulated else "false"}',
    )


def _times(memo: dict[int, str], until_us: int, now: datetime) -> str:
    """The ``until`` and ``duration`` members, memoised by ``until`` (decisions stored
    together share it)."""
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    until = _BASE + timedelta(microseconds=until_us)
    text = memo[until_us] = f'"until":"{format_time(until)}","duration":"{format_duration(until - now)}"'
    return text


def _other(r: DecisionRecord, texts: _KindTexts, times: str) -> str:
    """A record whose uuid or value is not canonical, as a JSON object."""
    dump = orjson.dumps
    return f'{{"id":{r.id},"uuid":{dump(r.uuid).decode()},{texts[0]},"value":{dump(r.value).decode()},{texts[1]},{times}}}'


def json_chunks(records: Sequence[DecisionRecord], now: datetime) -> Iterator[bytes]:
    """The wire form of ``records`` as the comma-separated items of a JSON array, in pieces.
    Nothing is cached on the records (at 100k decisions a cached form would cost ~25 MB);
    ``until`` and ``duration`` texts are memoised per answer (decisions stored together share
    their ``until``), and so is the JSON of each (origin, type, scope, scenario). A record with
    a canonical uuid and block value (the usual case) is written as text directly: its uuid,
    value, times and numbers need no escaping. :class:`PackedRecords` are written from their
    packed form (no record is built unless its uuid or value is not canonical)."""
    if isinstance(records, PackedRecords):
        yield from _packed_chunks(records, now)
        return
    memo: dict[int, str] = {}
    kinds: dict[Kind, _KindTexts] = {}
    simulated_kinds: dict[Kind, _KindTexts] = {}
    for start in range(0, len(records), _CHUNK):
        parts: list[str] = []
        for r in records[start : start + _CHUNK]:
            num, net, kind = r._num, r.net, r._kind
            table = simulated_kinds if r.simulated else kinds
            texts = table.get(kind)
            if texts is None:
                texts = table[kind] = _kind_texts(kind, r.simulated)
            times = memo.get(num & _M64) or _times(memo, num & _M64, now)
            if r._extra is None and net is not None:
                h = (num >> 72 & _M128).to_bytes(16, "big").hex()
                parts.append(
                    f'{{"id":{num >> _GROUP + 3 * (num >> _WIDTH & 0x7F)},'
                    f'"uuid":"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",'
                    f'{texts[0]},"value":"{_net_text(net)}",{texts[1]},{times}}}'
                )
            else:
                parts.append(_other(r, texts, times))
        yield ",".join(parts).encode()


def _packed_chunks(records: PackedRecords, now: datetime) -> Iterator[bytes]:
    memo: dict[int, str] = {}
    kinds = records.kinds
    texts_of: dict[int, _KindTexts] = {}
    extras = records.extras
    nums, nets = records.nums, records.nets
    for start in range(0, len(nums), _CHUNK):
        parts: list[str] = []
        for num, net in zip(nums[start : start + _CHUNK], nets[start : start + _CHUNK], strict=True):
            high = num >> _WIDTH
            w = high & 0x7F
            group = high >> 7
            kid = group & _MASKS[w]
            texts = texts_of.get(kid)
            if texts is None:
                texts = texts_of[kid] = _kind_texts(kinds[kid], False)
            id = group >> 3 * w
            extra = extras.get(id) if extras else None
            times = memo.get(num & _M64) or _times(memo, num & _M64, now)
            if extra is None and net is not None:
                h = (num >> 72 & _M128).to_bytes(16, "big").hex()
                parts.append(
                    f'{{"id":{id},"uuid":"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",'
                    f'{texts[0]},"value":"{_net_text(net)}",{texts[1]},{times}}}'
                )
            else:
                r = packed_record(num, net, kinds[kid], extra)
                parts.append(_other(r, texts, times))
        yield ",".join(parts).encode()


def json_array(records: Sequence[DecisionRecord], now: datetime) -> bytes:
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
        """The test of a record. Its ``by_kind`` attribute is true when only the record's
        (origin, type, scope, scenario) matter (no ``value``): the stream index then tests
        each kind once instead of each decision (see :func:`by_kind`)."""
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

        accept.by_kind = value is None  # type: ignore[attr-defined]
        return accept


def by_kind(accept: Callable[[DecisionRecord], bool]) -> bool:
    """Whether ``accept``'s answer depends only on a record's kind (origin, type, scope,
    scenario): true for the tests :meth:`DecisionFilter.predicate` builds without a value."""
    return getattr(accept, "by_kind", False) is True


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
