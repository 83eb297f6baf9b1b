"""Machines (agents and cscli) and bouncers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Connection, Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdwatch.lapi.storage.tables import Bouncer, Machine, Setting, UsageMetric
from crowdwatch.lapi.timefmt import to_db

CREDENTIALS_KEY = "credentials_generation"
"""``lapi_settings`` row changed whenever a machine or bouncer loses its access: every LAPI
process on the database watches it and drops its cached keys and machines when it changes."""

_SETTINGS = cast(Table, Setting.__table__)
_READ_GENERATION = select(_SETTINGS.c.value).where(_SETTINGS.c.key == CREDENTIALS_KEY)


class AlreadyExists(Exception):
    pass


def bump_credentials(session: Session) -> None:
    """Record, in the caller's transaction, that credentials were withdrawn (a new random
    generation: concurrent writers never produce the value a watcher already saw)."""
    conn = session.connection()
    value = secrets.token_hex(8)
    res = conn.execute(_SETTINGS.update().where(_SETTINGS.c.key == CREDENTIALS_KEY).values(value=value))
    if not res.rowcount:  # a database created before migration 0003 seeded the row
        conn.execute(_SETTINGS.insert().values(key=CREDENTIALS_KEY, value=value))


def credentials_generation(conn: Connection) -> str:
    """The current credentials generation ("" before the first withdrawal)."""
    return str(conn.execute(_READ_GENERATION).scalar_one_or_none() or "")


def add_machine(
    session: Session,
    machine_id: str,
    password_hash: str,
    ip: str,
    validated: bool,
    now: datetime,
    auth_type: str = "password",
) -> None:
    session.add(
        Machine(
            machine_id=machine_id,
            password_hash=password_hash,
            ip_address=ip,
            created_at=to_db(now),
            updated_at=to_db(now),
            is_validated=validated,
            scenarios="",
            version="",
            auth_type=auth_type,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadyExists(machine_id) from None


def get_machine(session: Session, machine_id: str) -> Machine | None:
    return session.execute(select(Machine).where(Machine.machine_id == machine_id)).scalar_one_or_none()


def list_machines(session: Session) -> list[Machine]:
    return list(session.execute(select(Machine).order_by(Machine.id)).scalars())


def delete_machine(session: Session, machine_id: str) -> bool:
    res = session.execute(delete(Machine).where(Machine.machine_id == machine_id))
    if not res.rowcount:  # type: ignore[attr-defined]
        return False
    _forget_usage(session, "LP", machine_id)
    bump_credentials(session)
    return True


def prune_machines(session: Session, before: datetime, not_validated: bool) -> list[str]:
    """Delete machines silent since ``before`` (no heartbeat, or none ever and created before it),
    or every unvalidated one when ``not_validated``; their ids."""
    t = to_db(before)
    cond: ColumnElement[bool]
    if not_validated:
        cond = Machine.is_validated.is_(False)
    else:
        cond = or_(Machine.last_heartbeat < t, and_(Machine.last_heartbeat.is_(None), Machine.created_at < t))
    names = list(session.execute(select(Machine.machine_id).where(cond).order_by(Machine.id)).scalars())
    if names:
        session.execute(delete(Machine).where(Machine.machine_id.in_(names)))
        bump_credentials(session)
    return names


_MACHINES = cast(Table, Machine.__table__)
_RECORD_PUSH = (
    _MACHINES.update()
    .where(_MACHINES.c.machine_id.in_(bindparam("ids", expanding=True)))
    .values(last_push=bindparam("pushed"))
)


def record_push(session: Session | Connection, machine_ids: set[str], now: datetime) -> None:
    if machine_ids:
        conn = session if isinstance(session, Connection) else session.connection()
        conn.execute(_RECORD_PUSH, {"ids": sorted(machine_ids), "pushed": to_db(now)})


def validate_machine(session: Session, machine_id: str) -> bool:
    res = session.execute(update(Machine).where(Machine.machine_id == machine_id).values(is_validated=True))
    return bool(res.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BouncerInfo:
    """What authentication needs to know about a bouncer (cached by the server)."""

    id: int
    name: str
    revoked: bool
    last_seq: int


def add_bouncer(
    session: Session, name: str, key_hash: str, now: datetime, auth_type: str = "api-key"
) -> None:
    session.add(
        Bouncer(
            name=name,
            key_hash=key_hash,
            created_at=to_db(now),
            updated_at=to_db(now),
            ip_address="",
            type="",
            version="",
            last_seq=0,
            revoked=False,
            auth_type=auth_type,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadyExists(name) from None


def bouncer_by_hash(session: Session, key_hash: str) -> BouncerInfo | None:
    row = session.execute(select(Bouncer).where(Bouncer.key_hash == key_hash)).scalar_one_or_none()
    return BouncerInfo(row.id, row.name, row.revoked, row.last_seq) if row else None


def bouncer_by_name(session: Session, name: str) -> BouncerInfo | None:
    row = session.execute(select(Bouncer).where(Bouncer.name == name)).scalar_one_or_none()
    return BouncerInfo(row.id, row.name, row.revoked, row.last_seq) if row else None


def bouncer_cursor(session: Session, bouncer_id: int) -> int | None:
    value = session.execute(select(Bouncer.last_seq).where(Bouncer.id == bouncer_id)).scalar_one_or_none()
    return int(value) if value else None


def list_bouncers(session: Session) -> list[Bouncer]:
    return list(session.execute(select(Bouncer).order_by(Bouncer.id)).scalars())


def delete_bouncer(session: Session, name: str) -> bool:
    res = session.execute(delete(Bouncer).where(Bouncer.name == name))
    if not res.rowcount:  # type: ignore[attr-defined]
        return False
    _forget_usage(session, "RC", name)
    bump_credentials(session)
    return True


def _forget_usage(session: Session, kind: str, name: str) -> None:
    """Usage metrics reports of a deleted component (``lapi.usage``)."""
    session.execute(
        delete(UsageMetric).where(UsageMetric.generated_type == kind, UsageMetric.generated_by == name)
    )


def revoke_bouncer(session: Session, name: str) -> bool:
    """Keep the bouncer but refuse its key from now on."""
    res = session.execute(update(Bouncer).where(Bouncer.name == name).values(revoked=True))
    if not res.rowcount:  # type: ignore[attr-defined]
        return False
    bump_credentials(session)
    return True


def get_bouncer(session: Session, name: str) -> Bouncer | None:
    return session.execute(select(Bouncer).where(Bouncer.name == name)).scalar_one_or_none()


def prune_bouncers(session: Session, before: datetime) -> list[str]:
    """Delete bouncers that have not pulled since ``before`` (or never, created before it)."""
    t = to_db(before)
    cond = or_(Bouncer.last_pull < t, and_(Bouncer.last_pull.is_(None), Bouncer.created_at < t))
    names = list(session.execute(select(Bouncer.name).where(cond).order_by(Bouncer.id)).scalars())
    if names:
        session.execute(delete(Bouncer).where(Bouncer.name.in_(names)))
        bump_credentials(session)
    return names


@dataclass
class BouncerSeen:
    """A bouncer's latest poll, written back in batches."""

    last_pull: datetime
    last_seq: int | None
    ip: str
    user_agent: str


def record_pulls(session: Session, seen: dict[int, BouncerSeen]) -> None:
    for bid, s in seen.items():
        ua_type, _, ua_version = s.user_agent.partition("/")
        values: dict[str, object] = {"last_pull": to_db(s.last_pull), "ip_address": s.ip[:64]}
        if s.last_seq is not None:
            values["last_seq"] = s.last_seq
        if ua_type:
            values["type"] = ua_type[:255]
            values["version"] = ua_version[:255]
        session.execute(update(Bouncer).where(Bouncer.id == bid).values(**values))
