"""Paired tests: the same items measured twice (baseline and candidate), so each item is its
own control and what differs between items (hard and easy questions) cancels out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest, wilcoxon  # type: ignore[import-untyped]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: ``b`` items pass under the
    baseline only, ``c`` under the candidate only.

    Items that agree carry no information about which side is better; under "no difference"
    each discordant item is a fair coin, so the p-value is the two-sided binomial test of ``b``
    successes in ``b + c`` trials at 1/2 — statsmodels' ``mcnemar(table, exact=True)``,
    ``min(1, 2·P(X <= min(b, c)))``. No discordant pairs: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5).pvalue)


def wilcoxon_signed_rank(diffs: Sequence[float] | np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of per-item differences (candidate - baseline),
    zero differences dropped (Wilcoxon's own treatment). None when every difference is zero:
    there is nothing to rank and no evidence either way.

    A rank test: robust to a few extreme items, but it tests a shift in location (the
    median difference), not the mean; it is reported beside the bootstrap CI of the mean.
    """
    values = np.asarray(diffs, dtype=np.float64)
    if values.size == 0 or not np.any(values):
        return None
    return float(wilcoxon(values).pvalue)
