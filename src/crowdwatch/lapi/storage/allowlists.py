"""Allowlists and their items (IP addresses and ranges, optionally expiring)."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdwatch.lapi.iprange import IpRange
from crowdwatch.lapi.storage.decisions import contains_clause
from crowdwatch.lapi.storage.machines import AlreadyExists
from crowdwatch.lapi.storage.tables import Allowlist, AllowlistItem
from crowdwatch.lapi.timefmt import format_time, from_db, to_db


def create(session: Session, name: str, description: str, now: datetime) -> None:
    session.add(
        Allowlist(
            name=name,
            allowlist_id=str(uuidlib.uuid4()),
            description=description,
            created_at=to_db(now),
            updated_at=to_db(now),
            from_console=False,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadyExists(name) from None


def get(session: Session, name: str) -> Allowlist | None:
    return session.execute(select(Allowlist).where(Allowlist.name == name)).scalar_one_or_none()


def remove(session: Session, name: str) -> bool:
    return bool(session.execute(delete(Allowlist).where(Allowlist.name == name)).rowcount)  # type: ignore[attr-defined]


@dataclass
class NewItem:
    value: IpRange
    description: str = ""
    expires_at: datetime | None = None


def add_items(session: Session, allowlist: Allowlist, items: list[NewItem], now: datetime) -> None:
    for it in items:
        session.add(
            AllowlistItem(
                allowlist_id=allowlist.id,
                value=it.value.text,
                description=it.description,
                created_at=to_db(now),
                expires_at=to_db(it.expires_at) if it.expires_at else None,
                start_ip=it.value.start_bytes,
                end_ip=it.value.end_bytes,
                prefix=it.value.prefix,
            )
        )
    allowlist.updated_at = to_db(now)
    session.flush()


def remove_items(session: Session, allowlist: Allowlist, values: list[str]) -> int:
    res = session.execute(
        delete(AllowlistItem).where(
            AllowlistItem.allowlist_id == allowlist.id, AllowlistItem.value.in_(values)
        )
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def _unexpired(now: datetime) -> Any:
    return or_(AllowlistItem.expires_at.is_(None), AllowlistItem.expires_at > to_db(now))


def matches(session: Session, target: IpRange, now: datetime) -> list[tuple[str, AllowlistItem]]:
    """(allowlist name, item) for every unexpired item containing ``target``."""
    rows = session.execute(
        select(Allowlist.name, AllowlistItem)
        .join(Allowlist, Allowlist.id == AllowlistItem.allowlist_id)
        .where(contains_clause(AllowlistItem.start_ip, AllowlistItem.end_ip, target), _unexpired(now))
        .order_by(AllowlistItem.id)
    ).all()
    return [(name, item) for name, item in rows]


def active_ranges(session: Session, now: datetime) -> tuple[list[tuple[str, IpRange]], datetime | None]:
    """Every unexpired item as (allowlist name, range), and when the first of them expires
    (``None``: never): alert batches check these in memory."""
    rows = session.execute(
        select(
            Allowlist.name,
            AllowlistItem.start_ip,
            AllowlistItem.end_ip,
            AllowlistItem.prefix,
            AllowlistItem.value,
            AllowlistItem.expires_at,
        )
        .join(Allowlist, Allowlist.id == AllowlistItem.allowlist_id)
        .where(_unexpired(now))
    ).all()
    ends = [from_db(e) for *_, e in rows if e is not None]
    ranges = [
        (name, IpRange(int.from_bytes(start, "big"), int.from_bytes(end, "big"), prefix, value))
        for name, start, end, prefix, value, _ in rows
    ]
    return ranges, min(ends) if ends else None


def to_dict(al: Allowlist, items: list[AllowlistItem] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": al.name,
        "allowlist_id": al.allowlist_id,
        "description": al.description,
        "created_at": format_time(from_db(al.created_at)),
        "updated_at": format_time(from_db(al.updated_at)),
        "console_managed": al.from_console,
    }
    if items is not None:
        out["items"] = [
            {
                "value": it.value,
                "description": it.description,
                "created_at": format_time(from_db(it.created_at)),
                **({"expiration": format_time(from_db(it.expires_at))} if it.expires_at else {}),
            }
            for it in items
        ]
    return out


def list_all(session: Session, with_items: bool) -> list[dict[str, Any]]:
    lists = list(session.execute(select(Allowlist).order_by(Allowlist.id)).scalars())
    return [to_dict(al, items_of(session, al) if with_items else None) for al in lists]


def items_of(session: Session, al: Allowlist) -> list[AllowlistItem]:
    return list(
        session.execute(
            select(AllowlistItem).where(AllowlistItem.allowlist_id == al.id).order_by(AllowlistItem.id)
        ).scalars()
    )
