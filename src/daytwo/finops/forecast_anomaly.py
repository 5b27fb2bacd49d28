"""Spend anomalies: the hours in which a series spent outside what its forecast allowed.

For the last :data:`LOOKBACK_S` of complete UTC hours, each series' daily model is fitted on the
whole days before that stretch (so the hours it judges never shaped the fit) and each hour gets
a band: the day's 95 % forecast interval times the hour's share of a day (the series'
hour-of-day profile), widened by how far single hours strayed from that profile in the history
(their 2.5 % and 97.5 % quantiles). The value is how many of the most recent hours in a row lie
outside their band: ``spend_anomaly`` alerts fire when it passes the rule's threshold, so a
workflow whose spend triples is flagged after ``threshold + 1`` hours (docs/finops.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daytwo.finops.forecast_data import Series, load_series
from daytwo.finops.forecast_model import fit
from daytwo.ledger.schema import DAY, HOUR
from daytwo.ledger.store import LedgerStore

LOOKBACK_S = 24 * HOUR
#: Quantiles of single hours around the hour profile.
HOUR_QUANTILES = (2.5, 97.5)
#: Series checked per evaluation (the most expensive), bounding the work.
MAX_SERIES = 20


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One series' most recent hours against their bands (money in nano-dollars)."""

    key: str
    #: Complete hours in a row, up to the last one, outside their band (0: the last was in).
    hours: int
    #: ``above`` or ``below`` (the last hour's side), None when it was inside.
    direction: str | None
    last_hour: int
    actual: int
    expected: int
    low: int
    high: int


def anomalies(
    store: LedgerStore,
    dim: str,
    *,
    now: float,
    since_days: int = 56,
    value: str | None = None,
    limit: int = MAX_SERIES,
) -> list[Anomaly]:
    """Each of the ``limit`` most expensive values of ``dim`` (``total``: the whole traffic),
    judged on the complete hours of the last day; series too young to fit are left out."""
    end = int(now) // HOUR * HOUR
    first = end - LOOKBACK_S
    cut = first // DAY * DAY  # fitted on the days before this one
    start = cut - since_days * DAY
    found = load_series(store, dim, start=start, now=now, value=value)
    ranked = sorted(found.values(), key=lambda s: (-int(s.cost[:since_days].sum()), s.key))
    out = []
    for s in ranked[:limit]:
        a = _judge(s, start=start, cut=cut, first=first, end=end, since_days=since_days)
        if a is not None:
            out.append(a)
    return out


def _judge(
    s: Series, *, start: int, cut: int, first: int, end: int, since_days: int
) -> Anomaly | None:
    assert s.hourly is not None
    history = s.cost[:since_days].astype(np.float64)
    nonzero = np.flatnonzero(history)
    if not len(nonzero):
        return None
    first_day = nonzero[0] + 1  # the first day with spend may be partial
    history = history[first_day:]
    steps = (end - 1 - cut) // DAY + 1
    f = fit(history / 1e9, steps)
    if f is None:
        return None
    lo95, hi95 = f.interval(0.95)
    grid = s.hourly[first_day:since_days].astype(np.float64)
    if grid.sum() <= 0:
        return None
    share = grid.sum(axis=0) / grid.sum()
    days = grid.sum(axis=1)
    expected = np.outer(days, share)
    mask = expected > 0
    ratios = grid[mask] / expected[mask]
    q_lo, q_hi = np.percentile(ratios, HOUR_QUANTILES) if len(ratios) else (1.0, 1.0)

    def band(t: int) -> tuple[float, float, float, float]:
        i, h = (t - cut) // DAY, (t % DAY) // HOUR
        actual = float(s.hourly[(t - start) // DAY, h])  # type: ignore[index]
        scale = 1e9 * share[h]
        return actual, f.mean[i] * scale, lo95[i] * scale * q_lo, hi95[i] * scale * q_hi

    def side(t: int) -> str | None:
        actual, _, low, high = band(t)
        return "above" if actual > high else "below" if actual < low else None

    latest = end - HOUR
    direction = side(latest)
    run = 0
    if direction is not None:
        for t in range(latest, first - 1, -HOUR):
            if side(t) != direction:
                break
            run += 1
    actual, mean, low, high = band(latest)
    return Anomaly(
        key=s.key,
        hours=run,
        direction=direction,
        last_hour=latest,
        actual=round(actual),
        expected=round(mean),
        low=round(low),
        high=round(high),
    )
