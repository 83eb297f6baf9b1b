"""The in-memory decision index that answers bouncers without touching the database.

It mirrors the enforceable (non-simulated, active) decisions of the database, fed in change
order (``seq``, see ``storage.sequence``) by ``apply``. Every applied change is appended to a
log; a bouncer's cursor is the last ``seq`` it was served, so a poll costs a bisection plus
the changes since then, and no change is skipped or sent twice. Lookups by IP probe one hash
table per prefix length in use (decisions are CIDR blocks), so ``?ip=`` is O(#lengths).

A decision is held as two ints, no object of its own (~163 bytes with the tables' entries
instead of ~228): its packed form (``DecisionRecord._num``, whose kind id the index's kind
table resolves) and its block (``DecisionRecord.net``, the lookup key), plus its ``_extra``
in a side table in the rare case it has one. Records are built when the index hands them
out; the answers that may hold
every decision (startup, :meth:`DecisionIndex.matching`) are :class:`PackedRecords`, which
``json_chunks`` writes without building them. ``apply`` takes records or
:class:`PackedRecords` (a batch built without records: ``decisions.PackedBuilder``).

Single-threaded by design: only the event loop calls it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from crowdwatch.lapi.decisions import (
    DecisionRecord,
    Extra,
    Kind,
    PackedRecords,
    by_kind,
    id_of,
    kind_of,
    packed_record,
    seq_of,
    unpack,
    us_of,
)
from crowdwatch.lapi.iprange import IpRange, mask
from crowdwatch.lapi.storage.tables import ACTIVE

TOMBSTONE_TTL = timedelta(hours=24)
"""How long removals stay in the log; a cursor older than that gets a full resend."""

Pred = Callable[[DecisionRecord], bool]
K = TypeVar("K", int, str)
_M64 = (1 << 64) - 1  # the ``until`` (microseconds) of a packed form: ``num & _M64``
_ALL = (1 << 128) - 1
_PROBE_ALL_MAX = 64


@dataclass
class StreamAnswer:
    new: Sequence[DecisionRecord]
    deleted: list[DecisionRecord]
    cursor: int


class DecisionIndex:
    def __init__(self) -> None:
        self.seq = 0  # last change applied
        # the log: packed forms in seq order, and their blocks (None: another scope)
        self._log: list[int] = []
        self._log_nets: list[int | None] = []
        self._removed_at: list[tuple[datetime, int]] = []  # (when, seq) of removals, for compaction
        self._floor = 0  # cursors below this lost information (compacted away)
        # Active decisions are found through one table only (no table by id, no table by value
        # for Ip/Range ones: each costs ~50 bytes per decision): those on a block by the block
        # (DecisionRecord.net), the others (other scopes) by value. A key holds a packed form,
        # or a list when several share it (rare). The packed forms are the log's own ints.
        self._by_net: dict[int, Slot] = {}
        self._prefixes: dict[int, int] = {}  # prefix length -> number of active blocks
        self._by_value: dict[str, Slot] = {}
        self._count = 0
        self._shared = 0  # decisions beyond the first on a key: 0 means nothing to deduplicate
        # kind id (packed in each decision: see decisions._kind) -> (origin, type, scope,
        # scenario); compact() drops the unused ones (into a new dict: answers being sent
        # keep the one they were built with; an id is never reused)
        self._kinds: dict[int, Kind] = {}
        self._extras: dict[int, Extra] = {}  # DecisionRecord._extra by decision id (rare)

    @property
    def active(self) -> dict[int, DecisionRecord]:
        """The active decisions by id (built on demand: for tests and diagnostics)."""
        return {r.id: r for r in self._each_active()}

    def __len__(self) -> int:
        return self._count

    def _record(self, num: int, net: int | None) -> DecisionRecord:
        """The record of a packed form (``net``: its block)."""
        return unpack(num, net, self._kinds, self._extras)

    def _each_active(self) -> Iterator[DecisionRecord]:
        for net, slot in self._by_net.items():
            for num in _each(slot):
                yield self._record(num, net)
        for slot in self._by_value.values():
            for num in _each(slot):
                yield self._record(num, None)

    def _find(self, rec: DecisionRecord) -> int | None:
        """The active packed form with ``rec``'s id (a decision keeps its value: same key)."""
        net = rec.net
        slot = self._by_net.get(net) if net is not None else self._by_value.get(rec.value)
        if slot is None:
            return None
        id = rec.id
        if not isinstance(slot, list):
            return slot if id_of(slot) == id else None
        for num in slot:
            if id_of(num) == id:
                return num
        return None

    # --- feeding ---------------------------------------------------------------------
    def apply(self, changes: Iterable[DecisionRecord], now: datetime) -> int:
        """Apply database changes in ``seq`` order; returns how many were applied."""
        base = self.seq
        top = base
        n = 0
        for rec in changes:
            seq = rec.seq
            if seq <= base:
                continue  # already applied (overlapping polls)
            if seq > top:
                top = seq
            if rec.simulated:
                continue  # never enforceable
            old = self._find(rec) if self._count else None
            active = rec.state == ACTIVE
            if old is None and not active:
                continue  # removal of a decision this index never had (e.g. merged rows)
            num = rec._num
            kid = kind_of(num)
            if kid not in self._kinds:
                self._kinds[kid] = rec._kind
            net = rec.net
            key = rec.value if net is None else net
            if rec._extra is not None:
                self._extras[rec.id] = rec._extra
            if old is not None:
                self._unlink(old, key)
            if active:
                self._link(num, key)
            else:
                self._removed_at.append((now, seq))
            self._log.append(num)
            self._log_nets.append(net)
            n += 1
        self.seq = top
        return n

    def advance(self, seq: int) -> None:
        """Record that every change up to ``seq`` was applied (changes that concern no
        enforceable decision move the cursor too)."""
        self.seq = max(self.seq, seq)

    def _link(self, num: int, key: int | str) -> None:
        self._count += 1
        if isinstance(key, int):
            if _put(self._by_net, key, num):
                self._shared += 1
            prefix = key & 0xFF
            self._prefixes[prefix] = self._prefixes.get(prefix, 0) + 1
        elif _put(self._by_value, key, num):
            self._shared += 1

    def _unlink(self, num: int, key: int | str) -> None:
        self._count -= 1
        if isinstance(key, int):
            if _drop(self._by_net, key, num):
                self._shared -= 1
            prefix = key & 0xFF
            left = self._prefixes[prefix] - 1
            if left:
                self._prefixes[prefix] = left
            else:
                del self._prefixes[prefix]
        elif _drop(self._by_value, key, num):
            self._shared -= 1

    def compact(self, now: datetime) -> None:
        """Drop superseded log entries and removals older than :data:`TOMBSTONE_TTL`, and
        the kinds and extras no logged decision uses any more."""
        horizon = now - TOMBSTONE_TTL
        cut = 0
        while cut < len(self._removed_at) and self._removed_at[cut][0] < horizon:
            self._floor = max(self._floor, self._removed_at[cut][1])
            cut += 1
        del self._removed_at[:cut]
        log, nets, floor = self._log, self._log_nets, self._floor
        ids = [id_of(num) for num in log]
        latest = {id: i for i, id in enumerate(ids)}
        keep = [
            i
            for i, num in enumerate(log)
            if latest[ids[i]] == i and (num >> 64 & 0xFF == ACTIVE or seq_of(num) > floor)
        ]
        if len(keep) < len(log):
            self._log = log = [log[i] for i in keep]
            self._log_nets = [nets[i] for i in keep]
        if self._extras:  # a new dict: answers being sent keep theirs
            kept = {ids[i] for i in keep}
            self._extras = {id: extra for id, extra in self._extras.items() if id in kept}
        used = {kind_of(num) for num in log}
        if len(used) < len(self._kinds):
            self._kinds = {kid: kind for kid, kind in self._kinds.items() if kid in used}

    @property
    def log_size(self) -> int:
        return len(self._log)

    # --- queries ---------------------------------------------------------------------
    def stream(self, cursor: int | None, accept: Pred, now: datetime) -> StreamAnswer:
        """Decisions a bouncer at ``cursor`` must add and remove (``None``: startup, full set)."""
        now_us = us_of(now)
        if cursor is None or cursor < self._floor:
            return StreamAnswer(self._live(accept, now_us, dedupe=True), [], self.seq)
        log, nets = self._log, self._log_nets
        start = bisect.bisect_right(log, cursor, key=seq_of)  # the log is in seq order
        latest: dict[int, int] = {}
        for i in range(start, len(log)):
            latest[id_of(log[i])] = i
        new: list[DecisionRecord] = []
        deleted: list[DecisionRecord] = []
        for i in latest.values():
            num = log[i]
            rec = self._record(num, nets[i])
            if not accept(rec):
                continue
            if num >> 64 & 0xFF == ACTIVE:
                if num & _M64 > now_us:
                    new.append(rec)
            elif rec.created_seq <= cursor and not self._still_covered(rec, accept, now):
                deleted.append(rec)
        return StreamAnswer(self._dedupe(new), deleted, self.seq)

    def _live(self, accept: Pred, now_us: int, *, dedupe: bool) -> Sequence[DecisionRecord]:
        """The active decisions live at ``now_us`` that ``accept`` takes (one per (scope,
        value, type) if ``dedupe``): packed when ``accept`` looks only at kinds."""
        if not by_kind(accept):
            found = [r for r in self._each_active() if r.until_us > now_us and accept(r)]
            return self._dedupe(found) if dedupe else found
        kinds = self._kinds
        # accept's answer by kind id: for every kind at once if there are few (then, if all
        # are taken, no decision's kind needs looking at), else as they come
        taken: dict[int, bool] = {}
        if len(kinds) <= _PROBE_ALL_MAX:
            taken = {kid: accept(packed_record(0, None, kind, None)) for kid, kind in kinds.items()}
        every = len(taken) == len(kinds) and all(taken.values())

        def takes(num: int) -> bool:
            if every:
                return True
            kid = kind_of(num)
            ok = taken.get(kid)
            if ok is None:
                ok = taken[kid] = accept(packed_record(0, None, kinds[kid], None))
            return ok

        nums: list[int] = []
        nets: list[int | None] = []

        def add(slot: list[int], net: int | None) -> None:
            live = [num for num in slot if num & _M64 > now_us and takes(num)]
            if dedupe and len(live) > 1:
                live = self._dedupe_slot(live, net)
            nums.extend(live)
            nets.extend([net] * len(live))

        for net, slot in self._by_net.items():
            if isinstance(slot, list):
                add(slot, net)
            elif slot & _M64 > now_us and (every or takes(slot)):
                nums.append(slot)
                nets.append(net)
        for slot in self._by_value.values():
            add(_each(slot), None)
        return PackedRecords(nums, nets, kinds, self._extras)

    def _dedupe(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        """One decision per (scope, value, type): the one lasting longest. Only records whose
        value other active decisions share can have a rival, so the others pass through."""
        return _dedupe(records) if self._shared else records

    def _dedupe_slot(self, nums: list[int], net: int | None) -> list[int]:
        """:func:`_dedupe` of decisions sharing a key (rivals share their key)."""
        best: dict[tuple[str, str, str], int] = {}
        for num in nums:
            r = self._record(num, net)
            key = (r.scope.lower(), r.value, r.type)
            cur = best.get(key)
            if cur is None or num & _M64 > cur & _M64:
                best[key] = num
        return list(best.values())

    def _still_covered(self, rec: DecisionRecord, accept: Pred, now: datetime) -> bool:
        """Another live decision with the same scope/value/type keeps the bouncer's entry."""
        net = rec.net
        same = self._by_net.get(net) if net is not None else self._by_value.get(rec.value)
        if same is None:
            return False
        scope, value, now_us = rec.scope.lower(), rec.value, us_of(now)
        for num in _each(same):
            if num & _M64 <= now_us:
                continue
            o = self._record(num, net)
            if o.type == rec.type and o.scope.lower() == scope and o.value == value and accept(o):
                return True
        return False

    def containing(self, ip: IpRange, accept: Pred, now: datetime) -> list[DecisionRecord]:
        """Active decisions whose block contains ``ip`` (an address or a block)."""
        out: list[DecisionRecord] = []
        now_us = us_of(now)
        for prefix in self._prefixes:
            if prefix > ip.prefix:
                continue
            net = _net_key(ip.start & mask(prefix), prefix)
            bucket = self._by_net.get(net)
            if bucket is not None:
                for num in _each(bucket):
                    if num & _M64 > now_us:
                        r = self._record(num, net)
                        if accept(r):
                            out.append(r)
        return out

    def within(self, ip: IpRange, accept: Pred, now: datetime) -> list[DecisionRecord]:
        """Active decisions whose block lies inside ``ip``."""
        lo, hi, now_us = ip.start, ip.end, us_of(now)
        out: list[DecisionRecord] = []
        for net, slot in self._by_net.items():
            start = net >> 8
            if not lo <= start <= hi or start | (~mask(net & 0xFF) & _ALL) > hi:
                continue
            for num in _each(slot):
                if num & _M64 > now_us:
                    r = self._record(num, net)
                    if accept(r):
                        out.append(r)
        return out

    def matching(self, accept: Pred, now: datetime) -> Sequence[DecisionRecord]:
        return self._live(accept, us_of(now), dedupe=False)

    def active_counts(self, now: datetime) -> dict[tuple[str, str, str], int]:
        """Live decisions per (origin, type, scenario), for metrics. Safe from another thread:
        the values are copied in one step (atomic under the GIL) before being counted, with
        the kind table they refer to."""
        while True:
            kinds = self._kinds
            slots = [*self._by_net.values(), *self._by_value.values()]
            if kinds is self._kinds:
                break
        now_us = us_of(now)
        per_kind: dict[int, int] = {}
        for num in (num for slot in slots for num in _each(slot)):
            if num & _M64 > now_us:
                kid = kind_of(num)
                per_kind[kid] = per_kind.get(kid, 0) + 1
        out: dict[tuple[str, str, str], int] = {}
        for kid, n in per_kind.items():
            origin, type, _, scenario = kinds[kid]
            out[origin, type, scenario] = out.get((origin, type, scenario), 0) + n
        return out


Slot = int | list[int]


def _net_key(start: int, prefix: int) -> int:
    """``DecisionRecord.net`` of a block."""
    return start << 8 | prefix


def _each(slot: Slot) -> list[int]:
    return slot if isinstance(slot, list) else [slot]


def _put(table: dict[K, Slot], key: K, num: int) -> bool:
    """Add ``num`` under ``key``; whether the key already held a decision."""
    cur = table.get(key)
    if cur is None:
        table[key] = num
        return False
    if isinstance(cur, list):
        cur.append(num)
    else:
        table[key] = [cur, num]
    return True


def _drop(table: dict[K, Slot], key: K, num: int) -> bool:
    """Remove ``num`` from ``key``; whether other decisions stay under the key."""
    cur = table[key]
    if cur is num:
        del table[key]
        return False
    assert isinstance(cur, list)
    cur[:] = [n for n in cur if n is not num]
    if len(cur) == 1:
        table[key] = cur[0]
    return True


def _dedupe(records: list[DecisionRecord]) -> list[DecisionRecord]:
    """One decision per (scope, value, type): the one lasting longest."""
    best: dict[tuple[str, str, str], DecisionRecord] = {}
    for r in records:
        key = (r.scope.lower(), r.value, r.type)
        cur = best.get(key)
        if cur is None or r.until_us > cur.until_us:
            best[key] = r
    return list(best.values())
