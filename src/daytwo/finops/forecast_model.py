"""Forecasting one daily spend series: the model, its simulated paths, and rolling-origin backtests.

Pure numerics on numpy arrays of daily dollars (oldest first, whole UTC days); statsmodels is
imported when a model is fitted, never before. Which model depends on how much history there is:

* at least :data:`SEASONAL_DAYS` days: Holt-Winters exponential smoothing on the log of the
  daily dollars, with a damped additive trend and an additive weekly season (period 7): on the
  log scale, so the weekly swing and the noise scale with the level, as spend's do;
* at least :data:`TREND_DAYS` days: the same without the season (too few weeks to tell a
  weekday pattern from noise);
* at least :data:`MEAN_DAYS` days: the mean of the days, with the days' spread widened by
  :data:`SHORT_WIDENING` for the uncertainty of so short a history;
* fewer: no forecast.

Every fit yields :data:`PATHS` simulated futures (seeded, so a forecast is reproducible), clipped
at zero since spend cannot be negative; the point forecast is their mean, intervals are their
quantiles, and so are the intervals of
sums over several days (month-end, a budget's window), which keeps the days' correlation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

SEASONAL_DAYS = 21
TREND_DAYS = 10
MEAN_DAYS = 3
SHORT_WIDENING = 1.5
PATHS = 1000
#: Simulated deviations from the fitted path are widened by this factor: the fit ignores the
#: uncertainty of its own parameters, and on planted seasonal series the 80 % and 95 %
#: intervals covered 76 % and 93 % of days without it, 80 % and 95 % with it (docs/finops.md,
#: ``bench/forecast_bench.py --compare``).
WIDENING = 1.1
#: Share of the series' mean added before taking logs (days without spend stay finite).
LOG_SHIFT = 0.01
#: No simulated day exceeds this multiple of the highest of the last :data:`CAP_DAYS` days: a
#: jump just before the forecast (a workflow moved to a 20x pricier model) is otherwise
#: extrapolated as an exponential trend on the log scale.
CAP_FACTOR = 3.0
CAP_DAYS = 14
SEED = 20_260_101
#: Nominal coverage of the reported prediction intervals.
LEVELS = (0.80, 0.95)


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted series: ``mean`` and ``paths`` (steps x paths) are daily dollars from the day
    after the history's last one."""

    model: str
    mean: Array
    paths: Array
    note: str | None = None

    @property
    def steps(self) -> int:
        return len(self.mean)

    def interval(self, level: float) -> tuple[Array, Array]:
        """Per-day lower and upper bounds of the central ``level`` prediction interval."""
        tail = (1 - level) / 2 * 100
        lo, hi = np.percentile(self.paths, [tail, 100 - tail], axis=1)
        return lo, hi


def fit(history: Array, steps: int) -> Fit | None:
    """The model :data:`the module docstring <daytwo.finops.forecast_model>` picks for
    ``history``, forecast ``steps`` days ahead; None when there is too little history."""
    y = np.asarray(history, dtype=np.float64)
    n = len(y)
    if n < MEAN_DAYS or steps < 1:
        return None
    if np.ptp(y) == 0:
        flat = np.full(steps, y[0])
        return Fit("flat", flat, np.repeat(flat[:, None], PATHS, axis=1), "every day cost the same")
    if n >= TREND_DAYS:
        seasonal = n >= SEASONAL_DAYS
        ets = _holt_winters(y, steps, seasonal=seasonal)
        if ets is not None:
            if seasonal:
                return ets
            return Fit(
                ets.model,
                ets.mean,
                ets.paths,
                f"{n} days of history: no weekly season fitted (needs {SEASONAL_DAYS})",
            )
    return _mean(y, steps)


def _holt_winters(y: Array, steps: int, *, seasonal: bool) -> Fit | None:
    from statsmodels.tools.sm_exceptions import (  # type: ignore[import-untyped]
        ConvergenceWarning,
    )
    from statsmodels.tsa.holtwinters import (  # type: ignore[import-untyped]
        ExponentialSmoothing,
    )

    # Spend's weekly swing grows with its level: additive on the log scale is multiplicative
    # on dollars. The shift keeps days without spend finite.
    shift = max(float(y.mean()) * LOG_SHIFT, 1e-6)
    z = np.log(y + shift)
    note = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ExponentialSmoothing(
                z,
                trend="add",
                damped_trend=True,
                seasonal="add" if seasonal else None,
                seasonal_periods=7 if seasonal else None,
            ).fit()
            center = np.asarray(result.forecast(steps), dtype=np.float64)
            sims = np.asarray(
                result.simulate(steps, anchor="end", repetitions=PATHS, random_state=SEED),
                dtype=np.float64,
            ).reshape(steps, PATHS)
        except (ValueError, np.linalg.LinAlgError):
            return None
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        note = "the fit did not fully converge"
    with np.errstate(over="ignore"):
        paths = np.exp(center[:, None] + (sims - center[:, None]) * WIDENING) - shift
    ceiling = CAP_FACTOR * float(y[-CAP_DAYS:].max())
    capped = float(np.mean(paths > ceiling))
    if capped > 0.01:
        note = (
            f"a recent jump was extrapolated: {capped:.0%} of simulated days capped at "
            f"{CAP_FACTOR:g}x the highest of the last {CAP_DAYS}"
        )
    paths = np.clip(np.nan_to_num(paths, nan=ceiling, posinf=ceiling), 0.0, ceiling)
    name = "holt-winters weekly" if seasonal else "holt trend"
    return Fit(name, paths.mean(axis=1), paths, note)


def _mean(y: Array, steps: int) -> Fit:
    n = len(y)
    level = float(y.mean())
    sigma = float(y.std(ddof=1)) * SHORT_WIDENING
    # The level's own uncertainty adds to each day's spread.
    scale = sigma * np.sqrt(1 + 1 / n)
    rng = np.random.default_rng(SEED)
    paths = np.maximum(level + scale * rng.standard_normal((steps, PATHS)), 0.0)
    return Fit(
        "mean",
        np.full(steps, level),
        paths,
        f"{n} days of history: the days' mean, intervals widened x{SHORT_WIDENING}",
    )


@dataclass(frozen=True, slots=True)
class Backtest:
    """Rolling-origin backtest of one series: forecasts of ``horizon`` days from ``origins``
    points in its history, compared with what happened."""

    origins: int
    horizon: int
    points: int
    #: Mean absolute percentage error over the days that cost something (None: none did).
    mape: float | None
    #: Share of days inside the 80 % and 95 % intervals.
    coverage: dict[float, float]
    model: str | None


def backtest(history: Array, *, horizon: int = 7, origins: int = 4) -> Backtest:
    """Fit on the history up to each origin (the last ``origins`` multiples of ``horizon`` days
    before its end) and score the ``horizon`` days after it."""
    y = np.asarray(history, dtype=np.float64)
    n = len(y)
    errors: list[float] = []
    inside = dict.fromkeys(LEVELS, 0)
    points = used = 0
    model = None
    for k in range(origins, 0, -1):
        cut = n - k * horizon
        if cut < MEAN_DAYS:
            continue
        f = fit(y[:cut], horizon)
        if f is None:
            continue
        actual = y[cut : cut + horizon]
        used += 1
        model = f.model
        points += len(actual)
        nonzero = actual > 0
        errors.extend(np.abs(f.mean[nonzero] - actual[nonzero]) / actual[nonzero])
        for level in LEVELS:
            lo, hi = f.interval(level)
            inside[level] += int(np.sum((actual >= lo - 1e-9) & (actual <= hi + 1e-9)))
    return Backtest(
        origins=used,
        horizon=horizon,
        points=points,
        mape=float(np.mean(errors)) if errors else None,
        coverage={level: inside[level] / points for level in LEVELS} if points else {},
        model=model,
    )
