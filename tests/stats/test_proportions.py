"""Wilson's score interval: known values and its definition (the inverted score test)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq  # type: ignore[import-untyped]
from scipy.stats import norm  # type: ignore[import-untyped]

from daytwo.stats import wilson_interval


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
