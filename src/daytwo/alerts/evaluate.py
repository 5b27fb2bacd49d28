"""The values of windowed rules, computed from the ledger's ``calls`` table.

One query per rule over the calls that started since the window's start (the ``started_at``
index), matching the rule's scope, grouped by the rule's ``by`` fields. What each kind counts:

* ``spend_per_hour`` -- priced cost in the window, scaled to an hour (USD/h);
  ``daily_cost`` -- priced cost since local midnight (USD);
* ``error_rate`` -- calls with status ``error`` / calls that went upstream or tried to
  (``ok`` + ``error``: refusals by policy and cancelled calls are not the upstream's errors);
* ``p95_latency`` -- 95th percentile (nearest rank) of ``latency_ms`` of those calls;
  ``p95_ttft`` -- of ``ttft_ms`` over answered streams;
* ``fallback_rate`` -- answered calls served by a deployment other than their alias's first
  one (a failover after a failed try, or around an open breaker) / answered calls;
* ``unpriced_calls`` -- calls that used tokens and have no price.

Answers from the response cache and idempotent replays are left out (no upstream call).
Blocking: the engine runs this in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daytwo.config.alerts import AlertRule
from daytwo.core.money import NANOS_PER_USD
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore

#: Rule ``by`` / ``scope`` field → ``calls`` column.
COLUMNS: Mapping[str, sa.Column[Any]] = {
    "alias": calls.c.alias,
    "project": calls.c.project,
    "workflow": calls.c.workflow,
    "provider": calls.c.provider,
}
PERCENTILE = 0.95


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's value for one group (the values of its ``by`` fields, ``""`` for none)."""

    group: tuple[str, ...]
    #: None: too few calls to say (``min_calls``).
    value: float | None
    calls: int


def observe(
    store: LedgerStore,
    rule: AlertRule,
    *,
    since: float,
    window_s: float,
    primaries: Mapping[str, str],
) -> list[Observation]:
    """``primaries``: alias → its first deployment's id (for ``fallback_rate``)."""
    kind = rule.kind
    with store.connect() as conn:
        if kind in ("spend_per_hour", "daily_cost"):
            scale = 3600 / window_s if kind == "spend_per_hour" else 1.0
            return _spend(conn, rule, since, scale)
        if kind == "error_rate":
            return _error_rate(conn, rule, since)
        if kind == "fallback_rate":
            return _fallback_rate(conn, rule, since, primaries)
        if kind in ("p95_latency", "p95_ttft"):
            return _p95(conn, rule, since)
        if kind == "unpriced_calls":
            return _unpriced(conn, rule, since)
    raise ValueError(f"{kind} is not a windowed rule")


def _groups(rule: AlertRule) -> list[sa.ColumnElement[str]]:
    return [sa.func.coalesce(COLUMNS[f], "") for f in rule.group_by]


def _where(rule: AlertRule, since: float) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = [calls.c.started_at >= since]
    out += [COLUMNS[f] == v for f, v in rule.scope.fields().items()]
    return out


def _upstream() -> list[sa.ColumnElement[bool]]:
    return [calls.c.status.in_(("ok", "error")), calls.c.cache_status.is_(None)]


def _select(
    rule: AlertRule, since: float, *aggregates: sa.ColumnElement[Any]
) -> tuple[sa.Select[Any], int]:
    groups = _groups(rule)
    columns: list[sa.ColumnElement[Any]] = [*groups, *aggregates]
    query = sa.select(*columns).where(*_where(rule, since))
    if groups:
        query = query.group_by(*groups)
    return query, len(groups)


def _spend(conn: sa.Connection, rule: AlertRule, since: float, scale: float) -> list[Observation]:
    query, n = _select(
        rule, since, sa.func.coalesce(sa.func.sum(calls.c.cost_nanousd), 0), sa.func.count()
    )
    out = []
    for row in conn.execute(query):
        nanos, count = int(row[n]), int(row[n + 1])
        out.append(Observation(tuple(row[:n]), nanos / NANOS_PER_USD * scale, count))
    return out


def _error_rate(conn: sa.Connection, rule: AlertRule, since: float) -> list[Observation]:
    errors = sa.func.sum(sa.case((calls.c.status == "error", 1), else_=0))
    query, n = _select(rule, since, sa.func.count(), errors)
    query = query.where(*_upstream())
    out = []
    for row in conn.execute(query):
        total, bad = int(row[n]), int(row[n + 1] or 0)
        value = bad / total if total >= rule.least_calls else None
        out.append(Observation(tuple(row[:n]), value, total))
    return out


def _fallback_rate(
    conn: sa.Connection, rule: AlertRule, since: float, primaries: Mapping[str, str]
) -> list[Observation]:
    groups = _groups(rule)
    query = (
        sa.select(*groups, calls.c.alias, calls.c.deployment, sa.func.count())
        .where(*_where(rule, since), *_upstream(), calls.c.status == "ok")
        .group_by(*groups, calls.c.alias, calls.c.deployment)
    )
    n = len(groups)
    totals: dict[tuple[str, ...], list[int]] = {}
    for row in conn.execute(query):
        alias, deployment, count = row[n], row[n + 1], int(row[n + 2])
        seen = totals.setdefault(tuple(row[:n]), [0, 0])
        seen[0] += count
        first = primaries.get(alias)
        if deployment and first is not None and deployment != first:
            seen[1] += count
    return [
        Observation(group, fb / total if total >= rule.least_calls else None, total)
        for group, (total, fb) in totals.items()
    ]


def _p95(conn: sa.Connection, rule: AlertRule, since: float) -> list[Observation]:
    if rule.kind == "p95_ttft":
        col: sa.ColumnElement[Any] = calls.c.ttft_ms
        where = [
            calls.c.status == "ok",
            calls.c.ttft_ms.is_not(None),
            calls.c.cache_status.is_(None),
        ]
    else:
        col = calls.c.latency_ms
        where = _upstream()
    groups = _groups(rule)
    if conn.dialect.name == "postgresql":
        pct = sa.func.percentile_disc(PERCENTILE).within_group(col.asc())
        query, n = _select(rule, since, sa.func.count(), pct)
        out = []
        for row in conn.execute(query.where(*where)):
            total = int(row[n])
            value = float(row[n + 1]) if total >= rule.least_calls else None
            out.append(Observation(tuple(row[:n]), value, total))
        return out
    # SQLite has no percentile: count per group, then read the nearest-rank row of each.
    query, n = _select(rule, since, sa.func.count())
    counted = [(tuple(row[:n]), int(row[n])) for row in conn.execute(query.where(*where))]
    out = []
    for group, total in counted:
        if total < rule.least_calls:
            out.append(Observation(group, None, total))
            continue
        rank = max(1, math.ceil(PERCENTILE * total))
        same = [g == v for g, v in zip(groups, group, strict=True)]
        pick = (
            sa.select(col)
            .where(*_where(rule, since), *where, *same)
            .order_by(col.asc())
            .limit(1)
            .offset(rank - 1)
        )
        value = conn.execute(pick).scalar()
        out.append(Observation(group, None if value is None else float(value), total))
    return out


def _unpriced(conn: sa.Connection, rule: AlertRule, since: float) -> list[Observation]:
    query, n = _select(rule, since, sa.func.count())
    query = query.where(
        calls.c.cost_nanousd.is_(None),
        (calls.c.input_tokens + calls.c.output_tokens) > 0,
        calls.c.status != "rejected",
        calls.c.cache_status.is_(None),
    )
    return [Observation(tuple(row[:n]), float(row[n]), int(row[n])) for row in conn.execute(query)]


def group_labels(rule: AlertRule, group: Sequence[str]) -> dict[str, str]:
    return dict(zip(rule.group_by, group, strict=True))
