"""Retention: flush old alerts (never one with a live decision), purge decision rows nobody
needs any more, delete inactive bouncers and machines, give SQLite its space back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, text
from sqlalchemy.orm import Session

from crowdwatch.lapi.storage.decisions import LIVE_STATES
from crowdwatch.lapi.storage.machines import bump_credentials
from crowdwatch.lapi.storage.tables import Alert, Bouncer, Decision, Machine
from crowdwatch.lapi.timefmt import to_db

DECISION_KEEP = timedelta(hours=1)
"""How long a finished decision without an alert stays, so that every LAPI process sees it go."""


@dataclass(frozen=True)
class RetentionPolicy:
    max_items: int = 0
    max_age: timedelta | None = None
    bouncer_api_key: timedelta | None = None
    bouncer_cert: timedelta | None = None
    agent_password: timedelta | None = None
    agent_cert: timedelta | None = None


@dataclass
class FlushReport:
    alerts: int = 0
    decisions: int = 0
    bouncers: int = 0
    machines: int = 0


def _unprotected(now: datetime) -> ColumnElement[bool]:
    """Alerts without a live decision."""
    return ~exists().where(
        Decision.alert_id == Alert.id, Decision.state.in_(LIVE_STATES), Decision.until > to_db(now)
    )


def _delete_alerts(session: Session, ids: list[int]) -> int:
    for start in range(0, len(ids), 500):
        session.execute(delete(Alert).where(Alert.id.in_(ids[start : start + 500])))
    return len(ids)


def flush(session: Session, policy: RetentionPolicy, now: datetime) -> FlushReport:
    rep = FlushReport()
    if policy.max_age is not None:
        ids = session.execute(
            select(Alert.id).where(Alert.created_at < to_db(now - policy.max_age), _unprotected(now))
        ).scalars()
        rep.alerts += _delete_alerts(session, list(ids))
    if policy.max_items > 0:
        # the newest max_items alerts stay; older ones go unless a live decision protects them
        threshold = session.execute(
            select(Alert.id).order_by(Alert.id.desc()).offset(policy.max_items - 1).limit(1)
        ).scalar_one_or_none()
        if threshold is not None:
            ids = session.execute(select(Alert.id).where(Alert.id < threshold, _unprotected(now))).scalars()
            rep.alerts += _delete_alerts(session, list(ids))
    horizon = to_db(now - DECISION_KEEP)
    res = session.execute(
        delete(Decision).where(
            Decision.alert_id.is_(None),
            or_(Decision.state.not_in(LIVE_STATES), Decision.until < to_db(now)),
            Decision.until < horizon,
        )
    )
    rep.decisions = int(res.rowcount or 0)  # type: ignore[attr-defined]
    rep.bouncers = _inactive(session, Bouncer, Bouncer.last_pull, policy.bouncer_api_key, "api-key", now)
    rep.bouncers += _inactive(session, Bouncer, Bouncer.last_pull, policy.bouncer_cert, "tls", now)
    rep.machines = _inactive(session, Machine, Machine.last_heartbeat, policy.agent_password, "password", now)
    rep.machines += _inactive(session, Machine, Machine.last_heartbeat, policy.agent_cert, "tls", now)
    return rep


def _inactive(
    session: Session,
    table: type[Bouncer] | type[Machine],
    seen: Any,
    after: timedelta | None,
    auth: str,
    now: datetime,
) -> int:
    """Delete rows of ``auth`` type not seen (or, never seen, not updated) for ``after``."""
    if after is None:
        return 0
    limit = to_db(now - after)
    last = func.coalesce(seen, table.updated_at)
    cond = and_(table.auth_type == auth, last < limit)
    n = int(session.execute(delete(table).where(cond)).rowcount or 0)  # type: ignore[attr-defined]
    if n:
        bump_credentials(session)  # other LAPI processes drop these credentials from their caches
    return n


def table_growth_marker(session: Session) -> int:
    """A cheap size measure (ids are never reused): the highest decision plus alert id."""
    d = session.execute(select(func.max(Decision.id))).scalar_one_or_none() or 0
    a = session.execute(select(func.max(Alert.id))).scalar_one_or_none() or 0
    return int(d) + int(a)


def analyze_sqlite(session: Session) -> None:
    """Refresh SQLite's planner statistics: without them it prefers the (state, until) index
    over the far more selective IP and value indexes once the tables grow."""
    session.execute(text("ANALYZE"))


def reclaim_sqlite(session: Session) -> None:
    """Give freed pages back to the file system (the database is created with incremental auto-vacuum).
    ``cursor.execute`` steps the pragma once, which frees a single page: ``executescript`` runs
    it to completion (it commits first, so this is called in a transaction of its own)."""
    session.connection().connection.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]
