"""Minimal detectable effects: the formula's values, the exact test's floor, and that an effect
of the MDE's size is in fact found about ``power`` of the time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from daytwo.stats import detectable_effect, mcnemar_exact, mde_paired_mean, mde_paired_proportion
from daytwo.stats.power import min_discordant_for_exact

Z_SUM = 1.959963984540054 + 0.8416212335729143  # z[0.975] + z[0.80]


def test_values_of_the_normal_approximation() -> None:
    assert detectable_effect(1.0) == pytest.approx(Z_SUM)
    assert mde_paired_mean(100, 2.0) == pytest.approx(Z_SUM * 2.0 / 10.0)
    assert mde_paired_proportion(200, 0.14) == pytest.approx(Z_SUM * math.sqrt(0.14 / 200))
    # a stricter alpha and a higher power both ask for a larger effect
    assert mde_paired_mean(100, 1.0, alpha=0.01) > mde_paired_mean(100, 1.0)
    assert mde_paired_mean(100, 1.0, power=0.9) > mde_paired_mean(100, 1.0)


@pytest.mark.parametrize("alpha", [0.2, 0.1, 0.05, 0.01, 0.001])
def test_the_floor_is_the_fewest_discordant_pairs_the_exact_test_can_reject_with(
    alpha: float,
) -> None:
    k = min_discordant_for_exact(alpha)
    assert mcnemar_exact(0, k) < alpha <= mcnemar_exact(0, k - 1)


def test_ten_items_cannot_see_less_than_six_in_ten() -> None:
    # whatever share of items disagreed, 10 items need 6 discordant pairs all one way
    for discordant_rate in (0.0, 0.1, 0.3):
        assert mde_paired_proportion(10, discordant_rate) == pytest.approx(0.6)
    assert mde_paired_proportion(200, 0.0) == pytest.approx(6 / 200)
    assert mde_paired_proportion(4, 1.0) == 1.0


def test_a_mean_shift_of_the_mde_is_found_at_about_the_stated_power() -> None:
    rng = np.random.default_rng(7)
    n, sd, trials = 100, 1.5, 4000
    effect = mde_paired_mean(n, sd)
    diffs = rng.normal(effect, sd, size=(trials, n))
    z = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / math.sqrt(n))
    assert np.mean(np.abs(z) > 1.959963984540054) == pytest.approx(0.8, abs=0.03)


def test_a_pass_rate_drop_of_the_mde_is_found_at_about_the_stated_power() -> None:
    # 400 items, 20 % of them discordant; a true drop of the MDE moves discordance one way
    rng = np.random.default_rng(11)
    n, psi, trials = 400, 0.2, 1000
    delta = mde_paired_proportion(n, psi)
    cells = rng.multinomial(n, [(psi + delta) / 2, (psi - delta) / 2, 1 - psi], size=trials)
    found = np.mean([mcnemar_exact(int(b), int(c)) < 0.05 for b, c, _ in cells])
    # the exact test is slightly conservative (Fagerland et al. 2013): at or a little under 0.8
    assert 0.72 <= found <= 0.85


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mde_paired_mean(0, 1.0), "n must be"),
        (lambda: mde_paired_proportion(10, 1.5), "discordant rate"),
        (lambda: detectable_effect(-1.0), "standard error"),
        (lambda: detectable_effect(1.0, alpha=0.0), "alpha and power"),
    ],
)
def test_bad_input_is_refused(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=match):
        call()
