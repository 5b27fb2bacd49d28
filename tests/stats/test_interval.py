"""Non-inferiority: the gate's "no significant regression beyond δ"."""

from __future__ import annotations

import pytest

from daytwo.stats import Interval, noninferior


@pytest.mark.parametrize(
    ("ci_low", "margin", "expected"),
    [
        (-0.01, 0.02, True),  # a drop of at most 1 point is ruled in, 2 allowed
        (-0.03, 0.02, False),  # the data cannot rule out a 3-point drop
        (-0.02, 0.02, True),  # at the margin exactly
        (0.0, 0.0, True),  # identical on every item: not worse at all
        (-1e-9, 0.0, False),
        (0.05, 0.0, True),  # significantly better
    ],
)
def test_noninferior(ci_low: float, margin: float, expected: bool) -> None:
    assert noninferior(ci_low, margin) is expected


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        noninferior(0.1, -0.01)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.01, 0.2, True), (-0.2, -0.01, True), (-0.1, 0.1, False), (0.0, 0.1, False)],
)
def test_excludes_zero(low: float, high: float, expected: bool) -> None:
    assert Interval(low, high, (low + high) / 2).excludes_zero is expected
