"""The paired bootstrap: the same numbers as scipy's, pairs kept together, nominal coverage,
degenerate samples, quantiles, and fast enough for 200 items x 10,000 resamples; the unpaired
one (independent samples of any sizes): scipy's numbers and its coverage."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import bootstrap  # type: ignore[import-untyped]

from daytwo.stats import (
    paired_bootstrap,
    paired_quantile_difference,
    paired_quantile_differences,
    quantile,
    unpaired_bootstrap,
    unpaired_quantile_differences,
)


def fixed_data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Per-item scores of a baseline and a candidate, correlated and skewed."""
    rng = np.random.default_rng(2026)
    difficulty = rng.beta(2, 5, n)
    baseline = np.clip(difficulty + rng.normal(0, 0.1, n), 0, 1)
    candidate = np.clip(difficulty + 0.05 + rng.normal(0, 0.1, n), 0, 1)
    return baseline, candidate


def test_one_sample_matches_scipy_bca() -> None:
    baseline, candidate = fixed_data()
    diffs = candidate - baseline
    ours = paired_bootstrap(diffs, n_resamples=5000, seed=3)
    theirs = bootstrap(
        (diffs,), np.mean, n_resamples=5000, method="BCa", rng=np.random.default_rng(3)
    )
    assert (ours.low, ours.high) == pytest.approx(tuple(theirs.confidence_interval), rel=1e-12)
    assert ours.standard_error == pytest.approx(theirs.standard_error)
    assert ours.estimate == pytest.approx(diffs.mean())


def test_two_samples_match_scipy_paired() -> None:
    baseline, candidate = fixed_data()

    def median_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(np.median(y, axis=axis) - np.median(x, axis=axis))

    ours = paired_bootstrap(
        baseline, candidate, statistic=np.median, method="percentile", n_resamples=4000, seed=9
    )
    theirs = bootstrap(
        (baseline, candidate),
        median_diff,
        paired=True,
        method="percentile",
        n_resamples=4000,
        rng=np.random.default_rng(9),
    )
    assert (ours.low, ours.high) == pytest.approx(tuple(theirs.confidence_interval), rel=1e-12)
    assert ours.estimate == pytest.approx(np.median(candidate) - np.median(baseline))


def test_deterministic_by_seed() -> None:
    _, candidate = fixed_data()
    assert paired_bootstrap(candidate, seed=1) == paired_bootstrap(candidate, seed=1)
    assert paired_bootstrap(candidate, seed=1) != paired_bootstrap(candidate, seed=2)


def test_pairs_are_resampled_together() -> None:
    # Items differ a lot (sd 1), the candidate adds 0.1 to each, give or take 0.02. Resampled
    # as pairs, the interval is about the 0.02 noise; resampled apart it would be about ±0.2.
    rng = np.random.default_rng(5)
    baseline = rng.normal(0, 1, 200)
    candidate = baseline + 0.1 + rng.normal(0, 0.02, 200)
    interval = paired_bootstrap(baseline, candidate)
    assert 0.09 < interval.low < interval.estimate < interval.high < 0.11


def test_agrees_with_the_normal_interval_on_large_normal_samples() -> None:
    rng = np.random.default_rng(8)
    diffs = rng.normal(0.3, 2.0, 400)
    half = 1.959963984540054 * diffs.std(ddof=1) / np.sqrt(diffs.size)
    interval = paired_bootstrap(diffs)
    assert interval.low == pytest.approx(diffs.mean() - half, abs=0.1 * half)
    assert interval.high == pytest.approx(diffs.mean() + half, abs=0.1 * half)


def test_covers_the_true_mean_at_about_the_nominal_rate_on_skewed_data() -> None:
    # Lognormal per-item cost differences, 40 items: the true mean is known.
    rng = np.random.default_rng(13)
    sigma, trials = 0.8, 200
    true_mean = np.exp(sigma**2 / 2)
    covered = 0
    for seed in range(trials):
        diffs = rng.lognormal(0.0, sigma, 40)
        interval = paired_bootstrap(diffs, n_resamples=1000, seed=seed)
        covered += interval.low <= true_mean <= interval.high
    assert 0.90 <= covered / trials <= 0.98


def test_a_sample_without_spread_gives_the_point_interval() -> None:
    for diffs in ([0.0] * 50, [0.25] * 3):
        interval = paired_bootstrap(diffs)
        assert (interval.low, interval.estimate, interval.high) == (diffs[0],) * 3
        assert interval.standard_error == 0.0
    same = paired_quantile_difference([120.0] * 10, [150.0] * 10, 0.95)
    assert (same.low, same.high) == (30.0, 30.0)


def test_where_bca_is_undefined_the_percentile_interval_is_returned() -> None:
    # The median of 19 zeros and a one is 0 in every resample and in every jackknife sample:
    # BCa's acceleration is 0/0. No NaN and no warning (pytest turns warnings into errors).
    interval = paired_bootstrap([0.0] * 19 + [1.0], statistic=np.median)
    assert (interval.low, interval.high, interval.estimate) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: paired_bootstrap([1.0]), "two items"),
        (lambda: paired_bootstrap([]), "two items"),
        (lambda: paired_bootstrap([1.0, 2.0], [1.0]), "differ in length"),
        (lambda: paired_bootstrap([1.0, 2.0], confidence=1.5), "confidence"),
        (lambda: quantile([], 0.5), "no values"),
        (lambda: quantile([1.0], 1.5), "q must be"),
        (lambda: paired_quantile_difference([1.0, 2.0], [1.0, 3.0], -0.1), "q must be"),
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_quantiles_interpolate_linearly() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile(list(range(1, 101)), 0.95) == pytest.approx(95.05)
    assert quantile([7.0], 0.95) == 7.0


def test_a_latency_shift_at_p95_is_seen_and_a_null_one_is_not() -> None:
    rng = np.random.default_rng(21)
    baseline = rng.lognormal(np.log(400), 0.4, 200)
    slower = baseline * 1.3 + rng.normal(0, 10, 200)
    shift = paired_quantile_difference(baseline, slower, 0.95)
    assert shift.estimate == pytest.approx(quantile(slower, 0.95) - quantile(baseline, 0.95))
    assert shift.low > 0
    same = paired_quantile_difference(baseline, baseline + rng.normal(0, 10, 200), 0.95)
    assert same.low < 0 < same.high


def best_of_three(call: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def test_two_hundred_items_and_ten_thousand_resamples_take_well_under_a_second() -> None:
    rng = np.random.default_rng(1)
    baseline = rng.lognormal(6, 0.5, 200)
    candidate = baseline + rng.normal(5, 20, 200)
    assert best_of_three(lambda: paired_bootstrap(candidate - baseline)) < 0.25
    assert best_of_three(lambda: paired_bootstrap(baseline, candidate)) < 0.25
    assert best_of_three(lambda: paired_quantile_difference(baseline, candidate, 0.95)) < 0.5


def test_several_quantiles_come_from_one_set_of_resamples() -> None:
    rng = np.random.default_rng(4)
    baseline = rng.lognormal(np.log(300), 0.5, 150)
    candidate = baseline + rng.normal(20, 30, 150)
    p50, p95 = paired_quantile_differences(baseline, candidate, (0.5, 0.95), seed=5)
    assert p50 == paired_quantile_difference(baseline, candidate, 0.5, seed=5)
    assert p95 == paired_quantile_difference(baseline, candidate, 0.95, seed=5)


def diff_of(statistic: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(statistic(y, axis=axis) - statistic(x, axis=axis))

    return diff


def test_unpaired_matches_scipy_independent_resampling() -> None:
    # Judge scores of last week's 120 calls against this week's 75: different calls, sizes.
    rng = np.random.default_rng(30)
    baseline, candidate = rng.beta(8, 2, 120), rng.beta(7, 3, 75)
    ours = unpaired_bootstrap(baseline, candidate, n_resamples=4000, seed=2)
    theirs = bootstrap(
        (baseline, candidate),
        diff_of(np.mean),
        paired=False,
        method="BCa",
        n_resamples=4000,
        rng=np.random.default_rng(2),
    )
    assert (ours.low, ours.high) == pytest.approx(tuple(theirs.confidence_interval), rel=1e-12)
    assert ours.standard_error == pytest.approx(theirs.standard_error)
    assert ours.estimate == pytest.approx(candidate.mean() - baseline.mean())


def test_unpaired_quantiles_match_scipy_percentile() -> None:
    rng = np.random.default_rng(31)
    baseline = rng.lognormal(np.log(300), 0.5, 90)
    candidate = rng.lognormal(np.log(360), 0.5, 140)
    p50, p95 = unpaired_quantile_differences(baseline, candidate, (0.5, 0.95), n_resamples=3000)
    for q, ours in ((0.5, p50), (0.95, p95)):
        theirs = bootstrap(
            (baseline, candidate),
            diff_of(lambda s, axis=-1, q=q: np.quantile(s, q, axis=axis)),
            paired=False,
            method="percentile",
            n_resamples=3000,
            rng=np.random.default_rng(0),
        )
        assert (ours.low, ours.high) == pytest.approx(tuple(theirs.confidence_interval), rel=1e-12)
        assert ours.estimate == pytest.approx(quantile(candidate, q) - quantile(baseline, q))


def test_unpaired_is_wider_than_paired_where_items_differ_a_lot() -> None:
    # The same numbers as test_pairs_are_resampled_together, treated as independent: the item
    # spread (sd 1) is no longer cancelled, so the interval is about ±0.2 rather than ±0.003.
    rng = np.random.default_rng(5)
    baseline = rng.normal(0, 1, 200)
    candidate = baseline + 0.1 + rng.normal(0, 0.02, 200)
    unpaired = unpaired_bootstrap(baseline, candidate)
    paired = paired_bootstrap(baseline, candidate)
    assert unpaired.estimate == pytest.approx(paired.estimate)
    assert unpaired.low < 0 < unpaired.high
    assert unpaired.high - unpaired.low > 20 * (paired.high - paired.low)


def test_unpaired_coverage_of_a_difference_of_skewed_means() -> None:
    rng = np.random.default_rng(32)
    sigma, trials = 0.8, 150
    covered = 0
    for seed in range(trials):
        baseline = rng.lognormal(0.0, sigma, 40)
        candidate = rng.lognormal(0.0, sigma, 60) + 0.5
        interval = unpaired_bootstrap(baseline, candidate, n_resamples=1000, seed=seed)
        covered += interval.low <= 0.5 <= interval.high
    assert 0.88 <= covered / trials <= 0.99


def test_unpaired_samples_without_spread_give_the_point_interval() -> None:
    interval = unpaired_bootstrap([2.0] * 5, [3.5] * 8)
    assert (interval.low, interval.estimate, interval.high) == (1.5, 1.5, 1.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: unpaired_bootstrap([1.0], [1.0, 2.0]), "unpaired bootstrap needs"),
        (lambda: unpaired_bootstrap([1.0, 2.0], []), "unpaired bootstrap needs"),
        (lambda: unpaired_bootstrap([1.0, 2.0], [1.0, 3.0], n_resamples=0), "n_resamples"),
        (lambda: unpaired_quantile_differences([1.0, 2.0], [1.0, 3.0], (2.0,)), "q must be"),
    ],
)
def test_unpaired_bad_input_is_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
