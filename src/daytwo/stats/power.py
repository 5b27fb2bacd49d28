"""The minimal detectable effect (MDE): the smallest true difference this many items would
find with probability ``power`` at two-sided level ``alpha``. It turns "no detectable
difference" into something a reader can act on: "n = 10 could only have seen a drop of 0.6"."""

from __future__ import annotations

import math

from scipy.stats import norm  # type: ignore[import-untyped]


def detectable_effect(standard_error: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """``(z[1 - alpha/2] + z[power]) · SE``: the normal-approximation MDE of any estimate
    whose standard error is ``standard_error`` (from a formula or a bootstrap)."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    if standard_error < 0:
        raise ValueError(f"standard error must be >= 0, got {standard_error}")
    return float(norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)) * standard_error


def mde_paired_mean(n: int, sd_of_diffs: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """MDE of a mean of paired differences: ``(z[1 - alpha/2] + z[power]) · sd / sqrt(n)``."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return detectable_effect(sd_of_diffs / math.sqrt(n), alpha, power)


def min_discordant_for_exact(alpha: float) -> int:
    """The fewest discordant pairs with which McNemar's exact test can get below ``alpha``:
    all ``k`` on one side gives p = 2 · 0.5**k, so k = floor(log2(2 / alpha)) + 1 (6 at
    0.05)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return math.floor(math.log2(2.0 / alpha)) + 1


def mde_paired_proportion(
    n: int, discordant_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """MDE of a difference of paired proportions (pass rates on the same items).

    With ``psi`` the share of items on which the two sides disagree, the difference of pass
    rates has variance about ``psi / n`` under "no difference" (Connor 1987, dropping the
    ``delta**2`` term, which makes this slightly conservative), so the MDE is
    ``(z[1 - alpha/2] + z[power]) · sqrt(psi / n)``. It is never below ``k / n`` where ``k`` is
    the fewest discordant pairs the exact test needs to reject at all (6 at alpha 0.05): with 10
    items no difference below 0.6 can be detected, whatever the observed disagreement.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0.0 <= discordant_rate <= 1.0:
        raise ValueError(f"discordant rate must be in [0, 1], got {discordant_rate}")
    normal = detectable_effect(math.sqrt(discordant_rate / n), alpha, power)
    return min(1.0, max(normal, min_discordant_for_exact(alpha) / n))
