"""``ledger/rollup.py``: the rollups always equal sums over the raw rows.

The oracle is independent of the code under test: plain SQL ``GROUP BY`` over ``calls``,
compared with the rollup tables after every random batch (duplicates and replays included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daytwo.core.record import CallRecord
from daytwo.ledger.rollup import aggregate
from daytwo.ledger.schema import METRICS
from daytwo.ledger.store import LedgerStore

MakeRecord = Callable[..., CallRecord]
T0 = 1_714_521_600.0

_names = st.sampled_from([None, "a", "b", "ünï", "O'Brien"])
records = st.builds(
    CallRecord,
    id=st.text("abcdefgh", min_size=1, max_size=3),  # small alphabet: ids repeat, on purpose
    started_at=st.floats(T0 - 3 * 86_400, T0 + 3 * 86_400),
    ended_at=st.just(T0),
    latency_ms=st.floats(0, 1e6),
    status=st.sampled_from(["ok", "error", "rejected", "cancelled"]),
    http_status=st.sampled_from([200, 429, 500, 499]),
    operation=st.just("chat"),
    alias=st.sampled_from(["smart", "fast"]),
    trace_id=st.just("t"),
    project=st.sampled_from(["default", "search", "support"]),
    workflow=_names,
    feature=_names,
    agent=_names,
    user=_names,
    environment=_names,
    key_id=_names,
    provider=_names,
    served_model=st.sampled_from([None, "gpt-4o", "claude"]),
    attributed=st.booleans(),
    attempts=st.integers(0, 4),
    input_tokens=st.integers(0, 10**9),
    output_tokens=st.integers(0, 10**7),
    cached_input_tokens=st.integers(0, 10**6),
    cache_write_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**6),
    tokens_estimated=st.booleans(),
    cost_nanousd=st.none() | st.integers(0, 10**12),
)


def _oracle_metrics() -> list[sa.ColumnElement[Any]]:
    """Each rollup metric written as SQL over ``calls`` (independent of rollup.py)."""
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
}


def _as_ints(rows: Any) -> set[tuple[Any, ...]]:
    return {tuple(int(v) if not isinstance(v, str) else v for v in row) for row in rows}


def _assert_rollups_match_raw(conn: sa.Connection) -> None:
    calls = sa.table("calls")
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


@settings(
    max_examples=40,
    deadline=None,
    # One database for all examples: the invariant must hold after every batch, cumulatively.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(records, min_size=1, max_size=30))
def test_rollups_equal_sums_over_raw_rows(store: LedgerStore, batch: list[CallRecord]) -> None:
    store.insert_batch(batch)
    with store.connect() as conn:
        _assert_rollups_match_raw(conn)


def test_aggregate_spreads_one_call_over_every_dimension(make_record: MakeRecord) -> None:
    r = make_record(
        started_at=T0 + 5_000,  # 01:23 on 2024-05-01
        workflow="wf",
        user="u1",
        cost_nanousd=None,
        status="error",
        attempts=2,
        served_model=None,
    )
    hourly, daily = aggregate([r, make_record(started_at=T0 + 5_001, user="u1")])
    by_dim = {(row[0], row[2]): row[3:] for row in hourly}
    assert {row[1] for row in hourly} == {T0 + 3_600}
    metrics = dict(zip(METRICS, by_dim["total", ""], strict=True))
    assert metrics["calls"] == 2
    assert metrics["unpriced_calls"] == 1
    assert metrics["cost_nanousd"] == 1_000  # the priced one only
    assert metrics["failed_calls"] == metrics["errors"] == metrics["retried_calls"] == 2 - 1
    assert dict(zip(METRICS, by_dim["model", "smart"], strict=True))["calls"] == 1  # alias
    assert dict(zip(METRICS, by_dim["workflow", ""], strict=True))["calls"] == 1
    assert daily == [
        (
            T0,
            "u1",
            *(a + b for a, b in zip(by_dim["workflow", "wf"], by_dim["workflow", ""], strict=True)),
        )
    ]
