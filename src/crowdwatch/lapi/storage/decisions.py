"""Decision queries: insertion with merging, soft deletion, expiry, change feed, counts.

A decision is never deleted while a bouncer may still need to hear about it: deletion and
expiry set ``state`` and take a new ``seq``, which is what the stream index follows.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, tuple_, update
from sqlalchemy.orm import Session

from crowdwatch.lapi.decisions import DecisionRecord
from crowdwatch.lapi.iprange import IpRange, for_scope, mask
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED, EXPIRED, MERGED, Decision
from crowdwatch.lapi.timefmt import from_db, to_db

LIVE_STATES = (ACTIVE, MERGED)


@dataclass
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


def _ip_of(row: Decision) -> IpRange | None:
    if row.start_ip is None or row.end_ip is None or row.prefix is None:
        return None
    return IpRange(
        int.from_bytes(row.start_ip, "big"), int.from_bytes(row.end_ip, "big"), row.prefix, row.value
    )


def record_of(row: Decision) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        uuid=row.uuid,
        origin=row.origin,
        type=row.type,
        scope=row.scope,
        value=row.value,
        scenario=row.scenario,
        until=from_db(row.until),
        simulated=row.simulated,
        state=row.state,
        seq=row.seq,
        created_seq=row.created_seq,
        ip=_ip_of(row),
    )


def insert(session: Session, alert_id: int | None, items: list[NewDecision], seq: int, now: datetime) -> None:
    """Store decisions. An enforceable decision identical in (scope, value, type, origin) to a
    live one is stored as MERGED and extends the live one's ``until`` instead of piling up."""
    dbnow = to_db(now)
    live: dict[tuple[str, str, str, str], Decision] = {}
    for item in items:
        ip = for_scope(item.scope, item.value)
        row = Decision(
            uuid=item.uuid or str(uuidlib.uuid4()),
            alert_id=alert_id,
            created_at=dbnow,
            until=to_db(item.until),
            scenario=item.scenario,
            type=item.type,
            scope=item.scope,
            value=ip.text if ip is not None and item.scope.lower() in ("ip", "range") else item.value,
            origin=item.origin,
            simulated=item.simulated,
            state=ACTIVE,
            seq=seq,
            created_seq=seq,
            start_ip=ip.start_bytes if ip else None,
            end_ip=ip.end_bytes if ip else None,
            prefix=ip.prefix if ip else None,
        )
        if not item.simulated:
            key = (row.scope, row.value, row.type, row.origin)
            target = live.get(key)
            if target is None:
                target = session.execute(
                    select(Decision)
                    .where(
                        Decision.scope == row.scope,
                        Decision.value == row.value,
                        Decision.type == row.type,
                        Decision.origin == row.origin,
                        Decision.state == ACTIVE,
                        Decision.simulated.is_(False),
                        Decision.until > dbnow,
                    )
                    .order_by(Decision.until.desc())
                    .limit(1)
                ).scalar_one_or_none()
            if target is not None:
                row.state = MERGED
                if row.until > target.until:
                    target.until = row.until
                    target.seq = seq
            else:
                live[key] = row
        session.add(row)
    session.flush()


def changes_since(session: Session, seq: int) -> list[DecisionRecord]:
    """Decisions whose last change is after ``seq``, in change order (simulated ones excluded)."""
    rows = session.execute(
        select(Decision)
        .where(Decision.seq > seq, Decision.simulated.is_(False))
        .order_by(Decision.seq, Decision.id)
    ).scalars()
    return [record_of(r) for r in rows]


def contains_clause(start: Any, prefix: Any, ip: IpRange) -> ColumnElement[bool]:
    """Rows whose CIDR block (``start``, ``prefix``) contains ``ip``: one index probe per
    candidate prefix length instead of a range scan."""
    keys = [(p, (ip.start & mask(p)).to_bytes(16, "big")) for p in range(ip.prefix + 1)]
    return tuple_(prefix, start).in_(keys)


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
                out.append(contains_clause(Decision.start_ip, Decision.prefix, self.ip))
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
