"""The rollups' oracle: each metric written as plain SQL over the raw rows (``calls`` joined to
the per-call sums of ``attempts``), independent of ``ledger/rollup.py``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daytwo.ledger.schema import METRICS


def _oracle_metrics() -> list[sa.ColumnElement[Any]]:
    """Each rollup metric written as SQL over :func:`_calls_with_attempts`."""
    cost = sa.func.coalesce(sa.column("cost_nanousd"), 0)
    status = sa.column("status")
    attributed = sa.column("attributed")
    attempts = sa.column("attempts")

    def count(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    def cost_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((cond, cost), else_=0))

    exprs = {
        "calls": sa.func.count(),
        "errors": count(status == "error"),
        "rejected": count(status == "rejected"),
        "cancelled": count(status == "cancelled"),
        "cost_nanousd": sa.func.sum(cost),
        "unpriced_calls": count(
            sa.column("cost_nanousd").is_(None)
            & (sa.column("input_tokens") + sa.column("output_tokens") > 0)
        ),
        "estimated_calls": count(sa.column("tokens_estimated") == sa.true()),
        "failed_calls": count(status != "ok"),
        "failed_cost_nanousd": cost_if(status != "ok"),
        "retried_calls": count(attempts > 1),
        "retried_cost_nanousd": cost_if(attempts > 1),
        "attributed_calls": count(attributed == sa.true()),
        "unattributed_calls": count(attributed == sa.false()),
        "unattributed_cost_nanousd": cost_if(attributed == sa.false()),
        "extra_attempts": sa.func.sum(sa.case((attempts > 1, attempts - 1), else_=0)),
        "failed_attempts": sa.func.sum(sa.func.coalesce(sa.column("a_failed"), 0)),
        "failed_attempt_cost_nanousd": sa.func.sum(sa.func.coalesce(sa.column("a_failed_cost"), 0)),
        "cache_hits": count(sa.column("cache_status") == "hit"),
        "replays": count(sa.column("cache_status") == "replay"),
        "saved_nanousd": sa.func.sum(sa.func.coalesce(sa.column("saved_nanousd"), 0)),
    }
    for tokens in ("input", "output", "cached_input", "cache_write", "reasoning"):
        exprs[f"{tokens}_tokens"] = sa.func.sum(sa.column(f"{tokens}_tokens"))
    assert set(exprs) == set(METRICS)
    return [exprs[m].label(m) for m in METRICS]


_DIM_SQL = {
    "total": sa.literal(""),
    "project": sa.column("project"),
    "workflow": sa.func.coalesce(sa.column("workflow"), ""),
    "feature": sa.func.coalesce(sa.column("feature"), ""),
    "agent": sa.func.coalesce(sa.column("agent"), ""),
    "environment": sa.func.coalesce(sa.column("environment"), ""),
    "key": sa.func.coalesce(sa.column("key_id"), ""),
    "provider": sa.func.coalesce(sa.column("provider"), ""),
    "model": sa.func.coalesce(sa.column("served_model"), sa.column("alias")),
    "prompt": sa.func.coalesce(sa.column("prompt_name"), ""),
    "prompt_version": sa.case(
        (
            sa.column("prompt_name").is_not(None),
            sa.column("prompt_name") + "@v" + sa.cast(sa.column("prompt_version"), sa.Text()),
        ),
        else_="",
    ),
}


def _calls_with_attempts() -> sa.FromClause:
    """``calls`` LEFT JOIN, per call id, the count and cost of its attempts that failed."""
    failed = sa.column("outcome") != "ok"
    per_call = (
        sa.select(
            sa.column("call_id"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("a_failed"),
            sa.func.sum(
                sa.case((failed, sa.func.coalesce(sa.column("cost_nanousd"), 0)), else_=0)
            ).label("a_failed_cost"),
        )
        .select_from(sa.table("attempts"))
        .group_by(sa.column("call_id"))
        .subquery("a")
    )
    return sa.table("calls").outerjoin(
        per_call, sa.literal_column("calls.id") == per_call.c.call_id
    )


def _as_ints(rows: Any) -> set[tuple[Any, ...]]:
    return {tuple(int(v) if not isinstance(v, str) else v for v in row) for row in rows}


def assert_rollups_match_raw(conn: sa.Connection) -> None:
    """Every rollup row, of both tables, equals the oracle's sums (and no row is missing)."""
    calls = _calls_with_attempts()
    for dim, value in _DIM_SQL.items():
        raw = (
            sa.select(sa.column("hour_start"), value.label("value"), *_oracle_metrics())
            .select_from(calls)
            .group_by(sa.column("hour_start"), value)
        )
        rolled = sa.text(
            f"SELECT hour_start, value, {', '.join(METRICS)} FROM rollup_hourly WHERE dim = :d"  # noqa: S608
        ).bindparams(d=dim)
        assert _as_ints(conn.execute(raw)) == _as_ints(conn.execute(rolled)), dim
    day = sa.column("hour_start") - sa.column("hour_start") % 86_400
    user = sa.func.coalesce(sa.column("user"), "")
    raw_users = (
        sa.select(day.label("d"), user.label("u"), *_oracle_metrics())
        .select_from(calls)
        .group_by(day, user)
    )
    rolled_users = sa.text(f'SELECT day_start, "user", {", ".join(METRICS)} FROM rollup_daily_user')  # noqa: S608
    assert _as_ints(conn.execute(raw_users)) == _as_ints(conn.execute(rolled_users))
