"""Resilience in the ledger: every upstream attempt of a retried call, cache hits and replays.

* ``calls`` gains ``cache_status`` (``hit`` | ``replay`` | NULL) and ``saved_nanousd``.
* New table ``attempts``: one row per upstream attempt of a call that made more than one.
* Both rollup tables gain six counters. ``extra_attempts`` is backfilled from
  ``calls.attempts``, which predates this revision (one scan of ``calls``, then one primary-key
  update per rollup row that had a retried call); the other five start at 0, since no earlier
  call recorded attempts, cache hits or replays.

Columns are added with ``ALTER TABLE ... ADD COLUMN`` on both databases (never a table rebuild:
``calls`` may hold millions of rows); a NOT NULL column with a constant default is a metadata
change on PostgreSQL 11+ and on SQLite.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copy of the metric names added at this revision.
_METRICS = (
    "extra_attempts",
    "failed_attempts",
    "failed_attempt_cost_nanousd",
    "cache_hits",
    "replays",
    "saved_nanousd",
)
_ROLLUPS = ("rollup_hourly", "rollup_daily_user")
# Frozen copy of the hourly dimensions at this revision: (dim, calls column).
_DIMS = (
    ("project", "project"),
    ("workflow", "workflow"),
    ("feature", "feature"),
    ("agent", "agent"),
    ("environment", "environment"),
    ("key", "key_id"),
    ("provider", "provider"),
)
_DAY = 86_400


def upgrade() -> None:
    op.add_column("calls", sa.Column("cache_status", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("saved_nanousd", sa.BigInteger(), nullable=True))
    for table in _ROLLUPS:
        for m in _METRICS:
            op.add_column(
                table, sa.Column(m, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            )
    op.create_table(
        "attempts",
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("hour_start", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("deployment", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("upstream_status", sa.Integer(), nullable=True),
        sa.Column("error_class", sa.Text(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("delay_ms", sa.Double(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nanousd", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", "n", name="pk_attempts"),
    )
    op.create_index("ix_attempts_started_at", "attempts", ["started_at"])
    _backfill_extra_attempts()


def _backfill_extra_attempts() -> None:
    names = ("hour_start", "attempts", "served_model", "alias", "user", *(c for _, c in _DIMS))
    calls = sa.table("calls", *map(sa.column, names))
    c = calls.c
    model = sa.func.coalesce(c.served_model, c.alias)
    keys = [c.hour_start, *(c[col] for _, col in _DIMS), model, c.user]
    query = sa.select(*keys, sa.func.sum(c.attempts - 1)).where(c.attempts > 1).group_by(*keys)
    hourly: Counter[tuple[str, int, str]] = Counter()
    daily: Counter[tuple[int, str]] = Counter()
    for hour, *values, user, extra in op.get_bind().execute(query):
        n = int(extra)
        hourly["total", hour, ""] += n
        for (dim, _), value in zip((*_DIMS, ("model", "")), values, strict=True):
            hourly[dim, hour, value or ""] += n
        daily[hour - hour % _DAY, user or ""] += n
    if hourly:
        op.get_bind().execute(
            sa.text(
                "UPDATE rollup_hourly SET extra_attempts = :n "
                "WHERE dim = :dim AND hour_start = :hour AND value = :value"
            ),
            [{"n": n, "dim": d, "hour": h, "value": v} for (d, h, v), n in hourly.items()],
        )
    if daily:
        op.get_bind().execute(
            sa.text(
                "UPDATE rollup_daily_user SET extra_attempts = :n "
                'WHERE day_start = :day AND "user" = :user'
            ),
            [{"n": n, "day": d, "user": u} for (d, u), n in daily.items()],
        )


def downgrade() -> None:
    op.drop_index("ix_attempts_started_at", table_name="attempts")
    op.drop_table("attempts")
    for table in _ROLLUPS:
        with op.batch_alter_table(table) as batch:
            for m in reversed(_METRICS):
                batch.drop_column(m)
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("saved_nanousd")
        batch.drop_column("cache_status")
