"""A proportion's confidence interval. Issue 15's sampled SLOs use its lower bound so that a
judge sampled on a few events does not page on noise; two-proportion tests for drift belong
here too."""

from __future__ import annotations

import math

from scipy.stats import norm  # type: ignore[import-untyped]

from daytwo.stats.interval import Interval


def z_two_sided(confidence: float) -> float:
    """The standard normal quantile that leaves ``(1 - confidence) / 2`` in each tail."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for ``successes`` out of ``n`` (Wilson 1927).

    Unlike the Wald interval ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1] and keeps close to
    its nominal coverage at small n and for rates near 0 or 1 (Brown, Cai & DasGupta 2001) —
    the regime of refusal rates and sampled judges. 8/10 at 95 % gives (0.4902, 0.9433).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = z_two_sided(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # At p = 0 (or 1) the lower (upper) bound is p itself; rounding must not move it off p.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low=low, high=high, estimate=p)
