"""The initial ledger: raw calls, hourly rollups per dimension, daily rollups per user.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copy of the metric names at this revision (a migration never imports the live schema).
_METRICS = (
    "calls",
    "errors",
    "rejected",
    "cancelled",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanousd",
    "unpriced_calls",
    "estimated_calls",
    "failed_calls",
    "failed_cost_nanousd",
    "retried_calls",
    "retried_cost_nanousd",
    "attributed_calls",
    "unattributed_calls",
    "unattributed_cost_nanousd",
)


def _metrics() -> list[sa.Column[int]]:
    return [
        sa.Column(m, sa.BigInteger(), nullable=False, server_default=sa.text("0")) for m in _METRICS
    ]


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=False),
        sa.Column("hour_start", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("ttft_ms", sa.Double(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.Text(), nullable=False),
        sa.Column("error_class", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=True),
        sa.Column("feature", sa.Text(), nullable=True),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("session", sa.Text(), nullable=True),
        sa.Column("user", sa.Text(), nullable=True),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("attributed", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("deployment", sa.Text(), nullable=True),
        sa.Column("served_model", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("upstream_request_id", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("tokens_estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_nanousd", sa.BigInteger(), nullable=True),
        sa.Column("price_ref", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_table(
        "rollup_hourly",
        sa.Column("dim", sa.Text(), nullable=False),
        sa.Column("hour_start", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("dim", "hour_start", "value", name="pk_rollup_hourly"),
    )
    op.create_table(
        "rollup_daily_user",
        sa.Column("day_start", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("day_start", "user", name="pk_rollup_daily_user"),
    )


def downgrade() -> None:
    op.drop_table("rollup_daily_user")
    op.drop_table("rollup_hourly")
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_table("calls")
