"""McNemar's exact test and the Wilcoxon signed-rank test, checked against their definitions by
value (exact fractions) and against the lm-eval-harness #3831 situation."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daytwo.stats import mcnemar_exact, wilcoxon_signed_rank


def statsmodels_exact(b: int, c: int) -> float:
    """statsmodels' ``mcnemar(table, exact=True)``: min(1, 2 · P(Bin(b + c, 1/2) <= min(b, c))),
    computed here in exact fractions."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(Fraction(math.comb(n, k), 2**n) for k in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (0, 6, 2 / 64),  # all six discordant pairs one way: 2 · 0.5**6
        (0, 5, 2 / 32),
        (10, 2, 158 / 4096),  # 2 · (1 + 12 + 66) / 2**12
        (2, 10, 158 / 4096),
        (86, 150, statsmodels_exact(86, 150)),  # Agresti's presidential approval table
    ],
)
def test_mcnemar_exact_matches_the_statsmodels_definition(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_exact_is_the_binomial_tail_for_any_table(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(statsmodels_exact(b, c), rel=1e-9, abs=1e-300)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_the_paired_test_sees_what_the_unpaired_z_test_misses() -> None:
    """lm-eval-harness #3831: on the same 220 items the unpaired z-test says p = 0.080 and
    McNemar p = 0.008. A table of that kind: both right on 184 items, only A on 15, only B on
    3, neither on 18 (A 199/220 = 90.5 %, B 187/220 = 85.0 %)."""
    n, both, a_only, b_only = 220, 184, 15, 3
    acc_a, acc_b = (both + a_only) / n, (both + b_only) / n
    se = math.sqrt(acc_a * (1 - acc_a) / n + acc_b * (1 - acc_b) / n)
    unpaired = math.erfc(abs(acc_a - acc_b) / se / math.sqrt(2))
    assert unpaired == pytest.approx(0.0802, abs=5e-4)
    # By hand: 2 · (C(18,0) + C(18,1) + C(18,2) + C(18,3)) / 2**18 = 2 · 988 / 262144
    assert mcnemar_exact(a_only, b_only) == pytest.approx(1976 / 262144, rel=1e-12)
    assert mcnemar_exact(a_only, b_only) < 0.05 < unpaired


def test_mcnemar_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="discordant"):
        mcnemar_exact(-1, 3)


def test_wilcoxon_with_no_difference_has_no_p_value() -> None:
    assert wilcoxon_signed_rank([0.0, 0.0, 0.0]) is None
    assert wilcoxon_signed_rank([]) is None


def test_wilcoxon_exact_values() -> None:
    # Eight differences, all positive and distinct: only the all-positive sign pattern (and
    # its mirror) is as extreme, so p = 2 / 2**8.
    assert wilcoxon_signed_rank([0.1 * k for k in range(1, 9)]) == pytest.approx(2 / 256)
    # Zeros are dropped; six equal |differences| make the ranks tie, which reduces the test to
    # the sign test: one negative of six, p = 2 · (1 + 6) / 64.
    diffs = [1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert wilcoxon_signed_rank(diffs) == pytest.approx(14 / 64)


def test_wilcoxon_does_not_depend_on_the_direction() -> None:
    diffs = [0.3, -0.1, 0.25, 0.4, -0.05, 0.2, 0.15, 0.3, 0.1, -0.2]
    assert wilcoxon_signed_rank(diffs) == pytest.approx(wilcoxon_signed_rank([-d for d in diffs]))
