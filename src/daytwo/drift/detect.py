"""Has a rate or a distribution moved from its trailing baseline? Pure functions over the
scores of one group (model x prompt version) and one evaluator; the statistics are
:mod:`daytwo.stats`'s (two-proportion test with Newcombe's interval, the Bernoulli CUSUM, KS,
the unpaired bootstrap), nothing is re-derived here.

A **rate** (``refusal``, ``format``, ``truncation``, ``tool_call``: value 1 = good, 0 = bad)
is watched as its bad-outcome rate. It moved when either

* the recent window's bad rate is above the baseline's by the one-sided pooled z-test at
  ``alpha`` (both sides holding at least ``min_events`` scores: ``enough_events``), or
* the Bernoulli CUSUM over the window's outcomes, in call order, looking for the baseline's
  rate ``p0`` becoming ``ratio · p0``, passes ``h`` -- the slow creep a window's test misses;
  the chart's run start is "since when".

A **distribution** (``length``, ``judge:*``) moved when the two-sample KS test rejects at
``alpha``; the bootstrap interval of the difference of the means says by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daytwo.config.drift import DriftConfig
from daytwo.stats import (
    Interval,
    bernoulli_cusum,
    enough_events,
    ks_two_sample,
    two_proportion_test,
    unpaired_bootstrap,
)

#: A bad outcome: a pass/fail score below this (scores are 0 or 1).
BAD_BELOW = 0.5
#: Bootstrap resamples for a distribution's interval (computed only for one that moved).
BOOTSTRAP_RESAMPLES = 2000
#: The CUSUM's p1 is capped here (a baseline already at 50 % bad cannot get 2.5 times worse).
MAX_P1 = 0.99


@dataclass(frozen=True, slots=True)
class RateShift:
    """A bad-outcome rate, the window against the baseline."""

    baseline_bad: int
    baseline_n: int
    current_bad: int
    current_n: int
    #: current rate minus baseline rate, with Newcombe's 95 % interval.
    difference: Interval
    p_value: float
    #: Index (into the window's outcomes) where the CUSUM alarmed / its run began.
    cusum_alarm: int | None
    cusum_start: int | None
    flagged: bool

    @property
    def baseline_rate(self) -> float:
        return self.baseline_bad / self.baseline_n

    @property
    def current_rate(self) -> float:
        return self.current_bad / self.current_n


@dataclass(frozen=True, slots=True)
class DistributionShift:
    """A score distribution (output length, a judge's scores), window against baseline."""

    baseline_mean: float
    baseline_n: int
    current_mean: float
    current_n: int
    statistic: float
    p_value: float
    #: current mean minus baseline mean with a 95 % bootstrap interval (only when flagged).
    difference: Interval | None
    flagged: bool


def rate_shift(
    baseline_bad: int, baseline_n: int, current: np.ndarray, cfg: DriftConfig
) -> RateShift | None:
    """Compare the window's outcomes ``current`` (1 = bad, in call order) with the baseline's
    counts; None when either side has fewer than ``cfg.min_events`` events."""
    current_n = int(current.size)
    current_bad = int(current.sum())
    if not enough_events(current_bad, current_n, baseline_bad, baseline_n, cfg.min_events):
        return None
    test = two_proportion_test(
        current_bad, current_n, baseline_bad, baseline_n, alternative="larger"
    )
    # A baseline without a single bad outcome still has a rate the chart can start from:
    # half an event's worth (the chart then alarms after about h bad outcomes in a row).
    p0 = max(baseline_bad, 0.5) / baseline_n
    p1 = min(p0 * cfg.cusum.ratio, MAX_P1)
    alarm = start = None
    if p0 < p1:
        chart = bernoulli_cusum(current, p0, p1, cfg.cusum.h)
        alarm, start = chart.alarm, chart.run_start()
    return RateShift(
        baseline_bad=baseline_bad,
        baseline_n=baseline_n,
        current_bad=current_bad,
        current_n=current_n,
        difference=test.difference,
        p_value=test.p_value,
        cusum_alarm=alarm,
        cusum_start=start,
        flagged=test.p_value < cfg.alpha or alarm is not None,
    )


def distribution_shift(
    baseline: np.ndarray, current: np.ndarray, cfg: DriftConfig
) -> DistributionShift | None:
    """Compare the window's values with the baseline's; None on too few values."""
    if min(baseline.size, current.size) < cfg.min_events:
        return None
    ks = ks_two_sample(baseline, current)
    flagged = ks.p_value < cfg.alpha
    difference = None
    if flagged:
        difference = unpaired_bootstrap(
            baseline, current, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile"
        )
    return DistributionShift(
        baseline_mean=float(baseline.mean()),
        baseline_n=int(baseline.size),
        current_mean=float(current.mean()),
        current_n=int(current.size),
        statistic=ks.statistic,
        p_value=ks.p_value,
        difference=difference,
        flagged=flagged,
    )


def bad_outcomes(values: np.ndarray) -> np.ndarray:
    """Pass/fail scores (1 = good) as bad-outcome indicators (1 = bad)."""
    return (values < BAD_BELOW).astype(np.float64)
