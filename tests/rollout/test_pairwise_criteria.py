"""The pairwise judge's metric over a shadow stage's pairs, with numbers worked by hand: the
candidate's loss share minus its win share against ``max_pairwise_loss``, by Tango's interval
(Fagerland et al.'s published example; the closed form with ties only; the score statistic
at the margin). A guard: it rolls a stage back when worse and never holds one up."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from daytwo.quality.pairwise import EVALUATOR
from daytwo.rollout import recommend
from daytwo.rollout.criteria import PAIRWISE, ArmSample, judge, pairwise_check
from daytwo.rollout.model import Criteria

#: Errors, latency and cost not worse on either arm (the gates): 200 calls a side, no error,
#: the same latencies and costs.
QUIET = ArmSample(calls=200, latencies_ms=(100.0,) * 200, costs_usd=(0.001,) * 200)


def test_more_wins_than_losses_is_not_worse_and_reads_as_the_evidence_line() -> None:
    # Cavo et al. (2012) as in Fagerland et al.: 6 and 16 discordant of 161 pairs, Tango's
    # interval (-0.1240, -0.0054); here 6 losses and 16 wins.
    check = pairwise_check(16, 139, 6, 0.05)
    assert check is not None
    assert (check.metric, check.verdict, check.gates) == ("pairwise", "not worse", False)
    assert check.line == (
        "pairwise judge 16 better, 139 tie, 6 worse of 161 pairs (candidate not worse on "
        "96.3%; losses − wins -6.2 pt, 95% CI -12.4–-0.5, margin 5.0 pt): not worse"
    )


@pytest.mark.parametrize(("ties", "verdict"), [(100, "not worse"), (50, "unsure")])
def test_ties_alone_show_not_worse_only_in_number(ties: int, verdict: str) -> None:
    # With no discordant pair the upper end is z² / (n + z²): 3.84 / 103.84 = 3.7 points at
    # 100 ties (within 5), 3.84 / 53.84 = 7.1 points at 50 (across it).
    check = pairwise_check(0, ties, 0, 0.05)
    assert check is not None
    z2 = 1.959964**2
    assert f"95% CI -{z2 / (ties + z2) * 100:.1f}–+{z2 / (ties + z2) * 100:.1f}" in check.line
    assert check.verdict == verdict


def test_three_losses_of_three_pairs_are_not_yet_worse() -> None:
    # Fagerland et al.: 3 of 3 on one side, interval (-0.1230, 1.0): no difference shown.
    check = pairwise_check(0, 0, 3, 0.05)
    assert check is not None
    assert check.verdict == "unsure"
    assert "95% CI -12.3–+100.0" in check.line


def test_losses_beyond_the_margin_are_worse() -> None:
    # 20 losses, 20 ties, no win. At δ = 0.05 the score statistic is, by hand:
    # B = -20 + (80 - 20)·0.05 = -17, C = 0, p̃ = (17 + 17) / 160 = 0.2125,
    # T = (20 - 40·0.05) / sqrt(40·(2·0.2125 + 0.05·0.95)) = 18 / sqrt(18.9) = 4.14 > 1.96:
    # a loss share only 5 points above the win share is ruled out.
    b, n, delta = -20 + (80 - 20) * 0.05, 40, 0.05
    p = (math.sqrt(b * b) - b) / (2 * 2 * n)
    assert (20 - n * delta) / math.sqrt(n * (2 * p + delta * (1 - delta))) == pytest.approx(
        4.140, abs=1e-3
    )
    check = pairwise_check(0, 20, 20, 0.05)
    assert check is not None and check.verdict == "worse"


def test_no_pairs_no_metric() -> None:
    # A canary stage: nothing was mirrored, nothing judged in pairs.
    assert pairwise_check(0, 0, 0, 0.05) is None
    result = judge(QUIET, QUIET, Criteria())
    assert "pairwise" not in {c.metric for c in result.checks}


def test_the_pairwise_metric_rolls_a_stage_back_but_never_holds_it() -> None:
    criteria = Criteria(max_error_increase=0.05, max_latency_ratio=1.5, max_cost_ratio=1.25)
    worse = judge(replace(QUIET, pairwise=(0, 20, 20)), QUIET, criteria)
    assert worse.outcome == "fail"
    assert [c.metric for c in worse.failed] == ["pairwise"]
    unsure = judge(replace(QUIET, pairwise=(0, 0, 3)), QUIET, criteria)
    assert unsure.outcome == "pass"  # the gates passed; three pairs show nothing yet
    assert any(line.startswith("pairwise judge 0 better") for line in unsure.lines)


def test_the_margin_is_the_rollouts_own() -> None:
    # Cavo's upper end is -0.54 points: not worse even at margin 0.
    assert verdict(16, 139, 6, 0.0) == "not worse"
    # 20 losses and 20 ties, by hand (p̃ = 0 where B > 0): at δ = 0.35, B = -20 + 60·0.35 = 1
    # and T = (20 - 14) / sqrt(40·0.35·0.65) = 1.989 > 1.96, ruled out: worse; at δ = 0.36,
    # B = 1.6 and T = (20 - 14.4) / sqrt(40·0.36·0.64) = 1.845, not ruled out: unsure.
    assert verdict(0, 20, 20, 0.35) == "worse"
    assert verdict(0, 20, 20, 0.36) == "unsure"
    assert Criteria().max_pairwise_loss == 0.05


def test_the_evaluator_is_spelled_as_the_quality_room_spells_it() -> None:
    assert PAIRWISE == EVALUATOR == recommend.PAIRWISE


def verdict(better: int, tie: int, worse: int, margin: float) -> str:
    check = pairwise_check(better, tie, worse, margin)
    assert check is not None
    return check.verdict
