"""The one shape every interval takes, and the non-inferiority decision made on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval around a point estimate (``low <= estimate <= high`` for the
    intervals built here; a degenerate sample gives ``low == estimate == high``)."""

    low: float
    high: float
    estimate: float
    #: Bootstrap intervals: the standard deviation of the resampled statistic (what a
    #: minimal detectable effect is computed from); None where no resampling was done.
    standard_error: float | None = None

    @property
    def excludes_zero(self) -> bool:
        """The interval lies wholly above or wholly below zero: a difference at this
        confidence."""
        return self.low > 0.0 or self.high < 0.0


def noninferior(ci_low_of_delta: float, margin: float) -> bool:
    """Non-inferiority of a candidate whose metric should not drop: the lower confidence bound
    of ``candidate - baseline`` is at or above ``-margin``.

    The burden of proof is on the candidate: a sample too small to rule out a drop larger than
    ``margin`` is not non-inferior. For a metric where lower is better (cost, latency), pass
    ``-ci_high`` of the delta. ``margin`` 0 asks for "not worse at all", which a candidate
    identical on every item (the point interval at 0) meets.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return ci_low_of_delta >= -margin
