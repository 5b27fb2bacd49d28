"""The ``rollouts`` table: one row per rollout, in the ledger's database (migration
``v0011_rollouts``), described here on its own :data:`metadata`. Its history is the admin event
log (``rollout.*`` actions, chained in the audit trail's control stream in the same transaction
as the change)."""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.ledger.schema import NAMING_CONVENTION
from daytwo.ledger.schema import text_column as _text

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

rollouts = sa.Table(
    "rollouts",
    metadata,
    _text("id", nullable=False),
    _text("kind", nullable=False),  # prompt | alias
    _text("target", nullable=False),  # NAME@LABEL | alias
    _text("control", nullable=False),
    _text("candidate", nullable=False),
    _text("stages", nullable=False),  # JSON [{kind, percent}]
    sa.Column("stage", sa.Integer(), nullable=False),
    _text("status", nullable=False),
    _text("sticky", nullable=False),
    sa.Column("approve_each", sa.Boolean(), nullable=False),
    _text("criteria", nullable=False),  # JSON
    sa.Column("created_at", sa.Double(), nullable=False),
    _text("created_by", nullable=False),
    sa.Column("stage_started_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    _text("reason", nullable=False),
    _text("evidence", nullable=False),  # JSON [line]
    # A finished rollout stops overriding its target once retired (the label file or config
    # caught up, or an operator retired it).
    sa.Column("retired", sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    sa.Index("ix_rollouts_retired", "retired"),
)
