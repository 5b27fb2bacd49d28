"""Prompts as code: every call records the prompt that made it.

* ``rollup_hourly`` gains two dimensions, ``prompt`` (the name) and ``prompt_version``
  (``NAME@vN``), for ``daytwo spend --by prompt|prompt_version``; every earlier hour gets its
  "no prompt" row (value ``''``) copied from its ``total`` row, since no earlier call named one.
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
# Frozen copy of the rollup metrics at this revision.
_METRICS = (
    "calls", "errors", "rejected", "cancelled", "input_tokens", "output_tokens",
    "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "cost_nanousd",
    "unpriced_calls", "estimated_calls", "failed_calls", "failed_cost_nanousd", "retried_calls",
    "retried_cost_nanousd", "attributed_calls", "unattributed_calls",
    "unattributed_cost_nanousd", "extra_attempts", "failed_attempts",
    "failed_attempt_cost_nanousd", "cache_hits", "replays", "saved_nanousd",
)  # fmt: skip


def upgrade() -> None:
    op.add_column("calls", sa.Column("prompt_name", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("prompt_version", sa.Integer(), nullable=True))
    op.add_column("calls", sa.Column("prompt_label", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("prompt_hash", sa.Text(), nullable=True))
    op.create_index(_INDEX, "calls", ["prompt_name", "started_at"])
    metrics = ", ".join(_METRICS)
    for dim in ("prompt", "prompt_version"):
        op.execute(
            f"INSERT INTO rollup_hourly (dim, hour_start, value, {metrics}) "  # noqa: S608  # constants only
            f"SELECT '{dim}', hour_start, '', {metrics} FROM rollup_hourly WHERE dim = 'total'"
        )


def downgrade() -> None:
    op.execute("DELETE FROM rollup_hourly WHERE dim IN ('prompt', 'prompt_version')")
    op.drop_index(_INDEX, table_name="calls")
    with op.batch_alter_table("calls") as batch:
        for name in ("prompt_hash", "prompt_label", "prompt_version", "prompt_name"):
            batch.drop_column(name)
