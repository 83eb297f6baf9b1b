"""Index alerts.uuid: an alert pushed again (its answer was lost) is recognised by its uuid.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_uuid"), ["uuid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_uuid"))
