"""Alert queries: insertion, search with CrowdSec's filters, wire form, deletion."""

from __future__ import annotations

import uuid as uuidlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, Connection, Table, bindparam, delete, exists, func, select
from sqlalchemy.orm import Session

from crowdwatch.lapi.alerts import AlertIn
from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.iprange import IpRange, for_scope
from crowdwatch.lapi.storage.decisions import LIVE_STATES, contains_clause, delete_for_alerts, within_clause
from crowdwatch.lapi.storage.engine import Prepared, sqlite_of
from crowdwatch.lapi.storage.sequence import connection_of
from crowdwatch.lapi.storage.tables import Alert, Decision
from crowdwatch.lapi.timefmt import format_duration, format_time, from_db, to_db


def _row(machine_id: str, alert: AlertIn, now: datetime, uuid: str | None = None) -> dict[str, Any]:
    src = alert.source
    ip = for_scope(src.scope, src.value)
    return {
        "uuid": uuid or str(uuidlib.uuid4()),
        "machine_id": machine_id,
        "created_at": to_db(now),
        "scenario": alert.scenario,
        "scenario_hash": alert.scenario_hash,
        "scenario_version": alert.scenario_version,
        "message": alert.message,
        "events_count": alert.events_count,
        "start_at": to_db(alert.start_at),
        "stop_at": to_db(alert.stop_at),
        "capacity": alert.capacity,
        "leakspeed": alert.leakspeed,
        "simulated": alert.simulated,
        "remediation": alert.remediation,
        "kind": alert.kind,
        "source_scope": src.scope,
        "source_value": src.value,
        "source_ip": src.ip,
        "source_range": src.range,
        "source_as_number": src.as_number,
        "source_as_name": src.as_name,
        "source_country": src.cn,
        "source_latitude": src.latitude,
        "source_longitude": src.longitude,
        "source_start": ip.start_bytes if ip else None,
        "source_end": ip.end_bytes if ip else None,
        "source_prefix": ip.prefix if ip else None,
        "labels": orjson.dumps(alert.labels).decode(),
        "events": orjson.dumps(alert.events).decode(),
        "meta": orjson.dumps(alert.meta).decode(),
    }


_ALERTS = cast(Table, Alert.__table__)
_COLUMNS = [
    "uuid",
    "machine_id",
    "created_at",
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
    "remediation",
    "kind",
    "source_scope",
    "source_value",
    "source_ip",
    "source_range",
    "source_as_number",
    "source_as_name",
    "source_country",
    "source_latitude",
    "source_longitude",
    "source_start",
    "source_end",
    "source_prefix",
    "labels",
    "events",
    "meta",
]  # the keys of _row
_RAW_INSERT = Prepared(lambda: _ALERTS.insert().values({c: bindparam(c) for c in _COLUMNS}))


def insert_many(
    session: Session | Connection, alerts: list[tuple[str, AlertIn]], now: datetime
) -> tuple[list[int], list[bool]]:
    """Store alerts of (machine_id, alert): their ids in the same order, and whether each is new.

    An alert bearing the uuid of one its machine already stored (or sent earlier in the same
    call) is a resend — the agent did not get the answer — and is not stored again: its id is
    the stored one, flagged not new. New rows go in one statement where the database can
    return ids of a multi-row insert in order (SQLite, PostgreSQL, MariaDB)."""
    if not alerts:
        return [], []
    stored = _stored_uuids(session, [a.uuid for _, a in alerts if a.uuid])
    ids: list[int] = [0] * len(alerts)
    fresh: list[int] = []  # indexes of the alerts to insert
    first: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of its first occurrence in this call)
    for i, (machine_id, alert) in enumerate(alerts):
        if alert.uuid:
            key = (machine_id, alert.uuid)
            if key in stored:
                ids[i] = stored[key]
                continue
            if key in first:
                repeats.append((i, first[key]))
                continue
            first[key] = i
        fresh.append(i)
    taken = {u for _, u in stored}  # another machine's uuid: this alert gets its own
    rows = [
        _row(m, a, now, a.uuid if a.uuid and a.uuid not in taken else None)
        for m, a in (alerts[i] for i in fresh)
    ]
    for i, new_id in zip(fresh, _insert_rows(session, rows)):
        ids[i] = new_id
    for i, j in repeats:
        ids[i] = ids[j]
    new = [False] * len(alerts)
    for i in fresh:
        new[i] = True
    return ids, new


def _stored_uuids(session: Session | Connection, uuids: list[str]) -> dict[tuple[str, str], int]:
    """(machine_id, uuid) -> id of the stored alerts bearing one of ``uuids`` (index lookup)."""
    found: dict[tuple[str, str], int] = {}
    wanted = sorted(set(uuids))
    for start in range(0, len(wanted), 500):
        stmt = select(Alert.machine_id, Alert.uuid, Alert.id).where(
            Alert.uuid.in_(wanted[start : start + 500])
        )
        for machine_id, uuid, alert_id in session.execute(stmt):
            found.setdefault((machine_id, uuid), int(alert_id))
    return found


def _insert_rows(session: Session | Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    conn = connection_of(session)
    raw = sqlite_of(conn)
    if raw is not None:  # one statement per row: SQLite's lastrowid costs less than RETURNING batches
        return [int(_RAW_INSERT.run(raw, conn.dialect, row).lastrowid or 0) for row in rows]
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        stmt = _ALERTS.insert().returning(_ALERTS.c.id, sort_by_parameter_order=True)
        return [int(r[0]) for r in conn.execute(stmt, rows)]
    return [int(conn.execute(_ALERTS.insert(), row).inserted_primary_key[0]) for row in rows]  # type: ignore[index]


@dataclass
class AlertQuery:
    """GET/DELETE /v1/alerts filters (``None`` = unconstrained)."""

    id: int | None = None
    scope: str | None = None
    value: str | None = None
    scenario: str | None = None
    ip: IpRange | None = None
    contains: bool = True
    since: datetime | None = None
    until: datetime | None = None
    include_simulated: bool = True
    has_active_decision: bool | None = None
    decision_type: str | None = None
    origin: str | None = None
    limit: int = 0

    def clauses(self, now: datetime) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.id is not None:
            out.append(Alert.id == self.id)
        if self.scope:
            out.append(Alert.source_scope == normalize_scope(self.scope))
        if self.value:
            out.append(Alert.source_value == self.value)
        if self.scenario:
            out.append(Alert.scenario == self.scenario)
        if self.ip is not None:
            if self.contains:
                out.append(contains_clause(Alert.source_start, Alert.source_end, self.ip))
            else:
                out.append(within_clause(Alert.source_start, Alert.source_end, self.ip))
        if self.since is not None:
            out.append(Alert.created_at >= to_db(self.since))
        if self.until is not None:
            out.append(Alert.created_at <= to_db(self.until))
        if not self.include_simulated:
            out.append(Alert.simulated.is_(False))
        sub: list[ColumnElement[bool]] = []
        if self.decision_type:
            sub.append(Decision.type == self.decision_type)
        if self.origin:
            sub.append(Decision.origin == self.origin)
        if self.has_active_decision:
            sub += [Decision.state.in_(LIVE_STATES), Decision.until > to_db(now)]
        if sub:
            out.append(exists().where(Decision.alert_id == Alert.id, *sub))
        if self.has_active_decision is False:
            out.append(
                ~exists().where(
                    Decision.alert_id == Alert.id,
                    Decision.state.in_(LIVE_STATES),
                    Decision.until > to_db(now),
                )
            )
        return out


def _decision_dict(d: Decision, now: datetime) -> dict[str, Any]:
    until = from_db(d.until)
    if d.state not in LIVE_STATES and until > now:
        until = now  # deleted early: shown as expired, as CrowdSec's soft delete does
    return {
        "id": d.id,
        "uuid": d.uuid,
        "origin": d.origin,
        "type": d.type,
        "scope": d.scope,
        "value": d.value,
        "duration": format_duration(until - now),
        "until": format_time(until),
        "scenario": d.scenario,
        "simulated": d.simulated,
    }


def to_dict(a: Alert, decisions: list[Decision], now: datetime) -> dict[str, Any]:
    return {
        "id": a.id,
        "uuid": a.uuid,
        "machine_id": a.machine_id,
        "created_at": format_time(from_db(a.created_at)),
        "scenario": a.scenario,
        "scenario_hash": a.scenario_hash,
        "scenario_version": a.scenario_version,
        "message": a.message,
        "events_count": a.events_count,
        "start_at": format_time(from_db(a.start_at)),
        "stop_at": format_time(from_db(a.stop_at)),
        "capacity": a.capacity,
        "leakspeed": a.leakspeed,
        "simulated": a.simulated,
        "remediation": a.remediation,
        "kind": a.kind,
        "source": {
            "scope": a.source_scope,
            "value": a.source_value,
            "ip": a.source_ip,
            "range": a.source_range,
            "as_number": a.source_as_number,
            "as_name": a.source_as_name,
            "cn": a.source_country,
            "latitude": a.source_latitude,
            "longitude": a.source_longitude,
        },
        "events": orjson.loads(a.events),
        "meta": orjson.loads(a.meta),
        "labels": orjson.loads(a.labels),
        "decisions": [_decision_dict(d, now) for d in decisions],
    }


def search(session: Session, query: AlertQuery, now: datetime) -> list[dict[str, Any]]:
    stmt = select(Alert).where(*query.clauses(now)).order_by(Alert.id.desc())
    if query.limit > 0:
        stmt = stmt.limit(query.limit)
    alerts = list(session.execute(stmt).scalars())
    by_alert: dict[int, list[Decision]] = defaultdict(list)
    ids = [a.id for a in alerts]
    for start in range(0, len(ids), 500):
        cond: list[ColumnElement[bool]] = [Decision.alert_id.in_(ids[start : start + 500])]
        if query.has_active_decision:
            cond += [Decision.state.in_(LIVE_STATES), Decision.until > to_db(now)]
        for d in session.execute(select(Decision).where(*cond).order_by(Decision.id)).scalars():
            by_alert[d.alert_id or 0].append(d)
    return [to_dict(a, by_alert[a.id], now) for a in alerts]


def delete_matching(session: Session, query: AlertQuery, seq: int, now: datetime) -> int:
    """Delete alerts; their live decisions are marked deleted first (so bouncers hear of it)."""
    ids = list(session.execute(select(Alert.id).where(*query.clauses(now))).scalars())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        delete_for_alerts(session, chunk, seq)
        session.execute(delete(Alert).where(Alert.id.in_(chunk)).execution_options(synchronize_session=False))
    return len(ids)


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Alert)).scalar_one())
