"""Usage metrics of bouncers and agents; the credentials generation setting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdwatch.lapi.storage.tables as t

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SETTINGS = sa.table("lapi_settings", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    op.create_table(
        "usage_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generated_type", sa.String(length=8), nullable=False),
        sa.Column("generated_by", sa.String(length=255), nullable=False),
        sa.Column("collected_at", t.Time, nullable=False),
        sa.Column("received_at", t.Time, nullable=False),
        sa.Column("payload", t.LongText, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_usage_metrics_component",
        "usage_metrics",
        ["generated_type", "generated_by", "collected_at"],
        unique=True,
    )
    op.bulk_insert(_SETTINGS, [{"key": "credentials_generation", "value": "0"}])


def downgrade() -> None:
    op.execute(_SETTINGS.delete().where(_SETTINGS.c.key == "credentials_generation"))
    op.drop_index("ix_usage_metrics_component", table_name="usage_metrics")
    op.drop_table("usage_metrics")
