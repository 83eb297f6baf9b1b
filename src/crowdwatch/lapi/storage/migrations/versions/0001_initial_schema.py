"""Initial schema: machines, bouncers, alerts, decisions, allowlists, settings, sequence.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 13:08:32.057098
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdwatch.lapi.storage.tables as t

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("scenario", sa.String(length=255), nullable=False),
        sa.Column("scenario_hash", sa.String(length=255), nullable=False),
        sa.Column("scenario_version", sa.String(length=255), nullable=False),
        sa.Column("message", t.LongText, nullable=False),
        sa.Column("events_count", sa.Integer(), nullable=False),
        sa.Column("start_at", t.Time, nullable=False),
        sa.Column("stop_at", t.Time, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("leakspeed", sa.String(length=64), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("remediation", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("source_scope", sa.String(length=255), nullable=False),
        sa.Column("source_value", sa.String(length=255), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("source_range", sa.String(length=64), nullable=False),
        sa.Column("source_as_number", sa.String(length=64), nullable=False),
        sa.Column("source_as_name", sa.String(length=255), nullable=False),
        sa.Column("source_country", sa.String(length=64), nullable=False),
        sa.Column("source_latitude", sa.Float(), nullable=False),
        sa.Column("source_longitude", sa.Float(), nullable=False),
        sa.Column("source_start", t.IpBytes, nullable=True),
        sa.Column("source_end", t.IpBytes, nullable=True),
        sa.Column("source_prefix", sa.SmallInteger(), nullable=True),
        sa.Column("labels", t.LongText, nullable=False),
        sa.Column("events", t.LongText, nullable=False),
        sa.Column("meta", t.LongText, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_scenario"), ["scenario"], unique=False)
        batch_op.create_index("ix_alerts_source", ["source_scope", "source_value"], unique=False)
        batch_op.create_index("ix_alerts_source_ip", ["source_start", "source_prefix"], unique=False)

    op.create_table(
        "allowlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("allowlist_id", sa.String(length=64), nullable=False),
        sa.Column("description", t.LongText, nullable=False),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("updated_at", t.Time, nullable=False),
        sa.Column("from_console", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "bouncers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("updated_at", t.Time, nullable=False),
        sa.Column("last_pull", t.Time, nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("auth_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "lapi_sequence",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lapi_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "machines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("updated_at", t.Time, nullable=False),
        sa.Column("last_push", t.Time, nullable=True),
        sa.Column("last_heartbeat", t.Time, nullable=True),
        sa.Column("scenarios", t.LongText, nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("is_validated", sa.Boolean(), nullable=False),
        sa.Column("auth_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("machine_id"),
    )
    op.create_table(
        "allowlist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allowlist_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("description", t.LongText, nullable=False),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("expires_at", t.Time, nullable=True),
        sa.Column("start_ip", t.IpBytes, nullable=False),
        sa.Column("end_ip", t.IpBytes, nullable=False),
        sa.Column("prefix", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(["allowlist_id"], ["allowlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("allowlist_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allowlist_items_allowlist_id"), ["allowlist_id"], unique=False)
        batch_op.create_index("ix_allowlist_items_ip", ["start_ip", "prefix"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("created_at", t.Time, nullable=False),
        sa.Column("until", t.Time, nullable=False),
        sa.Column("scenario", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("start_ip", t.IpBytes, nullable=True),
        sa.Column("end_ip", t.IpBytes, nullable=True),
        sa.Column("prefix", sa.SmallInteger(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index("ix_decisions_ip", ["start_ip", "prefix"], unique=False)
        batch_op.create_index(batch_op.f("ix_decisions_seq"), ["seq"], unique=False)
        batch_op.create_index("ix_decisions_state_until", ["state", "until"], unique=False)
        batch_op.create_index("ix_decisions_value", ["scope", "value"], unique=False)
    op.bulk_insert(sa.table("lapi_sequence", sa.column("id"), sa.column("value")), [{"id": 1, "value": 0}])


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_value")
        batch_op.drop_index("ix_decisions_state_until")
        batch_op.drop_index(batch_op.f("ix_decisions_seq"))
        batch_op.drop_index("ix_decisions_ip")
        batch_op.drop_index(batch_op.f("ix_decisions_alert_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("allowlist_items", schema=None) as batch_op:
        batch_op.drop_index("ix_allowlist_items_ip")
        batch_op.drop_index(batch_op.f("ix_allowlist_items_allowlist_id"))

    op.drop_table("allowlist_items")
    op.drop_table("machines")
    op.drop_table("lapi_settings")
    op.drop_table("lapi_sequence")
    op.drop_table("bouncers")
    op.drop_table("allowlists")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_source_ip")
        batch_op.drop_index("ix_alerts_source")
        batch_op.drop_index(batch_op.f("ix_alerts_scenario"))
        batch_op.drop_index(batch_op.f("ix_alerts_machine_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_created_at"))

    op.drop_table("alerts")
