"""Quality in production: the ``scores`` table -- one row per judgement of a call (an online
evaluator's check, a sampled judge's verdict, the application's feedback), linked to ``calls``
by ``call_id``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.Text(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("hour_start", sa.BigInteger(), nullable=False),
        sa.Column("evaluator", sa.Text(), nullable=False),
        sa.Column("evaluator_version", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
    )
    op.create_index("ix_scores_evaluator_at", "scores", ["evaluator", "at"])
    op.create_index("ix_scores_call_id", "scores", ["call_id"])
    op.create_index("ix_scores_at", "scores", ["at"])


def downgrade() -> None:
    op.drop_index("ix_scores_at", table_name="scores")
    op.drop_index("ix_scores_call_id", table_name="scores")
    op.drop_index("ix_scores_evaluator_at", table_name="scores")
    op.drop_table("scores")
