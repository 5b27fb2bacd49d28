"""An incident's impact from the ledger: the calls of its window and scope, their errors,
cost and quality scores, in total and per 5 minutes.

Read from the ``calls`` rows (not the hourly rollups: an incident is minutes long) by
``started_at``, with the ``scores`` of those calls. The error rate is the alerts' one (calls
with status ``error`` / calls that went upstream or tried to: ``ok`` + ``error``, answers
from the cache left out); a quality rate is the mean of an evaluator's scores (1 = good), as
``daytwo quality`` reports it. Blocking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from daytwo.core.money import nanos_to_usd
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore

#: The width of a row of the rates table, seconds.
BUCKET_S = 300
#: Incident scope field → the ``calls`` column.
COLUMNS: Mapping[str, sa.Column[Any]] = {
    "project": calls.c.project,
    "workflow": calls.c.workflow,
    "feature": calls.c.feature,
    "agent": calls.c.agent,
    "alias": calls.c.alias,
    "provider": calls.c.provider,
    "user": calls.c.user,
    "key": calls.c.key_id,
}


@dataclass(frozen=True, slots=True)
class Figures:
    """What happened to the calls of one window."""

    calls: int = 0
    ok: int = 0
    errors: int = 0
    rejected: int = 0
    cancelled: int = 0
    #: Calls that went upstream or tried to (``ok`` + ``error``, no cache answers).
    upstream: int = 0
    upstream_errors: int = 0
    cost_nanousd: int = 0
    unpriced: int = 0
    users: int = 0
    #: Evaluator → (scores, mean value).
    quality: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.upstream_errors / self.upstream if self.upstream else None

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "ok": self.ok,
            "errors": self.errors,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "error_rate": self.error_rate,
            "cost_usd": format(nanos_to_usd(self.cost_nanousd).normalize(), "f"),
            "cost_nanousd": self.cost_nanousd,
            "unpriced_calls": self.unpriced,
            "users": self.users,
            "quality": {k: {"n": n, "rate": m} for k, (n, m) in sorted(self.quality.items())},
        }


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    figures: Figures


def _where(start: float, end: float, scope: Mapping[str, str]) -> list[sa.ColumnElement[bool]]:
    out = [calls.c.started_at >= start, calls.c.started_at < end]
    out += [COLUMNS[k] == v for k, v in scope.items() if k in COLUMNS]
    return out


def _count(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _bucket_of(conn: sa.Connection, column: Any, start: float) -> sa.ColumnElement[Any]:
    offset = (column - start) / BUCKET_S
    if conn.dialect.name == "postgresql":  # a cast rounds there; floor first
        return sa.cast(sa.func.floor(offset), sa.BigInteger)
    return sa.cast(offset, sa.Integer)  # SQLite truncates toward zero (offset >= 0)


def impact(
    store: LedgerStore, start: float, end: float, scope: Mapping[str, str] | None = None
) -> tuple[Figures, list[Bucket]]:
    """The window's figures in total, and per :data:`BUCKET_S` from ``start`` (every bucket,
    empty ones too)."""
    scope = scope or {}
    c = calls.c
    upstream = sa.and_(c.status.in_(("ok", "error")), c.cache_status.is_(None))
    aggregates = (
        sa.func.count(),
        _count(c.status == "ok"),
        _count(c.status == "error"),
        _count(c.status == "rejected"),
        _count(c.status == "cancelled"),
        _count(upstream),
        _count(sa.and_(upstream, c.status == "error")),
        sa.func.coalesce(sa.func.sum(c.cost_nanousd), 0),
        _count(sa.and_(c.cost_nanousd.is_(None), c.input_tokens + c.output_tokens > 0)),
    )
    where = _where(start, end, scope)
    n = max(1, math.ceil((end - start) / BUCKET_S))
    with store.connect() as conn:
        total = conn.execute(sa.select(*aggregates).where(*where)).one()
        users = conn.execute(
            sa.select(sa.func.count(sa.distinct(c.user))).where(*where, c.user.is_not(None))
        ).scalar_one()
        b = _bucket_of(conn, c.started_at, start).label("b")
        per = {
            int(r[0]): r[1:]
            for r in conn.execute(sa.select(b, *aggregates).where(*where).group_by(b))
        }
        q = _quality(conn, where, None, start)
        qb = _quality(conn, where, _bucket_of(conn, c.started_at, start).label("b"), start)
    figures = _figures(total, users, q.get(None, {}))
    buckets = [
        Bucket(start + i * BUCKET_S, _figures(per[i], 0, qb.get(i, {})) if i in per else Figures())
        for i in range(n)
    ]
    return figures, buckets


def _quality(
    conn: sa.Connection, where: list[sa.ColumnElement[bool]], bucket: Any, start: float
) -> dict[int | None, dict[str, tuple[int, float]]]:
    """(bucket or None) → evaluator → (scores, mean) for the scores of the window's calls."""
    s = scores.c
    cols: list[Any] = [s.evaluator, sa.func.count(), sa.func.avg(s.value)]
    if bucket is not None:
        cols.insert(0, bucket)
    query = (
        sa.select(*cols)
        .select_from(scores.join(calls, calls.c.id == s.call_id))
        .where(*where, s.value.is_not(None))
        .group_by(*([bucket] if bucket is not None else []), s.evaluator)
    )
    out: dict[int | None, dict[str, tuple[int, float]]] = {}
    for row in conn.execute(query):
        key = int(row[0]) if bucket is not None else None
        evaluator, count, mean = row[-3], row[-2], row[-1]
        out.setdefault(key, {})[evaluator] = (int(count), float(mean))
    return out


def _figures(row: Any, users: int, quality: dict[str, tuple[int, float]]) -> Figures:
    total, ok, err, rej, canc, up, up_err, cost, unpriced = (int(v or 0) for v in row)
    return Figures(total, ok, err, rej, canc, up, up_err, cost, unpriced, int(users), quality)
