"""Decision queries: insertion with merging, soft deletion, expiry, change feed, counts.

A decision is never deleted while a bouncer may still need to hear about it: deletion and
expiry set ``state`` and take a new ``seq``, which is what the stream index follows.
"""

from __future__ import annotations

import sys
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from crowdwatch.lapi.decisions import PackedBuilder, PackedRecords
from crowdwatch.lapi.iprange import IpRange, for_scope, mask
from crowdwatch.lapi.storage.engine import Prepared, sqlite_of
from crowdwatch.lapi.storage.sequence import connection_of
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED, EXPIRED, MERGED, Decision
from crowdwatch.lapi.timefmt import from_db, to_db

LIVE_STATES = (ACTIVE, MERGED)
_DECISIONS = cast(Table, Decision.__table__)  # Core insert: bulk imports skip the ORM


@dataclass(slots=True)  # one per decision of an import: no per-instance dict
class NewDecision:
    """A decision about to be stored (from a profile or given by cscli)."""

    type: str
    scope: str
    value: str
    origin: str
    scenario: str
    until: datetime
    simulated: bool = False
    uuid: str = ""


_CHUNK = 500
_ROWS_STEP = _CHUNK * 4  # rows built and inserted at a time (~1.3 MB; more is not faster)
_INSERT = _DECISIONS.insert()
_ROW_KEYS = [
    "uuid",
    "alert_id",
    "created_at",
    "until",
    "scenario",
    "type",
    "scope",
    "value",
    "origin",
    "simulated",
    "state",
    "seq",
    "created_seq",
    "start_ip",
    "end_ip",
    "prefix",
]
_RAW_INSERT = Prepared(lambda: _DECISIONS.insert().values({c: bindparam(c) for c in _ROW_KEYS}))
_TARGET_COLUMNS = "id, scope, value, type, origin, until, state, simulated"


_LIVE_TARGETS = (
    select(
        _DECISIONS.c.id,
        _DECISIONS.c.scope,
        _DECISIONS.c.value,
        _DECISIONS.c.type,
        _DECISIONS.c.origin,
        _DECISIONS.c.until,
        _DECISIONS.c.state,
        _DECISIONS.c.simulated,
    )
    .where(_DECISIONS.c.scope.in_(bindparam("scopes", expanding=True)))
    .where(_DECISIONS.c.value.in_(bindparam("values", expanding=True)))
)
_EXTEND = (
    _DECISIONS.update()
    .where(_DECISIONS.c.id == bindparam("target"))
    .values(until=bindparam("new_until"), seq=bindparam("new_seq"))
)


def _live_targets(
    session: Session | Connection, scopes: set[str], values: list[str], dbnow: datetime
) -> dict[tuple[str, str, str, str], tuple[int, datetime]]:
    """Live enforceable decisions on ``values`` in ``scopes``: (scope, value, type, origin) ->
    (id, until), longest first. Only the (scope, value) index is offered to the database
    (state and until are checked here), so no query planner is tempted to walk every active
    decision instead. (A pair of scope and value nobody asked for is harmless: its key is
    never looked up.)"""
    found: dict[tuple[str, str, str, str], tuple[int, datetime]] = {}
    values.sort()  # the caller's own list: sorted and deduplicated in place (no set of 100k)
    values[:] = [v for i, v in enumerate(values) if not i or v != values[i - 1]]
    ordered = values
    scope_list = sorted(scopes)
    conn = connection_of(session)
    raw = sqlite_of(conn)
    to_time = _until_reader(conn) if raw is not None else None
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        rows: Any
        if raw is not None:
            sql = (
                f"SELECT {_TARGET_COLUMNS} FROM decisions WHERE scope IN ({','.join('?' * len(scope_list))})"
                f" AND value IN ({','.join('?' * len(chunk))})"
            )
            rows = raw.execute(sql, (*scope_list, *chunk))
        else:
            rows = conn.execute(_LIVE_TARGETS, {"scopes": scope_list, "values": chunk})
        for id_, scope, value, type_, origin, until, state, simulated in rows:
            if state != ACTIVE or simulated:
                continue
            if to_time is not None:
                until = to_time(until)
            if until <= dbnow:
                continue
            key = (scope, value, type_, origin)
            if key not in found or until > found[key][1]:
                found[key] = (id_, until)
    return found


def _stored_value(item: NewDecision) -> str:
    """The value as stored: canonical text for Ip/Range scopes (the given string itself when
    it is already canonical: an import's 100k values are not copied)."""
    ip = for_scope(item.scope, item.value)
    if ip is None or ip.text == item.value or item.scope.lower() not in ("ip", "range"):
        return item.value
    return ip.text


_READERS: dict[str, Any] = {}


def _until_reader(conn: Connection) -> Any:
    """SQLite's stored text of a ``Time`` column back to a datetime (what SQLAlchemy returns)."""
    name = conn.dialect.name
    reader = _READERS.get(name)
    if reader is None:
        reader = _READERS[name] = _DECISIONS.c.until.type.dialect_impl(conn.dialect).result_processor(
            conn.dialect, None
        )
    return reader


def insert(
    session: Session | Connection, groups: list[tuple[int | None, list[NewDecision]]], seq: int, now: datetime
) -> None:
    """Store decisions, given per alert (alert id, its decisions). An enforceable decision
    identical in (scope, value, type, origin) to a live one is stored as MERGED and extends the
    live one's ``until`` instead of piling up.

    Rows are built and inserted a chunk at a time (a 100k-decision import would otherwise hold
    ~90 MB of row dicts): a first pass settles which row of each key is kept. Nothing else is
    held per decision but its stored value and, if some values repeat, an entry by value: a
    100k import's working set is ~5 MB, not the ~25 of per-decision tuples and index lists."""
    dbnow = to_db(now)
    # (an import is one group: its list is used as is, not copied)
    items = groups[0][1] if len(groups) == 1 else [d for _, ds in groups for d in ds]
    values = [_stored_value(item) for item in items]
    enforced = [v for v, item in zip(values, items) if not item.simulated]
    count = len(enforced)
    stored = _live_targets(session, {item.scope for item in items if not item.simulated}, enforced, dbnow)
    # the values were deduplicated there: all distinct (an import), none is merged into
    # another of this call, and the pass that finds such pairs is skipped (its dict of 100k
    # values, ~8 MB with its ints, was the largest part of a large import's insert)
    distinct = len(enforced) == count
    del enforced
    # key -> index of the row kept, by value first (one str key per decision, not a 4-tuple:
    # ~12 MB less for a 100k import); other keys on an already seen value in ``first_other``
    first: dict[str, int] = {}
    first_other: dict[tuple[str, str, str, str], int] = {}
    longest: dict[int, datetime] = {}  # kept row -> until of its longest duplicate in this call
    extend: dict[int, datetime] = {}  # stored decision id -> new until
    merged: set[int] = set()
    for i, item in enumerate(items if stored or not distinct else ()):
        if item.simulated:
            continue
        value = values[i]
        key = (item.scope, value, item.type, item.origin)
        kept = -1
        if key in stored:
            until = to_db(item.until)
            id_, current = stored[key]
            merged.add(i)
            if until > current:
                stored[key] = (id_, until)
                extend[id_] = until
            continue
        if distinct:
            continue
        until = to_db(item.until)
        j = first.get(value)
        if j is None:
            first[value] = i
            continue
        other = items[j]
        if (other.scope, other.type, other.origin) == (item.scope, item.type, item.origin):
            kept = j
        else:
            kept = first_other.setdefault(key, i)
            if kept == i:
                continue
        merged.add(i)
        if until > longest.get(kept, to_db(items[kept].until)):
            longest[kept] = until
    del first, first_other
    conn = connection_of(session)
    raw = sqlite_of(conn)
    step = _ROWS_STEP
    alert_ids = (alert_id for alert_id, ds in groups for _ in ds)  # in the order of ``items``
    for start in range(0, len(items), step):
        rows: list[dict[str, Any]] = []
        for i in range(start, min(start + step, len(items))):
            alert_id, item = next(alert_ids), items[i]
            ip = for_scope(item.scope, item.value)
            rows.append(
                {
                    "uuid": item.uuid or str(uuidlib.uuid4()),
                    "alert_id": alert_id,
                    "created_at": dbnow,
                    "until": longest.get(i) or to_db(item.until),
                    "scenario": item.scenario,
                    "type": item.type,
                    "scope": item.scope,
                    "value": values[i],
                    "origin": item.origin,
                    "simulated": item.simulated,
                    "state": MERGED if i in merged else ACTIVE,
                    "seq": seq,
                    "created_seq": seq,
                    "start_ip": ip.start_bytes if ip else None,
                    "end_ip": ip.end_bytes if ip else None,
                    "prefix": ip.prefix if ip else None,
                }
            )
        if raw is not None:
            _RAW_INSERT.run_many(raw, conn.dialect, rows)
        else:
            conn.execute(_INSERT, rows)
        del rows
    if extend:
        conn.execute(_EXTEND, [{"target": i, "new_until": u, "new_seq": seq} for i, u in extend.items()])


_CHANGES = (
    select(
        _DECISIONS.c.id,
        _DECISIONS.c.uuid,
        _DECISIONS.c.origin,
        _DECISIONS.c.type,
        _DECISIONS.c.scope,
        _DECISIONS.c.value,
        _DECISIONS.c.scenario,
        _DECISIONS.c.until,
        _DECISIONS.c.state,
        _DECISIONS.c.seq,
        _DECISIONS.c.created_seq,
        _DECISIONS.c.start_ip,
        _DECISIONS.c.end_ip,
        _DECISIONS.c.prefix,
    )
    .where(_DECISIONS.c.seq > bindparam("since"), _DECISIONS.c.simulated.is_(False))
    .order_by(_DECISIONS.c.seq, _DECISIONS.c.id)
)


_RAW_CHANGES = Prepared(lambda: _CHANGES)


def changes_since(session: Session | Connection, seq: int) -> PackedRecords:
    """Decisions whose last change is after ``seq``, in change order (simulated ones excluded),
    in the packed form the stream index keeps (a sequence of records, built on access)."""
    conn = connection_of(session)
    raw = sqlite_of(conn)
    rows: Any
    to_time = None
    if raw is not None:
        rows = _RAW_CHANGES.run(raw, conn.dialect, {"since": seq})
        to_time = _until_reader(conn)
    else:
        rows = conn.execute(_CHANGES, {"since": seq})
    out = PackedBuilder()
    add = out.add
    intern = sys.intern  # origins, types, scopes and scenarios repeat: one string each in memory
    last_until: Any = None
    until_at = datetime.min
    for (
        id_,
        uuid,
        origin,
        type_,
        scope,
        value,
        scenario,
        until,
        state,
        rseq,
        cseq,
        start,
        end,
        prefix,
    ) in rows:
        ip = (
            IpRange(int.from_bytes(start, "big"), int.from_bytes(end, "big"), prefix, value)
            if start is not None and end is not None and prefix is not None
            else None
        )
        if until != last_until:  # rows stored together share one until
            last_until, until_at = until, from_db(until if to_time is None else to_time(until))
        add(
            id_,
            uuid,
            intern(origin),
            intern(type_),
            intern(scope),
            value,
            intern(scenario),
            until_at,
            state,
            rseq,
            cseq,
            ip,
        )
    return out.records


def contains_clause(start: Any, end: Any, ip: IpRange) -> ColumnElement[bool]:
    """Rows whose CIDR block (``start``..``end``) contains ``ip``. Such a block starts at
    ``ip`` masked to the block's length, so this is one index probe per possible length
    (``start IN (...)``) instead of a range scan over every smaller start."""
    starts = sorted({(ip.start & mask(p)).to_bytes(16, "big") for p in range(ip.prefix + 1)})
    return and_(start.in_(starts), end >= ip.end_bytes)


def within_clause(start: Any, end: Any, ip: IpRange) -> ColumnElement[bool]:
    """Rows whose block lies inside ``ip`` (a bounded range scan on ``start``)."""
    return and_(start >= ip.start_bytes, start <= ip.end_bytes, end <= ip.end_bytes)


@dataclass
class DecisionQuery:
    """Filters of cscli's DELETE /v1/decisions (and of the alerts' decision sub-filters)."""

    scope: str | None = None
    value: str | None = None
    type: str | None = None
    origin: str | None = None
    scenario: str | None = None
    ip: IpRange | None = None
    contains: bool = True
    id: int | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.id is not None:
            out.append(Decision.id == self.id)
        if self.scope:
            out.append(func.lower(Decision.scope) == self.scope.lower())
        if self.value:
            out.append(Decision.value == self.value)
        if self.type:
            out.append(Decision.type == self.type)
        if self.origin:
            out.append(Decision.origin == self.origin)
        if self.scenario:
            out.append(Decision.scenario == self.scenario)
        if self.ip is not None:
            if self.contains:
                out.append(contains_clause(Decision.start_ip, Decision.end_ip, self.ip))
            else:
                out.append(within_clause(Decision.start_ip, Decision.end_ip, self.ip))
        return out


def soft_delete(session: Session, query: DecisionQuery, seq: int, now: datetime) -> int:
    """Mark matching live decisions deleted (with MERGED rows of the same key); returns the count."""
    cond = and_(Decision.state.in_(LIVE_STATES), Decision.until > to_db(now), *query.clauses())
    result = session.execute(
        update(Decision)
        .where(cond)
        .values(state=DELETED, seq=seq)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


def delete_for_alerts(session: Session, alert_ids: list[int], seq: int) -> None:
    if alert_ids:
        session.execute(
            update(Decision)
            .where(Decision.alert_id.in_(alert_ids), Decision.state.in_(LIVE_STATES))
            .values(state=DELETED, seq=seq)
            .execution_options(synchronize_session=False)
        )


def has_due(session: Session, now: datetime) -> bool:
    """Whether some live decision reached its ``until`` (index on state, until)."""
    dbnow = to_db(now)
    for state in LIVE_STATES:
        hit = session.execute(
            select(Decision.id).where(Decision.state == state, Decision.until <= dbnow).limit(1)
        ).first()
        if hit is not None:
            return True
    return False


def expire_due(session: Session, seq: int, now: datetime) -> int:
    result = session.execute(
        update(Decision)
        .where(Decision.state.in_(LIVE_STATES), Decision.until <= to_db(now))
        .values(state=EXPIRED, seq=seq)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_by_value(session: Session, value: str, since: datetime | None) -> int:
    cond = [Decision.value == value, Decision.state != MERGED]
    if since is not None:
        cond.append(Decision.created_at > to_db(since))
    return int(session.execute(select(func.count()).select_from(Decision).where(*cond)).scalar_one())


def active_by_value(session: Session, value: str, now: datetime) -> tuple[int, timedelta]:
    """(number of live decisions for ``value``, time left of the longest one)."""
    dbnow = to_db(now)
    count, last = session.execute(
        select(func.count(), func.max(Decision.until)).where(
            Decision.value == value, Decision.state == ACTIVE, Decision.until > dbnow
        )
    ).one()
    left = (from_db(last) - now) if last is not None else timedelta(0)
    return int(count), left
