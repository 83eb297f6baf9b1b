"""The change sequence and shared settings."""

from __future__ import annotations

import secrets
from typing import cast

from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session

from crowdwatch.lapi.storage.engine import Prepared, sqlite_of
from crowdwatch.lapi.storage.tables import Sequence, Setting

# Built once: these run in every write transaction (Core on the session's connection costs a
# fifth of an ORM statement built per call).
_SEQ = cast(Table, Sequence.__table__)
_BUMP = _SEQ.update().where(_SEQ.c.id == 1).values(value=_SEQ.c.value + 1)
_BUMP_RETURNING = _BUMP.returning(_SEQ.c.value)
_READ = _SEQ.select().with_only_columns(_SEQ.c.value).where(_SEQ.c.id == 1)
_RETURNING_DIALECTS = ("sqlite", "postgresql")  # UPDATE ... RETURNING (not MySQL/MariaDB)
_RAW_BUMP = Prepared(lambda: _BUMP_RETURNING)
_RAW_READ = Prepared(lambda: _READ)


def next_seq(session: Session | Connection) -> int:
    """Take the next change number. The row stays locked until the transaction ends, so
    transactions publish their numbers in increasing order (no reader ever sees ``n+1``
    before ``n``)."""
    conn = connection_of(session)
    raw = sqlite_of(conn)
    if raw is not None:
        return int(_RAW_BUMP.run(raw, conn.dialect, {}).fetchone()[0])
    if conn.dialect.name in _RETURNING_DIALECTS:
        return int(conn.execute(_BUMP_RETURNING).scalar_one())
    conn.execute(_BUMP)
    return int(conn.execute(_READ).scalar_one())


def connection_of(session: Session | Connection) -> Connection:
    """The connection under a session (hot queries run Core statements on it directly)."""
    return session if isinstance(session, Connection) else session.connection()


def current_seq(session: Session | Connection) -> int:
    conn = connection_of(session)
    raw = sqlite_of(conn)
    if raw is not None:
        return int(_RAW_READ.run(raw, conn.dialect, {}).fetchone()[0])
    return int(conn.execute(_READ).scalar_one())


def shared_secret(session: Session, key: str) -> str:
    """A random secret stored once in the database, so that every LAPI process on it agrees."""
    row = session.get(Setting, key)
    if row is not None:
        return row.value
    session.add(Setting(key=key, value=secrets.token_hex(32)))
    try:
        session.commit()
    except Exception:  # another process created it first
        session.rollback()
    return session.get(Setting, key).value  # type: ignore[union-attr]
