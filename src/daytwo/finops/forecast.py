"""Spend forecasts per series, with prediction intervals, month-end projections and budget
exhaustion dates (``daytwo forecast``; docs/finops.md, "Forecasts").

A forecast reads the ledger's hourly rollups (:mod:`daytwo.finops.forecast_data`), fits each
series' whole UTC days (:mod:`daytwo.finops.forecast_model`), places the fit in time
(:mod:`daytwo.finops.forecast_project`) and projects the budgets
(:mod:`daytwo.finops.forecast_budgets`).

Only the ``limit`` most expensive values of the dimension (over the last four weeks) are fitted
one by one; the rest are summed into one ``(other)`` series, so the work is bounded whatever the
dimension's cardinality. The total is fitted on its own, not summed from the series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from daytwo.config.spend import BudgetConfig
from daytwo.control.windows import window_at
from daytwo.core.errors import InvalidRequest
from daytwo.finops.forecast_budgets import PROJECTED, BudgetProjection, project_budget
from daytwo.finops.forecast_data import Series, load_series
from daytwo.finops.forecast_model import LEVELS, Backtest, backtest
from daytwo.finops.forecast_project import Band, Projector, dt, iso, nanos, project, trim, usd
from daytwo.finops.forecast_whatif import WhatIf, price_of, repriced, shifted
from daytwo.finops.weekly_forecast import Exhaustion, MonthEnd, Projection
from daytwo.ledger.schema import DAY
from daytwo.ledger.store import LedgerStore
from daytwo.pricing.catalog import PriceBook

#: Dimensions a forecast can be broken down by (each kept in ``rollup_hourly``).
FORECAST_DIMS = ("project", "workflow", "model", "provider", "feature", "agent", "environment")
#: The recent days that rank the series (which ones are fitted on their own).
RANK_DAYS = 28
OTHER = "(other)"


@dataclass(frozen=True, slots=True)
class SeriesForecast:
    """One series: what it cost, what it is expected to cost, and how sure that is."""

    key: str | None
    model: str | None
    note: str | None
    history_days: int
    #: Cost of the last 7 full days (nano-dollars).
    last_7d: int
    #: Per forecast day (today first): the day and its band.
    days: tuple[tuple[date, Band], ...]
    #: The horizon's days summed.
    horizon: Band | None
    month_to_date: int
    #: Spend by the end of the current UTC month: so far plus the rest of it.
    month_end: Band | None
    #: The forecast's weekday profile (Monday first): each weekday's share of a forecast week,
    #: times 7 (1.0 everywhere: no weekly pattern).
    weekday: tuple[float, ...] | None = None
    backtest: Backtest | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "model": self.model,
            "note": self.note,
            "history_days": self.history_days,
            "last_7d": usd(self.last_7d),
            "month_to_date": usd(self.month_to_date),
            "month_end": None if self.month_end is None else self.month_end.to_json(),
            "horizon": None if self.horizon is None else self.horizon.to_json(),
            "weekday": None if self.weekday is None else [round(w, 4) for w in self.weekday],
            "days": [{"date": d.isoformat(), **b.to_json()} for d, b in self.days],
            "backtest": None if self.backtest is None else _backtest_json(self.backtest),
        }


@dataclass(frozen=True, slots=True)
class WhatIfResult:
    """A scenario's effect: the selected series and the total, as they are and as changed (the
    forecast's own total is the changed one)."""

    label: str
    price_ref: str
    baseline_total: SeriesForecast
    baseline: SeriesForecast
    changed: SeriesForecast

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.label,
            "price_ref": self.price_ref,
            "baseline_total": self.baseline_total.to_json(),
            "selected": self.baseline.to_json(),
            "selected_changed": self.changed.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Forecast:
    by: str
    now: datetime
    history_start: datetime
    horizon_days: int
    total: SeriesForecast
    series: tuple[SeriesForecast, ...]
    budgets: tuple[BudgetProjection, ...] = ()
    #: How many values of the dimension had spend in the history.
    series_count: int = 0
    what_if: WhatIfResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def backtest_overall(self) -> dict[str, Any] | None:
        """The series' backtests pooled: MAPE over all their days, coverage over all points."""
        tests = [s.backtest for s in self.series if s.backtest is not None and s.backtest.points]
        if not tests:
            return None
        points = sum(b.points for b in tests)
        errors = [(b.mape, b.points) for b in tests if b.mape is not None]
        weight = sum(n for _, n in errors)
        return {
            "series": len(tests),
            "points": points,
            "mape": round(sum(m * n for m, n in errors) / weight, 4) if weight else None,
            "coverage": {
                f"p{int(level * 100)}": round(
                    sum(b.coverage[level] * b.points for b in tests) / points, 4
                )
                for level in LEVELS
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "now": iso(self.now),
            "history_start": iso(self.history_start),
            "horizon_days": self.horizon_days,
            "total": self.total.to_json(),
            "series_count": self.series_count,
            "series": [s.to_json() for s in self.series],
            "budgets": [b.to_json() for b in self.budgets],
            "what_if": None if self.what_if is None else self.what_if.to_json(),
            "backtest_overall": self.backtest_overall,
            "notes": list(self.notes),
        }


def forecast(
    store: LedgerStore,
    *,
    by: str = "project",
    horizon_days: int = 30,
    since_days: int = 56,
    now: float | None = None,
    limit: int = 10,
    budgets: Sequence[BudgetConfig] = (),
    timezone: str = "UTC",
    run_backtest: bool = False,
    what_if: WhatIf | None = None,
    prices: PriceBook | None = None,
) -> Forecast:
    """Forecast spend ``horizon_days`` ahead per value of ``by``, fitted on ``since_days`` whole
    UTC days before today; project each budget. With ``what_if``, the series it selects is
    re-priced with ``prices`` (:mod:`daytwo.finops.forecast_whatif`) before anything is fitted."""
    if by not in FORECAST_DIMS:
        raise InvalidRequest(
            f"cannot forecast by `{by}` (choose from {', '.join(FORECAST_DIMS)})", param="by"
        )
    if horizon_days < 1 or since_days < 1:
        raise InvalidRequest("the horizon and the history must be at least one day")
    at = datetime.now(UTC).timestamp() if now is None else now
    today = int(at) // DAY * DAY
    start = today - since_days * DAY
    month_start, month_end = _month(at)
    tz = ZoneInfo(timezone)
    windows = [window_at(b.window, at, tz) for b in budgets if b.window in PROJECTED]
    steps = max(
        horizon_days,
        math.ceil((month_end - today) / DAY),
        *(math.ceil((w.end - today) / DAY) for w in windows),
    )

    # From the month's start too, when the history begins later (month-to-date).
    load_from = min(start, month_start)
    total = load_series(store, "total", start=load_from, now=at).get("")
    groups = load_series(store, by, start=load_from, now=at)
    change = _change(store, what_if, prices, start=load_from, now=at)
    baseline_total = total
    if change is not None:
        total = change.apply("total", total)
        groups = {k: change.apply_to(by, s) for k, s in groups.items()}
    ranked = sorted(groups.values(), key=lambda s: (-int(s.full_days[-RANK_DAYS:].sum()), s.key))
    shown, rest = ranked[:limit], ranked[limit:]
    if rest:
        shown.append(_sum_series(OTHER, rest))

    def one(s: Series | None, key: str | None) -> tuple[SeriesForecast, Projector | None]:
        span = _Span(at, today, steps, since_days, horizon_days, month_start, month_end)
        return _series(s, key, span, run_backtest)

    total_fc, _ = one(total, None)
    series = [one(s, s.key)[0] for s in shown]
    adjust = None if change is None else change.apply
    projections = tuple(
        project_budget(store, b, at, today, steps, tz, start, adjust) for b in budgets
    )
    scenario = None
    notes: list[str] = []
    if change is not None:
        assert what_if is not None
        scenario = WhatIfResult(
            label=what_if.label,
            price_ref=change.price_ref,
            baseline_total=one(baseline_total, None)[0],
            baseline=one(change.before, what_if.value)[0],
            changed=one(change.after, what_if.value)[0],
        )
        if by != what_if.dim:
            notes.append(
                f"what-if: the total and {what_if.dim}={what_if.value} are re-priced; the "
                f"{by} series are shown unchanged (the rollups keep each dimension apart)"
            )
    return Forecast(
        by=by,
        now=dt(at),
        history_start=dt(start),
        horizon_days=horizon_days,
        total=total_fc,
        series=tuple(series),
        budgets=projections,
        series_count=len(groups),
        what_if=scenario,
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class _Change:
    what_if: WhatIf
    price_ref: str
    before: Series
    after: Series

    def apply(self, dim: str, s: Series | None) -> Series | None:
        return None if s is None else self.apply_to(dim, s)

    def apply_to(self, dim: str, s: Series) -> Series:
        if dim == "total" or (dim == self.what_if.dim and s.key == self.what_if.value):
            return shifted(s, self.before, self.after)
        return s


def _change(
    store: LedgerStore, what_if: WhatIf | None, prices: PriceBook | None, *, start: int, now: float
) -> _Change | None:
    if what_if is None:
        return None
    if prices is None:
        raise InvalidRequest("--what-if needs a price catalog")
    entry = price_of(what_if, prices)
    found = load_series(store, what_if.dim, start=start, now=now, value=what_if.value)
    sel = found.get(what_if.value)
    if sel is None:
        raise InvalidRequest(f"--what-if: no spend by {what_if.dim}={what_if.value} in the history")
    return _Change(what_if, entry.ref, sel, repriced(sel, entry))


@dataclass(frozen=True, slots=True)
class _Span:
    now: float
    today: int
    steps: int
    since_days: int
    horizon_days: int
    month_start: int
    month_end: int


def _series(
    s: Series | None, key: str | None, span: _Span, run_backtest: bool
) -> tuple[SeriesForecast, Projector | None]:
    now, today, steps, since_days = span.now, span.today, span.steps, span.since_days
    horizon_days, month_start, month_end = span.horizon_days, span.month_start, span.month_end
    if s is None:
        return SeriesForecast(key, None, "no spend in the history", 0, 0, (), None, 0, None), None
    days = trim(s.full_days[-since_days:])
    p = project(s, now=now, steps=steps, since_days=since_days)
    mtd = int(s.cost[(month_start - (today - (len(s.cost) - 1) * DAY)) // DAY :].sum())
    last_7d = int(s.full_days[-7:].sum())
    if p is None:
        note = f"{len(days)} day(s) of history: too little to forecast"
        return SeriesForecast(key, None, note, len(days), last_7d, (), None, mtd, None), None
    f = p.fit
    lo80, hi80 = f.interval(0.80)
    lo95, hi95 = f.interval(0.95)
    out = tuple(
        (
            dt(today + i * DAY).date(),
            Band(
                nanos(f.mean[i]),
                nanos(lo80[i]),
                nanos(hi80[i]),
                nanos(lo95[i]),
                nanos(hi95[i]),
            ),
        )
        for i in range(horizon_days)
    )
    # The horizon from now on: the rest of today, then whole days.
    h_mean, h_paths = p.between(now, today + horizon_days * DAY)
    m_mean, m_paths = p.between(now, month_end)
    weekday = None
    if f.steps >= 7 and f.mean[:7].sum() > 0:
        week = f.mean[:7] / f.mean[:7].mean()
        first = dt(today).weekday()
        weekday = tuple(float(week[(d - first) % 7]) for d in range(7))
    bt = backtest(days / 1e9) if run_backtest else None
    return (
        SeriesForecast(
            key=key,
            model=f.model,
            note=f.note,
            history_days=len(days),
            last_7d=last_7d,
            days=out,
            horizon=Band.of(h_mean, h_paths),
            month_to_date=mtd,
            month_end=Band.of(m_mean, m_paths, offset=mtd),
            weekday=weekday,
            backtest=bt,
        ),
        p,
    )


def _sum_series(key: str, many: list[Series]) -> Series:
    return Series(
        key=key,
        cost=np.sum([s.cost for s in many], axis=0),
        tokens={k: np.sum([s.tokens[k] for s in many], axis=0) for k in many[0].tokens},
        hours=np.sum([s.hours for s in many], axis=0),
    )


def _month(now: float) -> tuple[int, int]:
    d = dt(now)
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    end = datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def _backtest_json(b: Backtest) -> dict[str, Any]:
    return {
        "model": b.model,
        "origins": b.origins,
        "horizon_days": b.horizon,
        "points": b.points,
        "mape": None if b.mape is None else round(b.mape, 4),
        "coverage": {f"p{int(level * 100)}": round(c, 4) for level, c in b.coverage.items()},
    }


__all__ = ["FORECAST_DIMS", "LEVELS", "Band", "BudgetProjection", "Forecast", "SeriesForecast"]


def month_end_projection(
    store: LedgerStore,
    *,
    now: datetime,
    budgets: Sequence[BudgetConfig],
    timezone: str,
) -> MonthEnd:
    """The weekly review's forecast (finops/weekly_forecast.py): spend by the end of the
    month of ``now`` for the total and per project, with the 80 % interval, and each budget's
    projected exhaustion."""
    fc = forecast(
        store, by="project", horizon_days=1, now=now.timestamp(), budgets=budgets,
        timezone=timezone,
    )  # fmt: skip

    def projection(s: SeriesForecast) -> Projection:
        band = s.month_end
        mtd = s.month_to_date
        return Projection(
            key=s.key,
            month_to_date_nanousd=mtd,
            month_end_nanousd=mtd if band is None else band.mean,
            low_nanousd=mtd if band is None else band.lo80,
            high_nanousd=mtd if band is None else band.hi80,
            coverage=0.8,
        )

    return MonthEnd(
        total=projection(fc.total),
        projects=tuple(projection(s) for s in fc.series if s.key != OTHER),
        exhaustion=tuple(Exhaustion(b.name, b.exhaustion) for b in fc.budgets),
    )
