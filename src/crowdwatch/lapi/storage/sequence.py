"""The change sequence and shared settings."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crowdwatch.lapi.storage.tables import Sequence, Setting


def next_seq(session: Session) -> int:
    """Take the next change number. The row stays locked until the transaction ends, so
    transactions publish their numbers in increasing order (no reader ever sees ``n+1``
    before ``n``)."""
    session.execute(update(Sequence).where(Sequence.id == 1).values(value=Sequence.value + 1))
    return int(session.execute(select(Sequence.value).where(Sequence.id == 1)).scalar_one())


def current_seq(session: Session) -> int:
    return int(session.execute(select(Sequence.value).where(Sequence.id == 1)).scalar_one())


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
