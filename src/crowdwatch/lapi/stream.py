"""The in-memory decision index that answers bouncers without touching the database.

It mirrors the enforceable (non-simulated, active) decisions of the database, fed in change
order (``seq``, see ``storage.sequence``) by ``apply``. Every applied change is appended to a
log; a bouncer's cursor is the last ``seq`` it was served, so a poll costs a bisection plus
the changes since then, and no change is skipped or sent twice. Lookups by IP probe one hash
table per prefix length in use (decisions are CIDR blocks), so ``?ip=`` is O(#lengths).

Single-threaded by design: only the event loop calls it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from crowdwatch.lapi.decisions import DecisionRecord, us_of
from crowdwatch.lapi.iprange import IpRange, mask
from crowdwatch.lapi.storage.tables import ACTIVE

TOMBSTONE_TTL = timedelta(hours=24)
"""How long removals stay in the log; a cursor older than that gets a full resend."""

Pred = Callable[[DecisionRecord], bool]
K = TypeVar("K", int, str)


@dataclass
class StreamAnswer:
    new: list[DecisionRecord]
    deleted: list[DecisionRecord]
    cursor: int


class DecisionIndex:
    def __init__(self) -> None:
        self.seq = 0  # last change applied
        self._log: list[DecisionRecord] = []
        self._removed_at: list[tuple[datetime, int]] = []  # (when, seq) of removals, for compaction
        self._floor = 0  # cursors below this lost information (compacted away)
        # Active decisions are found through one table only (no table by id, no table by value
        # for Ip/Range ones: each costs ~50 bytes per decision): those on a block by the block
        # (DecisionRecord.net), the others (other scopes) by value. A key holds a record, or a
        # list when several share it (rare): a dict per key would cost ~300 bytes a decision.
        self._by_net: dict[int, Slot] = {}
        self._prefixes: dict[int, int] = {}  # prefix length -> number of active blocks
        self._by_value: dict[str, Slot] = {}
        self._count = 0
        self._shared = 0  # decisions beyond the first on a key: 0 means nothing to deduplicate

    @property
    def active(self) -> dict[int, DecisionRecord]:
        """The active decisions by id (built on demand: for tests and diagnostics)."""
        return {r.id: r for r in self._each_active()}

    def __len__(self) -> int:
        return self._count

    def _each_active(self) -> Iterator[DecisionRecord]:
        for table in (self._by_net, self._by_value):
            for slot in table.values():
                if isinstance(slot, list):
                    yield from slot
                else:
                    yield slot

    def _find(self, rec: DecisionRecord) -> DecisionRecord | None:
        """The active record with ``rec``'s id (a decision keeps its value: same key)."""
        net = rec.net
        slot = self._by_net.get(net) if net is not None else self._by_value.get(rec.value)
        if slot is None:
            return None
        if not isinstance(slot, list):
            return slot if slot.id == rec.id else None
        for r in slot:
            if r.id == rec.id:
                return r
        return None

    # --- feeding ---------------------------------------------------------------------
    def apply(self, changes: Iterable[DecisionRecord], now: datetime) -> int:
        """Apply database changes in ``seq`` order; returns how many were applied."""
        base = self.seq
        top = base
        n = 0
        for rec in changes:
            if rec.seq <= base:
                continue  # already applied (overlapping polls)
            top = max(top, rec.seq)
            if rec.simulated:
                continue  # never enforceable
            old = self._find(rec) if self._count else None
            if rec.state == ACTIVE:
                if old is not None:
                    self._unlink(old)
                self._link(rec)
            elif old is None:
                continue  # removal of a decision this index never had (e.g. merged rows)
            else:
                self._unlink(old)
                self._removed_at.append((now, rec.seq))
            self._log.append(rec)
            n += 1
        self.seq = top
        return n

    def advance(self, seq: int) -> None:
        """Record that every change up to ``seq`` was applied (changes that concern no
        enforceable decision move the cursor too)."""
        self.seq = max(self.seq, seq)

    def _link(self, rec: DecisionRecord) -> None:
        self._count += 1
        net = rec.net
        if net is not None:
            if _put(self._by_net, net, rec):
                self._shared += 1
            prefix = net & 0xFF
            self._prefixes[prefix] = self._prefixes.get(prefix, 0) + 1
        elif _put(self._by_value, rec.value, rec):
            self._shared += 1

    def _unlink(self, rec: DecisionRecord) -> None:
        self._count -= 1
        net = rec.net
        if net is not None:
            if _drop(self._by_net, net, rec):
                self._shared -= 1
            prefix = net & 0xFF
            left = self._prefixes[prefix] - 1
            if left:
                self._prefixes[prefix] = left
            else:
                del self._prefixes[prefix]
        elif _drop(self._by_value, rec.value, rec):
            self._shared -= 1

    def compact(self, now: datetime) -> None:
        """Drop superseded log entries and removals older than :data:`TOMBSTONE_TTL`."""
        horizon = now - TOMBSTONE_TTL
        cut = 0
        while cut < len(self._removed_at) and self._removed_at[cut][0] < horizon:
            self._floor = max(self._floor, self._removed_at[cut][1])
            cut += 1
        del self._removed_at[:cut]
        latest: dict[int, int] = {}
        for i, rec in enumerate(self._log):
            latest[rec.id] = i
        keep = [
            i
            for i, rec in enumerate(self._log)
            if latest[rec.id] == i and (rec.state == ACTIVE or rec.seq > self._floor)
        ]
        self._log = [self._log[i] for i in keep]

    @property
    def log_size(self) -> int:
        return len(self._log)

    # --- queries ---------------------------------------------------------------------
    def stream(self, cursor: int | None, accept: Pred, now: datetime) -> StreamAnswer:
        """Decisions a bouncer at ``cursor`` must add and remove (``None``: startup, full set)."""
        now_us = us_of(now)
        if cursor is None or cursor < self._floor:
            full = [r for r in self._each_active() if r.until_us > now_us and accept(r)]
            return StreamAnswer(self._dedupe(full), [], self.seq)
        start = bisect.bisect_right(self._log, cursor, key=_seq_of)  # the log is in seq order
        latest: dict[int, DecisionRecord] = {}
        for rec in self._log[start:]:
            latest[rec.id] = rec
        new: list[DecisionRecord] = []
        deleted: list[DecisionRecord] = []
        for rec in latest.values():
            if not accept(rec):
                continue
            if rec.state == ACTIVE:
                if rec.until_us > now_us:
                    new.append(rec)
            elif rec.created_seq <= cursor and not self._still_covered(rec, accept, now):
                deleted.append(rec)
        return StreamAnswer(self._dedupe(new), deleted, self.seq)

    def _dedupe(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        """One decision per (scope, value, type): the one lasting longest. Only records whose
        value other active decisions share can have a rival, so the others pass through."""
        return _dedupe(records) if self._shared else records

    def _still_covered(self, rec: DecisionRecord, accept: Pred, now: datetime) -> bool:
        """Another live decision with the same scope/value/type keeps the bouncer's entry."""
        net = rec.net
        same = self._by_net.get(net) if net is not None else self._by_value.get(rec.value)
        if same is None:
            return False
        scope, value, now_us = rec.scope.lower(), rec.value, us_of(now)
        return any(
            o.type == rec.type
            and o.scope.lower() == scope
            and o.value == value
            and o.until_us > now_us
            and accept(o)
            for o in _each(same)
        )

    def containing(self, ip: IpRange, accept: Pred, now: datetime) -> list[DecisionRecord]:
        """Active decisions whose block contains ``ip`` (an address or a block)."""
        out: list[DecisionRecord] = []
        now_us = us_of(now)
        for prefix in self._prefixes:
            if prefix > ip.prefix:
                continue
            bucket = self._by_net.get(_net_key(ip.start & mask(prefix), prefix))
            if bucket is not None:
                out.extend(r for r in _each(bucket) if r.until_us > now_us and accept(r))
        return out

    def within(self, ip: IpRange, accept: Pred, now: datetime) -> list[DecisionRecord]:
        """Active decisions whose block lies inside ``ip``."""
        lo, hi, now_us = ip.start, ip.end, us_of(now)
        out: list[DecisionRecord] = []
        for r in self._each_active():
            net = r.net
            if net is None or not lo <= net >> 8 <= hi:
                continue
            block = r.ip
            if block is not None and block.end <= hi and r.until_us > now_us and accept(r):
                out.append(r)
        return out

    def matching(self, accept: Pred, now: datetime) -> list[DecisionRecord]:
        now_us = us_of(now)
        return [r for r in self._each_active() if r.until_us > now_us and accept(r)]

    def active_counts(self, now: datetime) -> dict[tuple[str, str, str], int]:
        """Live decisions per (origin, type, scenario), for metrics. Safe from another thread:
        the values are copied in one step (atomic under the GIL) before being counted."""
        out: dict[tuple[str, str, str], int] = {}
        slots = [*self._by_net.values(), *self._by_value.values()]
        now_us = us_of(now)
        for r in (r for slot in slots for r in _each(slot)):
            if r.until_us > now_us:
                key = (r.origin, r.type, r.scenario)
                out[key] = out.get(key, 0) + 1
        return out


Slot = DecisionRecord | list[DecisionRecord]


def _seq_of(rec: DecisionRecord) -> int:
    return rec.seq


def _net_key(start: int, prefix: int) -> int:
    """``DecisionRecord.net`` of a block."""
    return start << 8 | prefix


def _each(slot: Slot) -> list[DecisionRecord]:
    return slot if isinstance(slot, list) else [slot]


def _put(table: dict[K, Slot], key: K, rec: DecisionRecord) -> bool:
    """Add ``rec`` under ``key``; whether the key already held a record."""
    cur = table.get(key)
    if cur is None:
        table[key] = rec
        return False
    if isinstance(cur, list):
        cur.append(rec)
    else:
        table[key] = [cur, rec]
    return True


def _drop(table: dict[K, Slot], key: K, rec: DecisionRecord) -> bool:
    """Remove ``rec`` from ``key``; whether other records stay under the key."""
    cur = table[key]
    if cur is rec:
        del table[key]
        return False
    assert isinstance(cur, list)
    cur[:] = [r for r in cur if r is not rec]
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
