"""SQLAlchemy 2 models of the LAPI database (the schema the Alembic migrations create).

Conventions: times are naive UTC ``DATETIME`` (microseconds on MySQL); IP values of scope
Ip/Range carry ``start_ip``/``end_ip`` (16 sortable bytes, see ``lapi.iprange``) and
``prefix`` so containment is an index lookup; ``seq`` is the change sequence that drives the
decision stream (see ``storage.decisions``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 16-byte address: BYTEA/BLOB, but VARBINARY on MySQL (indexable without a prefix length).
IpBytes = LargeBinary(16).with_variant(mysql.VARBINARY(16), "mysql", "mariadb")
# Microsecond precision on MySQL (its DATETIME default is whole seconds).
Time = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# Long text (JSON documents): TEXT is 64 KiB on MySQL.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

NAME_LEN = 255
"""Longest machine/bouncer name, scenario, scope, value, type, origin (indexed columns)."""

# decisions.state
ACTIVE = 0
DELETED = 1
EXPIRED = 2
MERGED = 3  # folded into an identical active decision (which got the later ``until``)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Key/value settings shared by every LAPI process on the database (e.g. the JWT secret)."""

    __tablename__ = "lapi_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Sequence(Base):
    """One row: the last change sequence number. Taking the next number locks the row until
    commit, so sequence numbers become visible in increasing order."""

    __tablename__ = "lapi_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class Machine(Base):
    __tablename__ = "machines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    machine_id: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(Time)
    last_push: Mapped[datetime | None] = mapped_column(Time, nullable=True)
    last_heartbeat: Mapped[datetime | None] = mapped_column(Time, nullable=True)
    scenarios: Mapped[str] = mapped_column(LongText, default="")
    version: Mapped[str] = mapped_column(String(255), default="")
    is_validated: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_type: Mapped[str] = mapped_column(String(32), default="password")


class Bouncer(Base):
    __tablename__ = "bouncers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    type: Mapped[str] = mapped_column(String(255), default="")
    version: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(Time)
    last_pull: Mapped[datetime | None] = mapped_column(Time, nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_type: Mapped[str] = mapped_column(String(32), default="api-key")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_source", "source_scope", "source_value"),
        Index("ix_alerts_source_ip", "source_start", "source_prefix"),
        {"sqlite_autoincrement": True},  # ids are never reused, even after deletions
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), index=True)  # the agent's, when it sent one
    machine_id: Mapped[str] = mapped_column(String(NAME_LEN), index=True, default="")
    created_at: Mapped[datetime] = mapped_column(Time, index=True)
    scenario: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    scenario_hash: Mapped[str] = mapped_column(String(255), default="")
    scenario_version: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(LongText, default="")
    events_count: Mapped[int] = mapped_column(Integer, default=0)
    start_at: Mapped[datetime] = mapped_column(Time)
    stop_at: Mapped[datetime] = mapped_column(Time)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    leakspeed: Mapped[str] = mapped_column(String(64), default="")
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    remediation: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(64), default="")
    source_scope: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    source_value: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    source_range: Mapped[str] = mapped_column(String(64), default="")
    source_as_number: Mapped[str] = mapped_column(String(64), default="")
    source_as_name: Mapped[str] = mapped_column(String(255), default="")
    source_country: Mapped[str] = mapped_column(String(64), default="")
    source_latitude: Mapped[float] = mapped_column(Float, default=0.0)
    source_longitude: Mapped[float] = mapped_column(Float, default=0.0)
    source_start: Mapped[bytes | None] = mapped_column(IpBytes, nullable=True)
    source_end: Mapped[bytes | None] = mapped_column(IpBytes, nullable=True)
    source_prefix: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    labels: Mapped[str] = mapped_column(LongText, default="null")
    events: Mapped[str] = mapped_column(LongText, default="[]")
    meta: Mapped[str] = mapped_column(LongText, default="[]")


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_value", "scope", "value"),
        Index("ix_decisions_ip", "start_ip", "prefix"),
        Index("ix_decisions_state_until", "state", "until"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36))
    alert_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Time)
    until: Mapped[datetime] = mapped_column(Time)
    scenario: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    type: Mapped[str] = mapped_column(String(NAME_LEN))
    scope: Mapped[str] = mapped_column(String(NAME_LEN))
    value: Mapped[str] = mapped_column(String(NAME_LEN))
    origin: Mapped[str] = mapped_column(String(NAME_LEN))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[int] = mapped_column(SmallInteger, default=ACTIVE)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    created_seq: Mapped[int] = mapped_column(BigInteger)
    start_ip: Mapped[bytes | None] = mapped_column(IpBytes, nullable=True)
    end_ip: Mapped[bytes | None] = mapped_column(IpBytes, nullable=True)
    prefix: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)


class Allowlist(Base):
    __tablename__ = "allowlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    allowlist_id: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(LongText, default="")
    created_at: Mapped[datetime] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(Time)
    from_console: Mapped[bool] = mapped_column(Boolean, default=False)


class AllowlistItem(Base):
    __tablename__ = "allowlist_items"
    __table_args__ = (Index("ix_allowlist_items_ip", "start_ip", "prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    allowlist_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("allowlists.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(String(NAME_LEN))
    description: Mapped[str] = mapped_column(LongText, default="")
    created_at: Mapped[datetime] = mapped_column(Time)
    expires_at: Mapped[datetime | None] = mapped_column(Time, nullable=True)
    start_ip: Mapped[bytes] = mapped_column(IpBytes)
    end_ip: Mapped[bytes] = mapped_column(IpBytes)
    prefix: Mapped[int] = mapped_column(SmallInteger)


class UsageMetric(Base):
    """One ``POST /v1/usage-metrics`` report of a bouncer (``RC``) or an agent (``LP``); the
    newest few per component are kept (``lapi.usage``)."""

    __tablename__ = "usage_metrics"
    __table_args__ = (
        Index("ix_usage_metrics_component", "generated_type", "generated_by", "collected_at", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generated_type: Mapped[str] = mapped_column(String(8))
    generated_by: Mapped[str] = mapped_column(String(NAME_LEN))
    collected_at: Mapped[datetime] = mapped_column(Time)
    received_at: Mapped[datetime] = mapped_column(Time)
    payload: Mapped[str] = mapped_column(LongText)
