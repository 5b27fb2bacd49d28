"""Forecasts on synthetic ledgers with a known weekly season and trend (real SQLite; the series
loader also on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from daytwo.config.spend import BudgetConfig
from daytwo.finops.forecast import forecast
from daytwo.finops.forecast_data import load_series
from daytwo.finops.forecast_model import backtest, fit
from daytwo.finops.forecast_synth import WEEKDAYS, Flow, seasonal_records
from daytwo.ledger.schema import DAY
from daytwo.ledger.store import LedgerStore, open_store

#: 2026-01-10T00:00:00Z, a Saturday; the ledgers hold the 8 weeks before it.
NOW = datetime(2026, 1, 10, tzinfo=UTC).timestamp()
START = NOW - 56 * DAY
FLAT_DAY = (1.0,) * 7
FLAT_HOUR = (1 / 24,) * 24


def _ledger(
    path: Path,
    flows: Sequence[Flow],
    *,
    start: float = START,
    end: float = NOW,
    url: str | None = None,
) -> LedgerStore:
    store = open_store(url or f"sqlite:///{path / 'ledger.db'}")
    batch = []
    for r in seasonal_records(flows, start=start, end=end, seed=7):
        batch.append(r)
        if len(batch) == 2_000:
            store.insert_batch(batch)
            batch = []
    store.insert_batch(batch)
    return store


@pytest.fixture
def seasonal(tmp_path: Path) -> Iterator[LedgerStore]:
    flows = [
        Flow("triage", "support", 100.0, growth=0.01, noise=0.1),
        Flow("search", "search", 40.0, noise=0.1),
    ]
    store = _ledger(tmp_path, flows)
    yield store
    store.close()


def _planted(usd: float, growth: float, day: int) -> float:
    """The planted daily dollars of day ``day`` after START (START is a Thursday + 2 = Sat)."""
    weekday = int((START + day * DAY) // DAY + 3) % 7
    return usd * (1 + growth * day) * WEEKDAYS[weekday]


def test_fit_recovers_weekly_season_and_trend(seasonal: LedgerStore) -> None:
    f = forecast(seasonal, by="workflow", now=NOW, horizon_days=14)
    triage = next(s for s in f.series if s.key == "triage")
    assert triage.model == "holt-winters weekly"
    assert triage.weekday is not None
    # The weekday profile: within 0.06 of the planted factors (Monday first).
    assert max(abs(a - b) for a, b in zip(triage.weekday, WEEKDAYS, strict=True)) < 0.06
    # The next two weeks: each day within 8 % of the planted trend x season.
    for i, (_, band) in enumerate(triage.days):
        want = _planted(100.0, 0.01, 56 + i)
        assert abs(band.mean / 1e9 - want) / want < 0.08, (i, band.mean / 1e9, want)
        assert band.lo95 <= band.lo80 <= band.mean <= band.hi80 <= band.hi95
    # The growth is recovered: the second forecast week costs ~ 7 % more than the first.
    week1 = sum(b.mean for _, b in triage.days[:7])
    week2 = sum(b.mean for _, b in triage.days[7:14])
    planted = sum(_planted(100.0, 0.01, 63 + i) for i in range(7)) / sum(
        _planted(100.0, 0.01, 56 + i) for i in range(7)
    )
    assert abs(week2 / week1 - planted) < 0.03
    # A steady series: no trend to speak of.
    search = next(s for s in f.series if s.key == "search")
    s1 = sum(b.mean for _, b in search.days[:7])
    s2 = sum(b.mean for _, b in search.days[7:14])
    assert abs(s2 / s1 - 1) < 0.03


def test_month_end_is_month_to_date_plus_the_forecast(seasonal: LedgerStore) -> None:
    f = forecast(seasonal, by="workflow", now=NOW, horizon_days=30)
    triage = next(s for s in f.series if s.key == "triage")
    # 2026-01-01 .. 01-09: nine whole days already spent.
    spent = sum(
        int(c)
        for c in load_series(seasonal, "workflow", start=int(NOW - 9 * DAY), now=NOW - 1)[
            "triage"
        ].cost
    )
    assert triage.month_to_date == spent
    rest = sum(b.mean for d, b in triage.days if d.month == 1)  # Jan 10 .. 31
    assert triage.month_end is not None
    assert abs(triage.month_end.mean - (spent + rest)) / (spent + rest) < 0.002
    assert triage.month_end.lo80 < triage.month_end.mean < triage.month_end.hi80


def _series(n: int, *, growth: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    d = np.arange(n)
    w = np.array(WEEKDAYS)[(d + 2) % 7]
    return 100 * (1 + growth * d) * w * np.exp(rng.normal(0, noise, n))


def test_backtest_interval_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(11)
    inside80 = inside95 = points = 0
    mapes = []
    for i in range(8):
        y = _series(56, growth=0.01 * (i % 3), noise=0.05 + 0.05 * (i % 2), rng=rng)
        bt = backtest(y, horizon=7, origins=4)
        assert bt.origins == 4
        points += bt.points
        inside80 += round(bt.coverage[0.80] * bt.points)
        inside95 += round(bt.coverage[0.95] * bt.points)
        assert bt.mape is not None
        mapes.append(bt.mape)
    assert points == 8 * 4 * 7
    assert 0.70 <= inside80 / points <= 0.90
    assert 0.88 <= inside95 / points <= 1.0
    assert float(np.mean(mapes)) < 0.08


def test_short_histories_degrade_to_simpler_models_with_wider_intervals() -> None:
    rng = np.random.default_rng(3)
    y = _series(56, growth=0.0, noise=0.1, rng=rng)
    full = fit(y, 7)
    trend = fit(y[-12:], 7)
    mean = fit(y[-5:], 7)
    assert full is not None and trend is not None and mean is not None
    assert (full.model, full.note) == ("holt-winters weekly", None)
    assert trend.model == "holt trend" and "no weekly season" in (trend.note or "")
    assert mean.model == "mean" and "widened" in (mean.note or "")
    assert mean.mean[0] == pytest.approx(y[-5:].mean())

    def width(f: object) -> float:
        lo, hi = f.interval(0.80)  # type: ignore[attr-defined]
        return float(np.mean(hi - lo))

    assert width(mean) > width(full)
    assert fit(y[-2:], 7) is None


def test_a_series_without_enough_history_says_so(tmp_path: Path) -> None:
    # Three days of spend: the first may be partial, two whole days are left.
    store = _ledger(tmp_path, [Flow("new", "p", 10.0)], start=NOW - 3 * DAY)
    try:
        f = forecast(store, by="workflow", now=NOW)
    finally:
        store.close()
    (s,) = f.series
    assert s.model is None and s.horizon is None
    assert s.note == "2 day(s) of history: too little to forecast"


def test_budget_exhaustion_date_by_hand(tmp_path: Path, db_url: str) -> None:
    # Exactly $1 every hour ($24 a day) for 8 weeks: 200,000 input + 50,000 output tokens of
    # gpt-4o ($2.50 / $10 per M) per hour.
    flows = [Flow("steady", "acme", 24.0, noise=0.0, weekdays=FLAT_DAY, hours=FLAT_HOUR)]
    store = _ledger(tmp_path, flows, url=db_url)
    budgets = [
        # Month: Jan 1-9 spent = 9 x 24 = $216; $284 more is 284 hours from Sat Jan 10 00:00,
        # 11 days 20 hours: Wed Jan 21 20:00. By month-end: 216 + 22 x 24 = $744.
        BudgetConfig(name="month", scope={}, window="month", usd="500"),
        # Week (Monday Jan 5): 5 x 24 = $120 spent; $30 more is Sun Jan 11 06:00; the week
        # ends Mon Jan 12 with 120 + 48 = $168.
        BudgetConfig(name="week", scope={"project": "acme"}, window="week", usd="150"),
        # Never reached: $744 < $800.
        BudgetConfig(name="roomy", scope={"workflow": "steady"}, window="month", usd="800"),
        BudgetConfig(name="each", scope={"project": "*"}, window="day", usd="10"),
        BudgetConfig(name="hourly", scope={}, window="hour", usd="10"),
    ]
    try:
        f = forecast(store, by="project", now=NOW, budgets=budgets)
    finally:
        store.close()
    month, week, roomy, each, hourly = f.budgets
    assert month.spent == 216 * 10**9
    assert month.exhaustion == datetime(2026, 1, 21, 20, tzinfo=UTC)
    assert month.projected is not None and month.projected.mean == 744 * 10**9
    assert month.probability == 1.0
    assert week.spent == 120 * 10**9
    assert week.exhaustion == datetime(2026, 1, 11, 6, tzinfo=UTC)
    assert week.projected is not None and week.projected.mean == 168 * 10**9
    assert roomy.exhaustion is None and roomy.probability == 0.0
    assert each.exhaustion is None and "several dimensions" in (each.note or "")
    assert hourly.projected is None and "too short" in (hourly.note or "")


def test_what_if_reprices_the_series_by_hand(tmp_path: Path) -> None:
    from daytwo.config.schema import PricingConfig
    from daytwo.finops.forecast_whatif import parse_what_if
    from daytwo.pricing.catalog import PriceBook

    flows = [
        Flow("triage", "support", 24.0, noise=0.0, weekdays=FLAT_DAY, hours=FLAT_HOUR),
        Flow("other", "support", 12.0, noise=0.0, weekdays=FLAT_DAY, hours=FLAT_HOUR),
    ]
    store = _ledger(tmp_path, flows)
    try:
        f = forecast(
            store,
            by="workflow",
            now=NOW,
            horizon_days=10,
            what_if=parse_what_if("workflow=triage model=gpt-4o-mini"),
            prices=PriceBook.from_config(PricingConfig()),
        )
    finally:
        store.close()
    assert f.what_if is not None
    # Per hour 200,000 input tokens at $0.15/M + 50,000 output at $0.60/M = $0.06: $1.44 a day.
    assert f.what_if.changed.days[0][1].mean == 1_440_000_000
    assert f.what_if.baseline.days[0][1].mean == 24 * 10**9
    triage = next(s for s in f.series if s.key == "triage")
    assert triage.horizon is not None and triage.horizon.mean == 10 * 1_440_000_000
    # The total: $12 + $1.44 a day instead of $36.
    assert f.total.days[0][1].mean == 13_440_000_000
    assert f.what_if.baseline_total.days[0][1].mean == 36 * 10**9
    assert f.what_if.price_ref.endswith("openai/gpt-4o-mini")


def test_what_if_selects_by_model_with_an_arrow() -> None:
    from daytwo.finops.forecast_whatif import WhatIf, parse_what_if

    assert parse_what_if("model=gpt-4o->gpt-4o-mini") == WhatIf("model", "gpt-4o", "gpt-4o-mini")
    assert parse_what_if("project=acme model=gpt-4o-mini") == WhatIf(
        "project", "acme", "gpt-4o-mini"
    )


def test_series_load_the_same_on_both_databases(db_url: str) -> None:
    store = open_store(db_url)
    try:
        flows = [Flow("a", "p", 48.0, noise=0.0, weekdays=FLAT_DAY, hours=FLAT_HOUR)]
        store.insert_batch(list(seasonal_records(flows, start=NOW - 3 * DAY, end=NOW, seed=1)))
        series = load_series(store, "workflow", start=int(NOW - 4 * DAY), now=NOW + 1)
    finally:
        store.close()
    a = series["a"]
    assert a.cost.tolist() == [0, 48 * 10**9, 48 * 10**9, 48 * 10**9, 0]
    assert a.hours.tolist() == [6 * 10**9] * 24
    assert a.tokens["input_tokens"].tolist()[1] == 24 * 400_000


def test_a_jump_just_before_the_forecast_is_capped_not_extrapolated() -> None:
    # A workflow moved to a 20x pricier model for its last 5 days.
    rng = np.random.default_rng(9)
    y = _series(56, growth=0.0, noise=0.05, rng=rng)
    y[-5:] *= 20
    f = fit(y, 30)
    assert f is not None
    ceiling = 3 * y[-14:].max()
    assert np.all(np.isfinite(f.paths))
    assert f.paths.max() <= ceiling
    assert f.mean.max() <= ceiling
    assert "capped at 3x the highest of the last 14" in (f.note or "")


def test_the_weekly_review_finds_the_month_end_projection(seasonal: LedgerStore) -> None:
    """The weekly review's seam (finops/weekly_forecast.py) finds this module's function, and
    it agrees with ``daytwo forecast --by project``."""
    from daytwo.finops.forecast import month_end_projection
    from daytwo.finops.weekly_forecast import find_forecaster

    assert find_forecaster() is month_end_projection
    when = datetime.fromtimestamp(NOW, UTC)
    got = month_end_projection(seasonal, now=when, budgets=(), timezone="UTC")
    f = forecast(seasonal, by="project", now=NOW, horizon_days=1)
    assert f.total.month_end is not None
    assert got.total.month_to_date_nanousd == f.total.month_to_date
    assert (got.total.month_end_nanousd, got.total.low_nanousd, got.total.high_nanousd) == (
        f.total.month_end.mean,
        f.total.month_end.lo80,
        f.total.month_end.hi80,
    )
    assert {p.key for p in got.projects} == {"support", "search"}
    assert got.total.coverage == 0.8 and got.exhaustion == ()
