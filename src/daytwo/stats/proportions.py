"""Proportions: one rate's confidence interval (Wilson), two independent rates compared
(difference, Newcombe's interval, the pooled z-test), with the minimum-events guard drift needs,
and two rates of the same pairs compared (Tango's score interval of the paired difference).

Issue 15's sampled SLOs use Wilson's lower bound so that a judge sampled on a few events does
not page on noise; drift compares a window's rate with a trailing baseline's (independent
samples, unlike the eval gate's paired items) and must not fire on too few events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from daytwo.stats.interval import Interval

#: The standard normal (the stdlib's: this module is imported on the gateway's start-up path
#: by the SLO alerts, and scipy.stats costs ~0.5 s and ~40 MB there).
_STANDARD_NORMAL = NormalDist()


def _sf(z: float) -> float:
    """P(Z > z), exact in the far tail (erfc, not 1 - cdf)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


#: What the test's p-value is for: ``p1 != p2``, ``p1 > p2`` or ``p1 < p2`` (statsmodels'
#: ``proportions_ztest`` names).
Alternative = Literal["two-sided", "larger", "smaller"]


def z_two_sided(confidence: float) -> float:
    """The standard normal quantile that leaves ``(1 - confidence) / 2`` in each tail."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return _STANDARD_NORMAL.inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for ``successes`` out of ``n`` (Wilson 1927).

    Unlike the Wald interval ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1] and keeps close to
    its nominal coverage at small n and for rates near 0 or 1 (Brown, Cai & DasGupta 2001) —
    the regime of refusal rates and sampled judges. 8/10 at 95 % gives (0.4902, 0.9433).
    """
    _check_counts(successes, n)
    z = z_two_sided(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # At p = 0 (or 1) the lower (upper) bound is p itself; rounding must not move it off p.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low=low, high=high, estimate=p)


def wilson_lower(successes: int, n: int, confidence: float = 0.95) -> float:
    """The lower bound of :func:`wilson_interval`: the smallest rate the data are consistent
    with. A burn-rate alert on it fires only when even that rate burns too fast."""
    return wilson_interval(successes, n, confidence).low


def wilson_upper(successes: int, n: int, confidence: float = 0.95) -> float:
    """The upper bound of :func:`wilson_interval`: the largest rate the data are consistent
    with."""
    return wilson_interval(successes, n, confidence).high


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for ``p1 - p2`` of two independent samples (Newcombe
    1998, method 10), from the two Wilson intervals ``(l1, u1)`` and ``(l2, u2)``::

        low  = d - sqrt((p1 - l1)² + (u2 - p2)²)
        high = d + sqrt((u1 - p1)² + (p2 - l2)²)

    It inherits Wilson's behaviour at small counts and near 0 or 1, stays inside [-1, 1] and
    is not symmetric about ``d`` where a rate is near a boundary. 56/70 vs 48/80 gives
    (0.0524, 0.3339).
    """
    first = wilson_interval(x1, n1, confidence)
    second = wilson_interval(x2, n2, confidence)
    p1, p2 = first.estimate, second.estimate
    d = p1 - p2
    low = d - math.hypot(p1 - first.low, second.high - p2)
    high = d + math.hypot(first.high - p1, p2 - second.low)
    return Interval(low=max(-1.0, low), high=min(1.0, high), estimate=d)


@dataclass(frozen=True, slots=True)
class TwoProportionTest:
    """Two independent rates compared: ``difference`` is ``p1 - p2`` with Newcombe's interval
    (two-sided, at the confidence asked), ``z`` and ``p_value`` the pooled z-test's for the
    ``alternative``."""

    difference: Interval
    z: float
    p_value: float
    alternative: Alternative


def two_proportion_test(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TwoProportionTest:
    """Compare ``x1`` of ``n1`` with ``x2`` of ``n2`` (independent samples: a recent window
    against a trailing baseline).

    The test is the pooled z-test: under ``p1 == p2`` the common rate is
    ``p = (x1 + x2) / (n1 + n2)`` and ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))``; ``z²`` is
    Pearson's chi-square of the 2x2 table without Yates' correction, so the two-sided p equals
    ``scipy.stats.chi2_contingency(table, correction=False)``'s. Where both samples are all
    events or all non-events there is no spread and no evidence: z = 0, p = 1. The interval
    is :func:`newcombe_interval`: the score test and the score interval can disagree at the
    margin, so decide on one of them (drift decides on the p-value and reports the interval).
    """
    if alternative not in ("two-sided", "larger", "smaller"):
        raise ValueError(f"alternative must be two-sided, larger or smaller, got {alternative!r}")
    difference = newcombe_interval(x1, n1, x2, n2, confidence)
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    z = 0.0 if variance == 0.0 else difference.estimate / math.sqrt(variance)
    if variance == 0.0:
        p_value = 1.0
    elif alternative == "two-sided":
        p_value = 2.0 * _sf(abs(z))
    elif alternative == "larger":
        p_value = _sf(z)
    else:
        p_value = _sf(-z)
    return TwoProportionTest(difference=difference, z=z, p_value=p_value, alternative=alternative)


#: Where the paired interval's search stops short of ±1 (the score statistic's variance is 0
#: there) and how close it brackets each end (R's ``uniroot`` tolerance in Fagerland et al.).
_EDGE = 1e-9
_TOLERANCE = 1e-10


def paired_difference_interval(b: int, c: int, n: int, confidence: float = 0.95) -> Interval:
    """Tango's score interval (Tango 1998) for ``p_b - p_c`` of ``n`` pairs, where ``b`` pairs
    have the event on the first side only and ``c`` on the second only (the McNemar table's
    discordant cells; the other ``n - b - c`` pairs agree). The estimate is ``(b - c) / n``.

    The interval is every ``δ`` the score test of ``p_b - p_c = δ`` does not reject::

        T(δ) = (b - c - n δ) / sqrt(n (2 p̃ + δ (1 - δ)))

    with ``p̃`` the maximum-likelihood ``p_c`` under ``δ`` (a quadratic's root). Unlike the Wald
    interval it is sound with few discordant pairs: all ties give ``(-u, u)`` with ``u`` near
    ``z² / (n + z²)``, and 3 of 3 pairs on one side still reach below 0 (-0.1230, as the
    sign test's p = 0.25 says it should). Fagerland, Lydersen and Laake (2014) recommend it
    for paired proportions; 6 and 16 discordant of 161 pairs give (-0.1240, -0.0054).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if b < 0 or c < 0 or b + c > n:
        raise ValueError(f"discordant counts must be >= 0 and at most n={n} together, got {b}, {c}")
    z = z_two_sided(confidence)
    estimate = (b - c) / n

    def score(delta: float) -> float:
        a2 = 2.0 * n
        b2 = -b - c + (2.0 * n - b + c) * delta
        c2 = -c * delta * (1.0 - delta)
        p = (math.sqrt(max(0.0, b2 * b2 - 4.0 * a2 * c2)) - b2) / (2.0 * a2)
        excess = b - c - n * delta
        variance = n * (2.0 * p + delta * (1.0 - delta))
        if variance <= 0.0:  # δ = 0 with no discordant pair: nothing against it
            return math.copysign(math.inf, excess) if excess else 0.0
        return excess / math.sqrt(variance)

    def root(target: float) -> float:
        """The ``δ`` where the (decreasing) score statistic is ``target``."""
        lo, hi = -1.0 + _EDGE, 1.0 - _EDGE
        while hi - lo > _TOLERANCE:
            mid = (lo + hi) / 2.0
            if score(mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2.0

    low = -1.0 if estimate == -1.0 else root(z)
    high = 1.0 if estimate == 1.0 else root(-z)
    return Interval(
        low=max(-1.0, min(low, estimate)), high=min(1.0, max(high, estimate)), estimate=estimate
    )


def enough_events(x1: int, n1: int, x2: int, n2: int, minimum: int) -> bool:
    """Whether a two-proportion comparison has enough to go on: each sample holds at least
    ``minimum`` events (observations: calls checked, answers judged — the ``n``), so a drift
    alert cannot fire on a handful of calls however lopsided they look. The counts are
    checked as :func:`two_proportion_test` checks them, except that an empty sample is allowed
    here (and is never enough)."""
    if minimum < 0:
        raise ValueError(f"minimum must be >= 0, got {minimum}")
    _check_counts(x1, n1, allow_empty=True)
    _check_counts(x2, n2, allow_empty=True)
    return n1 >= max(minimum, 1) and n2 >= max(minimum, 1)


def _check_counts(successes: int, n: int, *, allow_empty: bool = False) -> None:
    if n < 0 or (n == 0 and not allow_empty):
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
