"""Spend reports: who spent what in a window, and what changed since the window before.

Answered from the rollups only, never from raw rows: totals read ``rollup_hourly`` rows of
``dim='total'`` (one per hour), a breakdown reads that dimension's rows (hours x distinct
values), ``--by user`` reads ``rollup_daily_user``. The cost of a report therefore depends on
the window's length and the dimension's cardinality, not on the number of calls.

Windows snap outward to whole UTC hours, the rollups' grain: the start is floored and the end
ceiled to the hour, so ``--since 7d`` at 14:23 covers 14:00 seven days ago up to 15:00 today
(the hour in progress included). A ``user`` breakdown snaps to whole UTC days instead, the
grain of the user rollup, and its totals use the same day-aligned window so shares add up.
The previous window has the same length and ends where the window starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from daytwo.core.errors import InvalidRequest
from daytwo.core.money import nanos_to_usd
from daytwo.ledger.schema import DAY, HOUR, REPORT_DIMS, rollup_daily_user, rollup_hourly
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over one window. Money is in nano-dollars; ``cost_nanousd`` excludes unpriced calls."""

    calls: int = 0
    cost_nanousd: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    errors: int = 0
    failed_calls: int = 0
    failed_cost_nanousd: int = 0
    retried_calls: int = 0
    retried_cost_nanousd: int = 0
    unattributed_calls: int = 0
    unattributed_cost_nanousd: int = 0
    #: Upstream attempts beyond the first, over retried calls (``retried_calls`` of them).
    extra_attempts: int = 0
    #: Attempts of retried calls that failed, and what they cost.
    failed_attempts: int = 0
    failed_attempt_cost_nanousd: int = 0
    #: Calls answered from the response cache, and Idempotency-Key replays.
    cache_hits: int = 0
    replays: int = 0
    #: What the cache hits and replays would have cost upstream.
    saved_nanousd: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            f.name.removesuffix("_nanousd"): (
                money(getattr(self, f.name))
                if f.name.endswith("_nanousd")
                else getattr(self, f.name)
            )
            for f in fields(self)
        }


_TOTAL_METRICS = tuple(f.name for f in fields(Totals))
_GROUP_METRICS = ("calls", "cost_nanousd", "input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One value of the breakdown dimension (``key`` None: calls that had no value)."""

    key: str | None
    cost_nanousd: int
    calls: int
    input_tokens: int
    output_tokens: int
    previous_cost_nanousd: int
    previous_calls: int
    #: This group's part of the window's cost (None when the window cost nothing).
    share: float | None

    @property
    def change_nanousd(self) -> int:
        return self.cost_nanousd - self.previous_cost_nanousd

    @property
    def change_pct(self) -> float | None:
        return pct_change(self.cost_nanousd, self.previous_cost_nanousd)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "cost": money(self.cost_nanousd),
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "share": _round(self.share),
            "previous_cost": money(self.previous_cost_nanousd),
            "previous_calls": self.previous_calls,
            "change": money(self.change_nanousd),
            "change_pct": _round(self.change_pct),
        }


@dataclass(frozen=True, slots=True)
class SpendReport:
    by: str
    start: datetime
    end: datetime
    previous_start: datetime
    totals: Totals
    previous: Totals
    #: The ``limit`` most expensive groups of the window, most expensive first.
    groups: tuple[GroupRow, ...]
    #: Every other group of the window, summed (None when there is none).
    other: GroupRow | None
    #: How many groups had calls in the window.
    group_count: int
    #: The groups whose cost changed most (either way), largest absolute change first.
    drivers: tuple[GroupRow, ...]

    @property
    def unpriced_calls(self) -> int:
        return self.totals.unpriced_calls

    @property
    def change_pct(self) -> float | None:
        return pct_change(self.totals.cost_nanousd, self.previous.cost_nanousd)

    @property
    def failed_cost_share(self) -> float | None:
        return _ratio(self.totals.failed_cost_nanousd, self.totals.cost_nanousd)

    @property
    def retried_cost_share(self) -> float | None:
        return _ratio(self.totals.retried_cost_nanousd, self.totals.cost_nanousd)

    @property
    def unattributed_call_share(self) -> float | None:
        return _ratio(self.totals.unattributed_calls, self.totals.calls)

    def to_json(self) -> dict[str, Any]:
        """A plain dict: money as ``{"usd": "<exact decimal>", "nanos": <int>}``."""
        t, p = self.totals, self.previous
        return {
            "by": self.by,
            "window": {"start": _iso(self.start), "end": _iso(self.end)},
            "previous_window": {"start": _iso(self.previous_start), "end": _iso(self.start)},
            "totals": t.to_json(),
            "previous_totals": p.to_json(),
            "change": {
                "cost": money(t.cost_nanousd - p.cost_nanousd),
                "cost_pct": _round(self.change_pct),
                "calls": t.calls - p.calls,
                "calls_pct": _round(pct_change(t.calls, p.calls)),
            },
            "unpriced_calls": self.unpriced_calls,
            "failed_cost_share": _round(self.failed_cost_share),
            "retried_cost_share": _round(self.retried_cost_share),
            "unattributed_calls": t.unattributed_calls,
            "unattributed_call_share": _round(self.unattributed_call_share),
            "group_count": self.group_count,
            "groups": [g.to_json() for g in self.groups],
            "other": None if self.other is None else self.other.to_json(),
            "top_drivers": [g.to_json() for g in self.drivers],
        }


def spend_report(
    store: LedgerStore, *, start: datetime, end: datetime, by: str, limit: int = 10
) -> SpendReport:
    """Spend in [start, end) broken down ``by`` one of :data:`REPORT_DIMS`, compared with the
    window of equal length before it. Naive datetimes are UTC. See the module docstring for how
    windows snap to hours (days for ``by="user"``)."""
    if by not in REPORT_DIMS:
        raise InvalidRequest(
            f"cannot group spend by `{by}` (choose from {', '.join(REPORT_DIMS)})", param="by"
        )
    if limit < 1:
        raise InvalidRequest("limit must be at least 1", param="limit")
    lo, hi = snap_window(start, end, DAY if by == "user" else HOUR)
    prev = lo - (hi - lo)
    with store.connect() as conn:
        totals, previous = _totals(conn, prev, lo, hi)
        current, before = _groups(conn, by, prev, lo, hi)

    cost = totals.cost_nanousd
    rows = [
        GroupRow(
            key=key or None,
            cost_nanousd=cur.get("cost_nanousd", 0),
            calls=cur.get("calls", 0),
            input_tokens=cur.get("input_tokens", 0),
            output_tokens=cur.get("output_tokens", 0),
            previous_cost_nanousd=before.get(key, {}).get("cost_nanousd", 0),
            previous_calls=before.get(key, {}).get("calls", 0),
            share=_ratio(cur.get("cost_nanousd", 0), cost),
        )
        for key, cur in ((k, current.get(k, {})) for k in current.keys() | before.keys())
    ]
    active = sorted(
        (r for r in rows if r.calls), key=lambda r: (-r.cost_nanousd, -r.calls, r.key or "")
    )
    rest = active[limit:]
    drivers = sorted(
        (r for r in rows if r.change_nanousd), key=lambda r: (-abs(r.change_nanousd), r.key or "")
    )
    return SpendReport(
        by=by,
        start=_dt(lo),
        end=_dt(hi),
        previous_start=_dt(prev),
        totals=totals,
        previous=previous,
        groups=tuple(active[:limit]),
        other=_sum_rows(rest, cost) if rest else None,
        group_count=len(active),
        drivers=tuple(drivers[:limit]),
    )


def trailing_window(
    length: timedelta, *, by: str = "project", now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The last ``length`` up to now, in whole hours (days for ``by="user"``) and including
    the one in progress: ``--since 7d`` at 14:23 is 15:00 seven days ago up to 15:00 today,
    exactly 7 days. A length that is not whole units is rounded up (``30m`` → 1 hour)."""
    unit = DAY if by == "user" else HOUR
    end = math.ceil(_ts(now or datetime.now(UTC)) / unit) * unit
    units = max(1, math.ceil(length.total_seconds() / unit))
    return _dt(end - units * unit), _dt(end)


def snap_window(start: datetime, end: datetime, unit: int = HOUR) -> tuple[int, int]:
    """[start, end) as Unix seconds, widened to whole ``unit`` seconds (floor start, ceil end)."""
    lo, hi = _ts(start), _ts(end)
    if hi <= lo:
        raise InvalidRequest("the report window must end after it starts")
    return math.floor(lo / unit) * unit, math.ceil(hi / unit) * unit


def money(nanos: int) -> dict[str, Any]:
    """Exact money for JSON: USD as a decimal string with 9 places, and integer nanos."""
    return {"usd": f"{nanos_to_usd(nanos):.9f}", "nanos": nanos}


def pct_change(now: int, before: int) -> float | None:
    """Percent change from ``before`` to ``now``; None when ``before`` is 0."""
    return None if before == 0 else (now - before) * 100 / before


def _totals(conn: sa.Connection, prev: int, lo: int, hi: int) -> tuple[Totals, Totals]:
    t = rollup_hourly
    query = sa.select(*_split_sums(t, t.c.hour_start, lo, _TOTAL_METRICS)).where(
        t.c.dim == "total", t.c.hour_start >= prev, t.c.hour_start < hi
    )
    row = conn.execute(query).mappings().one()
    cur, before = _unsplit(row, _TOTAL_METRICS)
    return Totals(**cur), Totals(**before)


def _groups(
    conn: sa.Connection, by: str, prev: int, lo: int, hi: int
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    if by == "user":
        t = rollup_daily_user
        time_col, key_col = t.c.day_start, t.c.user
        where = [time_col >= prev, time_col < hi]
    else:
        t = rollup_hourly
        time_col, key_col = t.c.hour_start, t.c.value
        where = [t.c.dim == by, time_col >= prev, time_col < hi]
    query = (
        sa.select(key_col.label("key"), *_split_sums(t, time_col, lo, _GROUP_METRICS))
        .where(*where)
        .group_by(key_col)
    )
    current: dict[str, dict[str, int]] = {}
    before: dict[str, dict[str, int]] = {}
    for row in conn.execute(query).mappings():
        cur, old = _unsplit(row, _GROUP_METRICS)
        if cur["calls"]:
            current[row["key"]] = cur
        if old["calls"]:
            before[row["key"]] = old
    return current, before


def _split_sums(
    t: sa.Table, time_col: sa.ColumnElement[int], lo: int, metrics: tuple[str, ...]
) -> list[sa.Label[Any]]:
    """SUM of each metric, once for rows at/after ``lo`` (cur_) and once before it (prev_)."""
    in_window = time_col >= lo
    out = []
    for m in metrics:
        out.append(sa.func.sum(sa.case((in_window, t.c[m]), else_=0)).label(f"cur_{m}"))
        out.append(sa.func.sum(sa.case((in_window, 0), else_=t.c[m])).label(f"prev_{m}"))
    return out


def _unsplit(row: sa.RowMapping, metrics: tuple[str, ...]) -> tuple[dict[str, int], dict[str, int]]:
    # PostgreSQL's SUM(bigint) is numeric (a Decimal); an empty range sums to NULL.
    cur = {m: int(row[f"cur_{m}"] or 0) for m in metrics}
    before = {m: int(row[f"prev_{m}"] or 0) for m in metrics}
    return cur, before


def _sum_rows(rows: list[GroupRow], total_cost: int) -> GroupRow:
    cost = sum(r.cost_nanousd for r in rows)
    return GroupRow(
        key=None,
        cost_nanousd=cost,
        calls=sum(r.calls for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        previous_cost_nanousd=sum(r.previous_cost_nanousd for r in rows),
        previous_calls=sum(r.previous_calls for r in rows),
        share=_ratio(cost, total_cost),
    )


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _ts(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
