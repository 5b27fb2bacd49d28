"""Rollouts: the ``rollouts`` table (daytwo.rollout.schema) and the two ``calls`` columns that
say which rollout and arm served a call.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("rollout_id", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("rollout_arm", sa.Text(), nullable=True))
    op.create_index("ix_calls_rollout_id_started_at", "calls", ["rollout_id", "started_at"])
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("control", sa.Text(), nullable=False),
        sa.Column("candidate", sa.Text(), nullable=False),
        sa.Column("stages", sa.Text(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("sticky", sa.Text(), nullable=False),
        sa.Column("approve_each", sa.Boolean(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("stage_started_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_index("ix_rollouts_retired", "rollouts", ["retired"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_retired", table_name="rollouts")
    op.drop_table("rollouts")
    op.drop_index("ix_calls_rollout_id_started_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("rollout_arm")
        batch.drop_column("rollout_id")
