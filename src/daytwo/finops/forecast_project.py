"""A fitted spend series placed in time: its days' bands, and sums over any stretch of hours.

Shared by the forecast, its budget projections and its anomaly check: each forecast day is
spread over its hours by the series' hour-of-day profile, so that a sum to an instant in the
middle of a day (the rest of today, a window ending at local midnight) counts the right part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from daytwo.finops.forecast_data import Series
from daytwo.finops.forecast_model import Array, Fit, fit
from daytwo.ledger.schema import DAY, HOUR


@dataclass(frozen=True, slots=True)
class Band:
    """An expected amount with its 80 % and 95 % prediction intervals, in nano-dollars."""

    mean: int
    lo80: int
    hi80: int
    lo95: int
    hi95: int

    @classmethod
    def of(cls, mean: float, paths: Array, offset: int = 0) -> Band:
        q = np.percentile(paths, [10, 90, 2.5, 97.5])
        n = [offset + nanos(v) for v in (mean, *q)]
        return cls(*n)

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": usd(self.mean),
            "p80": [usd(self.lo80), usd(self.hi80)],
            "p95": [usd(self.lo95), usd(self.hi95)],
        }


@dataclass(frozen=True, slots=True)
class Projector:
    """A fitted series placed in time: its day paths from today, and the hour profile that
    spreads each day over its hours."""

    today: int
    now: float
    fit: Fit
    #: Cumulative share of a day's spend by the start of each hour (25 points, 0 to 1).
    profile: Array

    def share(self, a: float, b: float) -> Array:
        """Weight of each forecast day in the interval [a, b)."""
        w = np.zeros(self.fit.steps)
        for i in range(self.fit.steps):
            lo = self.today + i * DAY
            x, y = max(a, lo), min(b, lo + DAY)
            if y > x:
                w[i] = self._cum(y - lo) - self._cum(x - lo)
        return w

    def _cum(self, s: float) -> float:
        h = min(int(s // HOUR), 23)
        frac = min(max((s - h * HOUR) / HOUR, 0.0), 1.0)
        p = self.profile
        return float(p[h] + (p[h + 1] - p[h]) * frac)

    def between(self, a: float, b: float) -> tuple[float, Array]:
        """Expected dollars in [a, b) from now on, and its simulated paths."""
        w = self.share(max(a, self.now), b)
        return float(w @ self.fit.mean), w @ self.fit.paths


def project(
    s: Series, *, now: float, steps: int, since_days: int | None = None
) -> Projector | None:
    """Fit ``s``'s full days (the last ``since_days``) and place the forecast from today, or
    None (too little history)."""
    today = int(now) // DAY * DAY
    days = trim(s.full_days if since_days is None else s.full_days[-since_days:])
    f = fit(days / 1e9, steps)
    if f is None:
        return None
    total = s.hours.sum()
    shares = s.hours / total if total > 0 else np.full(24, 1 / 24)
    profile = np.concatenate([[0.0], np.cumsum(shares)])
    return Projector(today=today, now=now, fit=f, profile=profile)


def trim(days: Any) -> Any:
    """The history from the first whole day after the first spend: a series that started
    recently (or a ledger that did) began part of the way through its first day."""
    nonzero = np.flatnonzero(days)
    return days[nonzero[0] + 1 :] if len(nonzero) else days[:0]


def nanos(usd: float) -> int:
    return round(float(usd) * 1e9)


def usd(nanos: int) -> dict[str, Any]:
    from daytwo.ledger.report import money

    return money(nanos)


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
