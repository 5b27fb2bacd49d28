"""Drift: the tabular CUSUM against Montgomery's worked example and Siegmund's ARL (and both
against simulation), the Bernoulli CUSUM against its likelihood-ratio definition and on a
refusal rate going 3 % → 8 %, and the two-sample KS test against its exact and asymptotic
distributions."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import kstwobign  # type: ignore[import-untyped]

from daytwo.stats import (
    bernoulli_arl,
    bernoulli_cusum,
    bernoulli_k,
    cusum,
    ks_two_sample,
    siegmund_arl,
)

# Montgomery, D. C., Introduction to Statistical Quality Control (6th ed., 2009), Example 9.1,
# Tables 9.1 and 9.2: 30 observations, the first 20 from N(10, 1), the last 10 from N(11, 1);
# target 10, sigma 1, k = 1/2, h = 5. The book's upper CUSUM first exceeds H = 5 at period 29
# (C+ = 5.28) and has been positive since period 23 (N+ = 7).
MONTGOMERY_9_1 = [
    9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34,
    9.03, 11.47, 10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84,
    10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52,
]  # fmt: skip


def test_montgomery_example_9_1() -> None:
    result = cusum(MONTGOMERY_9_1, target=10.0, k=0.5, h=5.0)
    assert result.alarm == 28  # period 29, counting from 1
    assert result.path[28] == pytest.approx(5.28, abs=5e-3)
    assert result.path[27] == pytest.approx(4.47, abs=5e-3)
    assert result.run_start() == 22  # period 23: the chart's estimate of where the shift began
    # the lower chart sees nothing
    assert not cusum(MONTGOMERY_9_1, target=10.0, k=0.5, h=5.0, direction="down").alarmed


def page_recursion(increments: list[float]) -> list[float]:
    """Page's CUSUM as written, one step at a time."""
    path, s = [], 0.0
    for y in increments:
        s = max(0.0, s + y)
        path.append(s)
    return path


@given(
    st.lists(st.floats(-50, 50), max_size=200),
    st.floats(-5, 5),
    st.floats(0, 2),
    st.floats(0.1, 3),
)
def test_the_vectorised_chart_is_page_s_recursion(
    values: list[float], target: float, k: float, sigma: float
) -> None:
    up = cusum(values, target, k, h=4.0, sigma=sigma)
    down = cusum(values, target, k, h=4.0, sigma=sigma, direction="down")
    expected_up = page_recursion([(v - target) / sigma - k for v in values])
    expected_down = page_recursion([(target - v) / sigma - k for v in values])
    assert list(up.path) == pytest.approx(expected_up, abs=1e-9)
    assert list(down.path) == pytest.approx(expected_down, abs=1e-9)
    first = next((i for i, s in enumerate(up.path) if s > 4.0), None)
    assert up.alarm == first


@pytest.mark.parametrize(
    ("h", "shift", "two_sided_table"),
    [
        # Montgomery Table 9.3: ARL of the two-sided tabular CUSUM, k = 1/2
        (4.0, 0.0, 168.0),
        (5.0, 0.0, 465.0),
        (4.0, 1.0, 8.38),
        (5.0, 1.0, 10.4),
        (5.0, 0.5, 38.0),
    ],
)
def test_siegmund_reproduces_montgomery_s_arl_table(
    h: float, shift: float, two_sided_table: float
) -> None:
    upper, lower = siegmund_arl(0.5, h, shift), siegmund_arl(0.5, h, -shift)
    assert 1.0 / (1.0 / upper + 1.0 / lower) == pytest.approx(two_sided_table, rel=0.02)


def test_siegmund_is_a_few_percent_short_at_large_shifts() -> None:
    # Montgomery Table 9.3, h = 4, a two-sigma shift: 3.34; the approximation gives 3.22.
    assert siegmund_arl(0.5, 4.0, 2.0) == pytest.approx(3.34, rel=0.05)


def run_lengths(rng: np.random.Generator, shift: float, h: float, runs: int) -> np.ndarray:
    """Simulated run lengths of the upper chart (k = 1/2) on N(shift, 1) observations."""
    lengths = np.zeros(runs, dtype=np.int64)
    s = np.zeros(runs)
    alive = np.ones(runs, dtype=bool)
    step = 0
    while alive.any():
        step += 1
        s = np.where(alive, np.maximum(0.0, s + rng.normal(shift, 1.0, runs) - 0.5), s)
        crossed = alive & (s > h)
        lengths[crossed] = step
        alive &= ~crossed
    return lengths


@pytest.mark.parametrize(("h", "shift"), [(4.0, 0.0), (4.0, 1.0), (5.0, 1.0)])
def test_siegmund_matches_simulated_run_lengths(h: float, shift: float) -> None:
    lengths = run_lengths(np.random.default_rng(9), shift, h, 2000)
    # the mean of 2000 roughly geometric run lengths is within ±5 % of its expectation
    assert lengths.mean() == pytest.approx(siegmund_arl(0.5, h, shift), rel=0.06)


def test_the_bernoulli_chart_is_the_likelihood_ratio_cusum() -> None:
    p0, p1 = 0.03, 0.08
    k = bernoulli_k(p0, p1)
    assert k == pytest.approx(0.0512, abs=5e-5)
    assert p0 < k < p1
    log_or = math.log(p1 * (1 - p0) / (p0 * (1 - p1)))
    rng = np.random.default_rng(3)
    outcomes = (rng.random(500) < 0.06).astype(float)
    llr = [x * math.log(p1 / p0) + (1 - x) * math.log((1 - p1) / (1 - p0)) for x in outcomes]
    expected = np.array(page_recursion(llr)) / log_or
    assert bernoulli_cusum(outcomes, p0, p1, h=3.0).path == pytest.approx(expected, abs=1e-9)


def test_batches_give_the_call_by_call_path_at_their_ends() -> None:
    # One bad call in five (20 %), starting with a bad one: the call-by-call chart never
    # returns to zero, so the batch chart (10 calls a batch) lands exactly on it.
    outcomes = np.tile([1.0, 0.0, 0.0, 0.0, 0.0], 120)
    per_call = bernoulli_cusum(outcomes, 0.03, 0.08, h=1000.0)
    assert per_call.path.min() > 0
    counts = outcomes.reshape(60, 10).sum(axis=1)
    per_batch = bernoulli_cusum(counts, 0.03, 0.08, h=1000.0, totals=[10] * 60)
    assert per_batch.path == pytest.approx(per_call.path[9::10])
    # Where the call chart does floor at zero inside a batch, the batch chart is never above it
    rng = np.random.default_rng(4)
    outcomes = (rng.random(600) < 0.05).astype(float)
    per_call = bernoulli_cusum(outcomes, 0.03, 0.08, h=1000.0)
    counts = outcomes.reshape(60, 10).sum(axis=1)
    per_batch = bernoulli_cusum(counts, 0.03, 0.08, h=1000.0, totals=[10] * 60)
    assert np.all(per_batch.path <= per_call.path[9::10] + 1e-12)
    assert np.any(per_batch.path < per_call.path[9::10])


def detection_delays(p_after: float, h: float, runs: int, seed: int) -> np.ndarray:
    """Calls until the 3 % → 8 % chart alarms when the rate is ``p_after`` from the start
    (2000 calls at most; -1 where it did not alarm)."""
    rng = np.random.default_rng(seed)
    delays = []
    for _ in range(runs):
        result = bernoulli_cusum((rng.random(2000) < p_after).astype(float), 0.03, 0.08, h)
        delays.append(-1 if result.alarm is None else result.alarm + 1)
    return np.array(delays)


def test_a_refusal_rate_going_from_3_to_8_percent_is_found_and_a_steady_one_is_not() -> None:
    # h = 4 events (docs/statistics.md): an 8 % rate is found after about 120 calls on average
    # (median 95, 95th percentile about 290, from 2000 simulated runs); a steady 3 % raises a
    # false alarm within 1000 calls about one time in five (in-control ARL about 3,900 calls).
    found = detection_delays(0.08, h=4.0, runs=300, seed=1)
    assert np.all(found > 0)
    assert found.mean() == pytest.approx(bernoulli_arl(0.03, 0.08, 4.0, 0.08), rel=0.15)
    assert 70 < np.median(found) < 125
    assert np.quantile(found, 0.95) < 400
    steady = detection_delays(0.03, h=4.0, runs=300, seed=2)
    false_within_1000 = np.mean((steady > 0) & (steady <= 1000))
    assert 0.12 < false_within_1000 < 0.30


def test_bernoulli_arl_by_hand() -> None:
    # p0 = 1/4, p1 = 3/4 gives k = ln 3 / ln 9 = 1/2: the chart moves in half-events, and with
    # h = 1 its states are 0, 1/2 and 1. At p = 1/2 the chain's equations
    #   L0 = 1 + L1/2 + L0/2,  L1 = 1 + L2/2 + L0/2,  L2 = 1 + L1/2
    # give L2 = 6, L1 = 10, L0 = 12.
    assert bernoulli_k(0.25, 0.75) == pytest.approx(0.5)
    assert bernoulli_arl(0.25, 0.75, 1.0, 0.5) == pytest.approx(12.0)
    # every call bad: the chart climbs 1 - k a call and alarms on the first step above h
    k = bernoulli_k(0.03, 0.08)
    for h in (1.0, 3.0, 4.0):
        assert bernoulli_arl(0.03, 0.08, h, 1.0) == pytest.approx(math.floor(h / (1 - k)) + 1)
    assert bernoulli_arl(0.03, 0.08, 4.0, 0.0) == math.inf


def simulated_calls_to_alarm(p: float, h: float, runs: int, seed: int) -> np.ndarray:
    """Run lengths of the 3 % → 8 % chart at a true rate ``p``, all runs at once."""
    rng = np.random.default_rng(seed)
    k = bernoulli_k(0.03, 0.08)
    s, lengths = np.zeros(runs), np.zeros(runs, dtype=np.int64)
    alive, step = np.ones(runs, dtype=bool), 0
    while alive.any():
        step += 1
        s = np.where(alive, np.maximum(0.0, s + (rng.random(runs) < p) - k), s)
        crossed = alive & (s > h)
        lengths[crossed] = step
        alive &= ~crossed
    return lengths


@pytest.mark.parametrize(("p", "h"), [(0.08, 4.0), (0.05, 4.0), (0.08, 3.0)])
def test_bernoulli_arl_matches_simulated_run_lengths(p: float, h: float) -> None:
    lengths = simulated_calls_to_alarm(p, h, runs=3000, seed=17)
    # the standard error of the mean of 3000 near-geometric run lengths is under 2 %
    assert lengths.mean() == pytest.approx(bernoulli_arl(0.03, 0.08, h, p), rel=0.06)


def test_bernoulli_arl_orders() -> None:
    in_control = [bernoulli_arl(0.03, 0.08, h) for h in (3.0, 4.0, 5.0)]
    assert in_control == sorted(in_control)
    assert bernoulli_arl(0.03, 0.08, 4.0) == bernoulli_arl(0.03, 0.08, 4.0, 0.03)
    delays = [bernoulli_arl(0.03, 0.08, 4.0, p) for p in (0.03, 0.05, 0.08, 0.12)]
    assert delays == sorted(delays, reverse=True)


def test_a_steady_rate_below_the_baseline_never_builds_up() -> None:
    result = bernoulli_cusum([0.0] * 1000, 0.03, 0.08, h=1.0)
    assert not result.alarmed
    assert result.run_start() is None
    assert np.all(result.path == 0.0)


def test_the_path_cannot_be_altered() -> None:
    result = cusum([1.0, 2.0], 0.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="read-only"):
        result.path[0] = 0.0


def test_ks_with_completely_separated_samples_is_the_exact_extreme() -> None:
    # Every baseline value below every current one: D = 1, and of the C(10, 5) = 252 equally
    # likely orderings under "one distribution" only 2 (this one and its mirror) are as far
    # apart: p = 2/252.
    result = ks_two_sample([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0])
    assert result.statistic == 1.0
    assert result.p_value == pytest.approx(2 / 252, rel=1e-9)
    assert (result.n_baseline, result.n_current) == (5, 5)


def ecdf_distance(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.concatenate([a, b])
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def test_ks_on_large_samples_follows_kolmogorov_s_distribution() -> None:
    # Output lengths of 1500 calls last week and 1200 this week, 8 % longer now.
    rng = np.random.default_rng(12)
    baseline = rng.lognormal(np.log(300), 0.5, 1500)
    current = rng.lognormal(np.log(324), 0.5, 1200)
    result = ks_two_sample(baseline, current)
    assert result.statistic == pytest.approx(ecdf_distance(baseline, current))
    en = math.sqrt(1500 * 1200 / 2700)
    # scipy's exact distribution at these sizes; the asymptotic one is within a few percent
    assert result.p_value == pytest.approx(kstwobign.sf(result.statistic * en), rel=0.1)
    assert result.p_value < 1e-3


def test_ks_false_alarm_rate_is_at_most_alpha() -> None:
    rng = np.random.default_rng(13)
    rejected = [
        ks_two_sample(rng.normal(0, 1, 80), rng.normal(0, 1, 60)).p_value < 0.05 for _ in range(400)
    ]
    assert 0.02 <= np.mean(rejected) <= 0.08


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cusum([1.0], 0.0, -0.1, 4.0), "k must be"),
        (lambda: cusum([1.0], 0.0, 0.5, 0.0), "h must be"),
        (lambda: cusum([1.0], 0.0, 0.5, 4.0, sigma=0.0), "sigma"),
        (lambda: cusum([float("nan")], 0.0, 0.5, 4.0), "finite"),
        (lambda: cusum([[1.0]], 0.0, 0.5, 4.0), "one-dimensional"),
        (lambda: cusum([1.0], 0.0, 0.5, 4.0, direction="sideways"), "direction"),  # type: ignore[arg-type]
        (lambda: bernoulli_k(0.08, 0.03), "0 < p0 < p1 < 1"),
        (lambda: bernoulli_k(0.0, 0.03), "0 < p0 < p1 < 1"),
        (lambda: bernoulli_cusum([0.0, 2.0], 0.03, 0.08, 4.0), "0 or 1"),
        (lambda: bernoulli_cusum([3.0], 0.03, 0.08, 4.0, totals=[2.0]), r"\[0, its total\]"),
        (lambda: bernoulli_cusum([1.0], 0.03, 0.08, 4.0, totals=[2.0, 3.0]), "differ in length"),
        (lambda: ks_two_sample([], [1.0]), "at least one value"),
        (lambda: bernoulli_arl(0.03, 0.08, 4.0, 1.5), "true rate"),
        (lambda: bernoulli_arl(0.03, 0.08, 0.0), "h must be"),
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
