"""Wilson's score interval: known values and its definition (the inverted score test); two
independent proportions: Newcombe's published examples, the pooled z-test against scipy's
chi-square, and the minimum-events guard; two paired proportions: Tango's score interval
against Fagerland et al.'s values, its closed form with no discordant pair, its coverage."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq  # type: ignore[import-untyped]
from scipy.stats import chi2_contingency, norm  # type: ignore[import-untyped]

from daytwo.stats import (
    enough_events,
    newcombe_interval,
    paired_difference_interval,
    two_proportion_test,
    wilson_interval,
    wilson_lower,
    wilson_upper,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # statsmodels proportion_confint(count, nobs, method="wilson")
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (5, 10, 0.2366, 0.7634),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_known_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)
    assert interval.estimate == successes / n


def score_test_bounds(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson's interval by definition: the p0 whose score statistic |p - p0| /
    sqrt(p0 (1 - p0) / n) equals z, found numerically."""
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n

    def excess(p0: float) -> float:
        return abs(p - p0) / math.sqrt(p0 * (1 - p0) / n) - z

    eps = 1e-12
    low = 0.0 if successes == 0 else brentq(excess, eps, min(p, 1 - eps))
    high = 1.0 if successes == n else brentq(excess, max(p, eps), 1 - eps)
    return low, high


@given(st.integers(1, 500), st.data(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_the_interval_inverts_the_score_test(n: int, data: st.DataObject, conf: float) -> None:
    successes = data.draw(st.integers(0, n))
    interval = wilson_interval(successes, n, confidence=conf)
    expected = score_test_bounds(successes, n, conf)
    assert (interval.low, interval.high) == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


def test_a_higher_confidence_widens_the_interval() -> None:
    narrow, wide = wilson_interval(30, 200, 0.90), wilson_interval(30, 200, 0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


@pytest.mark.parametrize(
    ("successes", "n", "confidence"), [(1, 0, 0.95), (11, 10, 0.95), (-1, 10, 0.95), (5, 10, 1.0)]
)
def test_bad_input_is_refused(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        wilson_interval(successes, n, confidence)


def test_the_one_sided_bounds_are_the_interval_s() -> None:
    interval = wilson_interval(3, 40, 0.9)
    assert wilson_lower(3, 40, 0.9) == interval.low
    assert wilson_upper(3, 40, 0.9) == interval.high


# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Stat. Med. 17:873-890, Table II, method 10 (score, no
# continuity correction), examples (a)-(h). (a) and (b) are also the expected values of the R
# package propint's tests (tests/testthat/test_Two_Independent_Props_CI.R, "the results
# reported in Newcombe1998"), (d) of ratesci's (tests/testthat/test3.R, "Newcombe RD example
# (d)", moverci(type = "wilson")); the others are the paper's table as published.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
    ((10, 10, 0, 10), (0.6075, 1.0)),
]


@pytest.mark.parametrize(("counts", "bounds"), NEWCOMBE_TABLE_II)
def test_newcombe_reproduces_table_ii(
    counts: tuple[int, int, int, int], bounds: tuple[float, float]
) -> None:
    x1, n1, x2, n2 = counts
    for interval in (newcombe_interval(*counts), two_proportion_test(*counts).difference):
        assert (interval.low, interval.high) == pytest.approx(bounds, abs=5e-5)
        assert interval.estimate == pytest.approx(x1 / n1 - x2 / n2)


def test_newcombe_coverage_is_near_nominal_at_small_counts() -> None:
    # 40 calls a side, rates 8 % and 3 %: where the Wald interval under-covers badly.
    rng = np.random.default_rng(15)
    n1, n2, p1, p2, trials = 40, 40, 0.08, 0.03, 1500
    x1s, x2s = rng.binomial(n1, p1, trials), rng.binomial(n2, p2, trials)
    covered = 0
    for x1, x2 in zip(x1s, x2s, strict=True):
        interval = newcombe_interval(int(x1), n1, int(x2), n2)
        covered += interval.low <= p1 - p2 <= interval.high
    assert 0.93 <= covered / trials <= 0.985


@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_the_two_sided_p_value_is_pearson_s_chi_square(
    n1: int, n2: int, data: st.DataObject
) -> None:
    x1, x2 = data.draw(st.integers(0, n1)), data.draw(st.integers(0, n2))
    result = two_proportion_test(x1, n1, x2, n2)
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    if x1 + x2 in (0, n1 + n2):
        # a column of zeros: no spread, no evidence (scipy refuses the table)
        assert (result.z, result.p_value) == (0.0, 1.0)
        return
    chi2, p_value, _, _ = chi2_contingency(table, correction=False)
    assert result.z**2 == pytest.approx(chi2, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-300)
    low, high = result.difference.low, result.difference.high
    assert -1.0 <= low <= result.difference.estimate <= high <= 1.0


def test_the_one_sided_p_values_split_the_two_sided_one() -> None:
    # A refusal rate of 8 % in the last 200 calls against 3 % in the 2000 before.
    two = two_proportion_test(16, 200, 60, 2000)
    larger = two_proportion_test(16, 200, 60, 2000, alternative="larger")
    smaller = two_proportion_test(16, 200, 60, 2000, alternative="smaller")
    assert two.z > 0
    assert larger.p_value == pytest.approx(two.p_value / 2)
    assert larger.p_value + smaller.p_value == pytest.approx(1.0)
    assert larger.p_value < 0.01 < 0.99 < smaller.p_value
    # by hand: pooled 76/2200, z = 0.05 / sqrt(p (1 - p) (1/200 + 1/2000))
    pooled = 76 / 2200
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * (1 / 200 + 1 / 2000))
    assert larger.z == pytest.approx(z)
    assert larger.p_value == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert larger.difference == two.difference


def test_an_unknown_alternative_is_refused() -> None:
    with pytest.raises(ValueError, match="alternative"):
        two_proportion_test(1, 10, 2, 10, alternative="bigger")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("counts", "minimum", "expected"),
    [
        ((3, 30, 10, 100), 30, True),
        ((3, 29, 10, 100), 30, False),
        ((3, 1000, 2, 20), 30, False),  # lopsided, but only 20 recent calls
        ((0, 0, 0, 10), 0, False),  # an empty window is never enough
        ((0, 50, 0, 50), 50, True),  # no events yet is a rate of 0, not too few calls
    ],
)
def test_enough_events(counts: tuple[int, int, int, int], minimum: int, expected: bool) -> None:
    assert enough_events(*counts, minimum) is expected


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: enough_events(5, 4, 0, 10, 3), "successes"),
        (lambda: enough_events(0, -1, 0, 10, 3), "n must be"),
        (lambda: enough_events(0, 10, 0, 10, -1), "minimum"),
        (lambda: newcombe_interval(1, 0, 0, 10), "n must be"),
        (lambda: two_proportion_test(1, 10, 11, 10), "successes"),
        (lambda: paired_difference_interval(0, 0, 0), "n must be"),
        (lambda: paired_difference_interval(6, 5, 10), "at most n=10"),
        (lambda: paired_difference_interval(-1, 0, 10), "discordant"),
    ],
)
def test_bad_counts_are_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# Fagerland, Lydersen and Laake, "Statistical Analysis of Contingency Tables" (2017), ch. 8:
# the R package contingencytables' tests (tests/testthat/test-ch8.R) of
# Tango_asymptotic_score_CI_paired_2x2: Cavo et al. (2012), n12 = 6, n21 = 16 of 161 pairs,
# and the two tables of three pairs all on one side.
TANGO = [
    ((6, 16, 161), (-0.1240, -0.0054)),
    ((3, 0, 3), (-0.1230, 1.0)),
    ((0, 3, 3), (-1.0, 0.1230)),
]


@pytest.mark.parametrize(("counts", "bounds"), TANGO)
def test_the_paired_interval_reproduces_fagerland_et_al(
    counts: tuple[int, int, int], bounds: tuple[float, float]
) -> None:
    b, c, n = counts
    interval = paired_difference_interval(b, c, n)
    assert (interval.low, interval.high) == pytest.approx(bounds, abs=5e-5)
    assert interval.estimate == (b - c) / n


@pytest.mark.parametrize("n", [1, 10, 73, 100, 1000])
def test_no_discordant_pair_gives_the_closed_form(n: int) -> None:
    # With b = c = 0 the score statistic at δ > 0 is -sqrt(n δ / (1 - δ)): it reaches -z at
    # δ = z² / (n + z²) (0.0370 at n = 100).
    z2 = float(norm.ppf(0.975)) ** 2
    interval = paired_difference_interval(0, 0, n)
    assert (interval.low, interval.high) == pytest.approx((-z2 / (n + z2), z2 / (n + z2)))
    assert interval.estimate == 0.0


def test_the_paired_interval_covers_near_nominal() -> None:
    # 100 pairs: 6 % one side, 4 % the other, the rest agree (a pairwise judge's losses,
    # wins and ties).
    rng = np.random.default_rng(18)
    n, probs, trials = 100, (0.06, 0.04, 0.90), 1500
    covered = 0
    for b, c, _ in rng.multinomial(n, probs, trials):
        interval = paired_difference_interval(int(b), int(c), n)
        covered += interval.low <= probs[0] - probs[1] <= interval.high
    assert 0.93 <= covered / trials <= 0.975
