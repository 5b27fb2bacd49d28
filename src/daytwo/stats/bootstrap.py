"""Bootstrap confidence intervals of a difference, without assuming a distribution.

Paired (the eval gate: the same items under two versions): resample ITEMS with replacement,
each item's baseline and candidate values kept together, so the interval reflects how much the
answer depends on which items happened to be in the suite. Unpaired (drift: a recent window
against a trailing baseline, different calls): resample each sample on its own, at its own
size.

Method: BCa (bias-corrected and accelerated, Efron 1987) for smooth statistics such as a mean:
it corrects the percentile interval for the bootstrap distribution's bias and skew (costs and
scores near 0 or 1 are skewed) and is second-order accurate, where the plain percentile
interval under-covers at small n. Quantiles are not smooth — their jackknife, which BCa's
acceleration comes from, is nearly constant — so quantile differences use the percentile
interval. Where BCa is undefined (scipy returns NaN, e.g. every resample on one side of the
estimate) the percentile interval of the same resamples is used. A sample whose values are all
equal (every difference the same, or every value the same on both sides) has no spread: its
interval is the point itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap  # type: ignore[import-untyped]

from daytwo.stats.interval import Interval

Values = Sequence[float] | np.ndarray
#: A numpy reduction called as ``statistic(sample, axis=-1)`` (np.mean, np.median ...); it may
#: return several values along a new first axis (np.quantile with a list of levels).
Statistic = Callable[..., Any]
Method = Literal["BCa", "percentile"]


def paired_bootstrap(
    x: Values,
    y: Values | None = None,
    *,
    statistic: Statistic = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    method: Method = "BCa",
) -> Interval:
    """Bootstrap confidence interval of a paired difference, deterministic by ``seed``.

    With ``y``: ``statistic(y) - statistic(x)`` (``x`` the baseline, ``y`` the candidate, one
    value per item in the same order). Without: ``statistic(x)`` of per-item differences
    already taken (for the mean the two are the same number). ``statistic`` is a numpy
    reduction taking ``axis``; scipy evaluates it on all resamples at once.
    """
    samples = _paired_samples(x, y)
    return _intervals(samples, statistic, confidence, n_resamples, seed, method, paired=True)[0]


def unpaired_bootstrap(
    baseline: Values,
    candidate: Values,
    *,
    statistic: Statistic = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    method: Method = "BCa",
) -> Interval:
    """Bootstrap confidence interval of ``statistic(candidate) - statistic(baseline)`` for two
    INDEPENDENT samples (a recent window of judge scores against the trailing baseline's), of
    any sizes: each is resampled with replacement at its own size, independently of the other
    (scipy's ``bootstrap(paired=False)``). Deterministic by ``seed``; methods as for
    :func:`paired_bootstrap`.
    """
    samples = _unpaired_samples(baseline, candidate)
    return _intervals(samples, statistic, confidence, n_resamples, seed, method, paired=False)[0]


def quantile(values: Values, q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between order statistics (numpy's
    default, Hyndman & Fan type 7, also R's and pandas' default)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("the quantile of no values is undefined")
    return float(np.quantile(data, _level(q)))


def paired_quantile_difference(
    baseline: Values,
    candidate: Values,
    q: float,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Interval of ``quantile(candidate, q) - quantile(baseline, q)`` over the same items
    (latency p95 of the candidate minus the baseline's), percentile method (see the module
    docstring for why not BCa)."""
    return paired_quantile_differences(
        baseline, candidate, (q,), confidence=confidence, n_resamples=n_resamples, seed=seed
    )[0]


def paired_quantile_differences(
    baseline: Values,
    candidate: Values,
    qs: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[Interval, ...]:
    """:func:`paired_quantile_difference` at several levels from one set of resamples (p50
    and p95 for the price of one bootstrap)."""
    samples = _paired_samples(baseline, candidate)
    return _quantile_intervals(samples, qs, confidence, n_resamples, seed, paired=True)


def unpaired_quantile_differences(
    baseline: Values,
    candidate: Values,
    qs: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[Interval, ...]:
    """Intervals of ``quantile(candidate, q) - quantile(baseline, q)`` at each level in ``qs``
    for two INDEPENDENT samples (output lengths this week against last week's), from one set
    of resamples, percentile method."""
    samples = _unpaired_samples(baseline, candidate)
    return _quantile_intervals(samples, qs, confidence, n_resamples, seed, paired=False)


def _quantile_intervals(
    samples: tuple[np.ndarray, ...],
    qs: Sequence[float],
    confidence: float,
    n_resamples: int,
    seed: int,
    *,
    paired: bool,
) -> tuple[Interval, ...]:
    levels = [_level(q) for q in qs]

    def at_levels(sample: np.ndarray, axis: int = -1) -> Any:
        return np.quantile(sample, levels, axis=axis)

    return _intervals(
        samples, at_levels, confidence, n_resamples, seed, "percentile", paired=paired
    )


def _level(q: float) -> float:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    return q


def _sample(values: Values, kind: str) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size < 2:
        raise ValueError(f"{kind} bootstrap needs a one-dimensional sample of two items or more")
    return data


def _paired_samples(x: Values, y: Values | None) -> tuple[np.ndarray, ...]:
    first = _sample(x, "a paired")
    if y is None:
        return (first,)
    second = np.asarray(y, dtype=np.float64)
    if second.shape != first.shape:
        raise ValueError(f"paired samples differ in length: {first.size} and {second.size}")
    return (first, second)


def _unpaired_samples(baseline: Values, candidate: Values) -> tuple[np.ndarray, ...]:
    return (_sample(baseline, "an unpaired"), _sample(candidate, "an unpaired"))


def _intervals(
    samples: tuple[np.ndarray, ...],
    statistic: Statistic,
    confidence: float,
    n_resamples: int,
    seed: int,
    method: Method,
    *,
    paired: bool,
) -> tuple[Interval, ...]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")

    def stat(*sample: np.ndarray, axis: int = -1) -> Any:
        if len(sample) == 1:
            return statistic(sample[0], axis=axis)
        return statistic(sample[1], axis=axis) - statistic(sample[0], axis=axis)

    estimates = np.atleast_1d(stat(*samples))
    if all(np.all(s == s[0]) for s in samples):
        return tuple(Interval(float(e), float(e), float(e), standard_error=0.0) for e in estimates)
    common: dict[str, Any] = {
        # a single sample (differences already taken) has nothing to pair
        "paired": paired and len(samples) > 1,
        "vectorized": True,
        "confidence_level": confidence,
    }
    with warnings.catch_warnings():
        # scipy warns before returning NaN where BCa is undefined; that case is handled below
        # by the percentile interval of the very same resamples.
        warnings.simplefilter("ignore", DegenerateDataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        result = bootstrap(
            samples,
            stat,
            method=method,
            n_resamples=n_resamples,
            rng=np.random.default_rng(seed),
            **common,
        )
        low, high = (np.atleast_1d(bound) for bound in result.confidence_interval)
        if np.isnan(low).any() or np.isnan(high).any():
            percentile = bootstrap(
                samples,
                stat,
                method="percentile",
                n_resamples=0,
                bootstrap_result=result,
                **common,
            ).confidence_interval
            low = np.where(np.isnan(low), np.atleast_1d(percentile.low), low)
            high = np.where(np.isnan(high), np.atleast_1d(percentile.high), high)
    errors = np.atleast_1d(result.standard_error)
    return tuple(
        Interval(low=float(lo), high=float(hi), estimate=float(e), standard_error=float(se))
        for lo, hi, e, se in zip(low, high, estimates, errors, strict=True)
    )
