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

from crowdwatch.lapi.decisions import DecisionRecord
from crowdwatch.lapi.iprange import IpRange, for_scope, mask
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
_INSERT = _DECISIONS.insert()


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
    session: Session, keys: set[tuple[str, str]], dbnow: datetime
) -> dict[tuple[str, str, str, str], tuple[int, datetime]]:
    """Live enforceable decisions for (scope, value) pairs: key -> (id, until), longest first.
    Only the (scope, value) index is offered to the database (state and until are checked
    here), so no query planner is tempted to walk every active decision instead."""
    found: dict[tuple[str, str, str, str], tuple[int, datetime]] = {}
    values = sorted({v for _, v in keys})
    scopes = sorted({s for s, _ in keys})
    conn = session.connection()
    for start in range(0, len(values), _CHUNK):
        rows = conn.execute(_LIVE_TARGETS, {"scopes": scopes, "values": values[start : start + _CHUNK]})
        for id_, scope, value, type_, origin, until, state, simulated in rows:
            if state != ACTIVE or simulated or until <= dbnow or (scope, value) not in keys:
                continue
            key = (scope, value, type_, origin)
            if key not in found or until > found[key][1]:
                found[key] = (id_, until)
    return found


def _stored_value(item: NewDecision) -> tuple[str, IpRange | None]:
    """The value as stored (canonical text for Ip/Range scopes) and its block, if any."""
    ip = for_scope(item.scope, item.value)
    return (ip.text if ip is not None and item.scope.lower() in ("ip", "range") else item.value), ip


def insert(session: Session, items: list[tuple[int | None, NewDecision]], seq: int, now: datetime) -> None:
    """Store decisions. An enforceable decision identical in (scope, value, type, origin) to a
    live one is stored as MERGED and extends the live one's ``until`` instead of piling up.

    Rows are built and inserted a chunk at a time (a 100k-decision import would otherwise hold
    ~90 MB of row dicts): a first pass settles which row of each key is kept."""
    dbnow = to_db(now)
    values = [_stored_value(item)[0] for _, item in items]
    stored = _live_targets(
        session, {(item.scope, v) for (_, item), v in zip(items, values) if not item.simulated}, dbnow
    )
    first: dict[tuple[str, str, str, str], int] = {}  # key -> index of the row kept
    longest: dict[int, datetime] = {}  # kept row -> until of its longest duplicate in this call
    extend: dict[int, datetime] = {}  # stored decision id -> new until
    merged: set[int] = set()
    for i, ((_, item), value) in enumerate(zip(items, values)):
        if item.simulated:
            continue
        key = (item.scope, value, item.type, item.origin)
        until = to_db(item.until)
        if key in stored:
            id_, current = stored[key]
            merged.add(i)
            if until > current:
                stored[key] = (id_, until)
                extend[id_] = until
        elif key in first:
            merged.add(i)
            kept = first[key]
            if until > longest.get(kept, to_db(items[kept][1].until)):
                longest[kept] = until
        else:
            first[key] = i
    del first
    conn = session.connection()
    step = _CHUNK * 10
    for start in range(0, len(items), step):
        rows: list[dict[str, Any]] = []
        for i in range(start, min(start + step, len(items))):
            alert_id, item = items[i]
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
        conn.execute(_INSERT, rows)
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


def changes_since(session: Session | Connection, seq: int) -> list[DecisionRecord]:
    """Decisions whose last change is after ``seq``, in change order (simulated ones excluded)."""
    rows = connection_of(session).execute(_CHANGES, {"since": seq})
    out = []
    intern = sys.intern  # origins, types, scopes and scenarios repeat: one string each in memory
    last_until: Any = None
    last_seq = last_cseq = -1
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
        if until != last_until:  # rows stored together share one datetime (and seq ints)
            last_until, until_at = until, from_db(until)
        if rseq == last_seq:
            rseq = last_seq
        last_seq = rseq
        if cseq == last_cseq:
            cseq = last_cseq
        last_cseq = cseq
        out.append(
            DecisionRecord(
                id_,
                uuid,
                intern(origin),
                intern(type_),
                intern(scope),
                value,
                intern(scenario),
                until_at,
                False,
                state,
                rseq,
                cseq,
                ip,
            )
        )
    return out


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
