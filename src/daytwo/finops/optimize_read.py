"""The ledger aggregates ``daytwo optimize`` reads, in three queries over one window.

* totals from ``rollup_hourly`` (``dim='total'``): one row per hour;
* the calls answered upstream grouped by (workflow, model, provider, stream, prompt version):
  one pass over the window's ``calls`` rows on the ``started_at`` index (the rollups keep one
  dimension at a time, and the rules need them together);
* failed attempts of calls answered in the end, per deployment, from ``attempts`` (written
  only for retried calls), with the busiest hour of failed attempts per deployment.

The models of unpriced calls come from the ``model`` rollup.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from daytwo.finops.optimize import Aggregates, FailedAttempts, Group, Waste
from daytwo.ledger.schema import attempts, calls, rollup_hourly
from daytwo.ledger.store import LedgerStore

_WASTE = tuple(Waste.__dataclass_fields__)


def read_aggregates(store: LedgerStore, lo: int, hi: int) -> Aggregates:
    """The aggregates of [lo, hi) (Unix seconds, whole hours)."""
    with store.connect() as conn:
        return Aggregates(
            window_s=hi - lo,
            waste=_waste(conn, lo, hi),
            groups=_groups(conn, lo, hi),
            failed_attempts=_failed(conn, lo, hi),
            unpriced_models=_unpriced(conn, lo, hi),
        )


def _waste(conn: sa.Connection, lo: int, hi: int) -> Waste:
    t = rollup_hourly
    row = (
        conn.execute(
            sa.select(*(sa.func.sum(t.c[m]).label(m) for m in _WASTE)).where(
                t.c.dim == "total", t.c.hour_start >= lo, t.c.hour_start < hi
            )
        )
        .mappings()
        .one()
    )
    return Waste(**{m: int(row[m] or 0) for m in _WASTE})


def _groups(conn: sa.Connection, lo: int, hi: int) -> tuple[Group, ...]:
    c = calls
    model = sa.func.coalesce(c.c.served_model, c.c.alias)
    keys = (c.c.workflow, model, c.c.provider, c.c.stream, c.c.prompt_name, c.c.prompt_version)
    query = (
        sa.select(
            *keys,
            sa.func.count(),
            sa.func.sum(c.c.input_tokens),
            sa.func.sum(c.c.output_tokens),
            sa.func.sum(c.c.cached_input_tokens),
            sa.func.sum(sa.func.coalesce(c.c.cost_nanousd, 0)),
            sa.func.count(c.c.cost_nanousd),
        )
        .where(
            c.c.started_at >= lo,
            c.c.started_at < hi,
            c.c.status == "ok",
            c.c.operation == "chat",
            c.c.cache_status.is_(None),
        )
        .group_by(*keys)
    )
    return tuple(
        Group(
            workflow=r[0],
            model=r[1],
            provider=r[2],
            stream=bool(r[3]),
            prompt=r[4],
            version=r[5],
            calls=int(r[6]),
            input_tokens=int(r[7] or 0),
            output_tokens=int(r[8] or 0),
            cached_input_tokens=int(r[9] or 0),
            cost_nanousd=int(r[10] or 0),
            priced_calls=int(r[11]),
        )
        for r in conn.execute(query)
    )


def _failed(conn: sa.Connection, lo: int, hi: int) -> tuple[FailedAttempts, ...]:
    a, c = attempts, calls
    window = (a.c.started_at >= lo, a.c.started_at < hi, a.c.outcome != "ok")
    paid = conn.execute(
        sa.select(
            a.c.provider,
            a.c.deployment,
            sa.func.count(),
            sa.func.sum(sa.func.coalesce(a.c.cost_nanousd, 0)),
        )
        .join(c, c.c.id == a.c.call_id)
        .where(*window, c.c.status == "ok")
        .group_by(a.c.provider, a.c.deployment)
    ).all()
    hourly = (
        sa.select(a.c.provider, a.c.deployment, a.c.hour_start, sa.func.count().label("n"))
        .where(*window)
        .group_by(a.c.provider, a.c.deployment, a.c.hour_start)
        .subquery()
    )
    peaks: dict[tuple[str, str], int] = defaultdict(int)
    for provider, deployment, peak in conn.execute(
        sa.select(hourly.c.provider, hourly.c.deployment, sa.func.max(hourly.c.n)).group_by(
            hourly.c.provider, hourly.c.deployment
        )
    ):
        peaks[(provider, deployment)] = int(peak)
    return tuple(
        FailedAttempts(
            provider=p,
            deployment=d,
            attempts=int(n),
            cost_nanousd=int(cost or 0),
            peak_hour_attempts=peaks[(p, d)],
        )
        for p, d, n, cost in paid
    )


def _unpriced(conn: sa.Connection, lo: int, hi: int) -> tuple[tuple[str, int], ...]:
    t = rollup_hourly
    n = sa.func.sum(t.c.unpriced_calls)
    rows = conn.execute(
        sa.select(t.c.value, n)
        .where(t.c.dim == "model", t.c.hour_start >= lo, t.c.hour_start < hi)
        .group_by(t.c.value)
        .having(n > 0)
        .order_by(n.desc(), t.c.value)
    ).all()
    return tuple((value or "(none)", int(count)) for value, count in rows)
