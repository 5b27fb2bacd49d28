"""Prompts as code: every call records the prompt that made it.

* ``calls`` gains ``prompt_name``, ``prompt_version``, ``prompt_label`` and ``prompt_hash``
  (NULL for a call that named no prompt), and an index on (``prompt_name``, ``started_at``):
  ``daytwo prompts stats`` and the check's cost estimate read one prompt over a time range.

Columns are added with ``ALTER TABLE ... ADD COLUMN`` on both databases (nullable, no default:
a metadata change, never a table rebuild).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "ix_calls_prompt_name_started_at"


def upgrade() -> None:
    op.add_column("calls", sa.Column("prompt_name", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("prompt_version", sa.Integer(), nullable=True))
    op.add_column("calls", sa.Column("prompt_label", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("prompt_hash", sa.Text(), nullable=True))
    op.create_index(_INDEX, "calls", ["prompt_name", "started_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="calls")
    with op.batch_alter_table("calls") as batch:
        for name in ("prompt_hash", "prompt_label", "prompt_version", "prompt_name"):
            batch.drop_column(name)
