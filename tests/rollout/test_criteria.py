"""A stage's criteria from counts and samples, with numbers worked by hand: the rate intervals
are Newcombe's (1998) Table II examples (a), (b) and (e), whose bounds are published; the
ratios come from samples whose quantiles and means are plain arithmetic."""

from __future__ import annotations

import pytest
from tests.rollout.harness import make_rollout

from daytwo.rollout.criteria import (
    ArmSample,
    SloSample,
    judge,
    rate_check,
    ratio_check,
    slo_check,
    waiting_for,
)
from daytwo.rollout.model import Criteria


def test_a_rate_worse_beyond_its_margin_reads_as_the_evidence_line() -> None:
    # Newcombe's example (a): 56/70 - 48/80 = +0.2000, 95 % interval (+0.0524, +0.3339).
    check = rate_check("errors", (56, 70), (48, 80), 0.05)
    assert check.verdict == "worse"  # +5.24 pt is the least it can be, above 5.0
    assert check.line == (
        "errors 60.0% → 80.0% (+20.0 pt, 95% CI +5.2–+33.4, margin 5.0 pt): worse"
    )


@pytest.mark.parametrize(
    ("margin", "verdict"),
    [(0.05, "worse"), (0.0525, "unsure"), (0.3338, "unsure"), (0.334, "not worse")],
)
def test_the_margin_against_both_ends_of_the_interval(margin: float, verdict: str) -> None:
    assert rate_check("errors", (56, 70), (48, 80), margin).verdict == verdict


def test_a_small_sample_is_never_shown_not_worse() -> None:
    # Example (e): 0/10 - 0/20, interval (-0.1611, +0.2775): no event on either side, yet ten
    # calls cannot rule out a rise of 27.7 points.
    check = rate_check("refusals", (0, 10), (0, 20), 0.02)
    assert check.verdict == "unsure"
    assert check.line == (
        "refusals 0.0% → 0.0% (+0.0 pt, 95% CI -16.1–+27.8, margin 2.0 pt): unsure"
    )
    assert rate_check("refusals", (0, 10), (0, 20), 0.28).verdict == "not worse"


def test_a_rate_with_nothing_on_one_side_is_unsure() -> None:
    check = rate_check("refusals", (3, 40), (0, 0), 0.02)
    assert check.verdict == "unsure" and "control" in check.line


def test_refusals_far_above_the_controls_fail_the_stage() -> None:
    # Example (b): 9/10 - 3/10, interval (+0.1705, +0.8090).
    result = judge(
        ArmSample(calls=10, checks={"refusal": (9, 10)}),
        ArmSample(calls=10, checks={"refusal": (3, 10)}),
        Criteria(max_error_increase=0.5, max_refusal_increase=0.02),
    )
    assert result.outcome == "fail"
    assert [c.metric for c in result.failed] == ["refusals"]
    assert result.failed[0].line == (
        "refusals 30.0% → 90.0% (+60.0 pt, 95% CI +17.1–+80.9, margin 2.0 pt): worse"
    )
    # errors 0/10 vs 0/10: (-0.2775, +0.2775), within a 50-point margin
    assert result.checks[0].line.endswith("margin 50.0 pt): not worse")


def test_judges_and_checks_of_some_calls_guard_a_stage_without_holding_it_up() -> None:
    criteria = Criteria(max_error_increase=0.5, max_refusal_increase=0.3)
    control = ArmSample(calls=10, checks={"judge:polite": (3, 10), "format": (0, 10)})
    result = judge(
        ArmSample(calls=10, checks={"judge:polite": (6, 10), "format": (0, 10)}),
        control,
        criteria,
    )
    lines = {c.metric: c for c in result.checks}
    assert lines["judge:polite fails"].verdict == "unsure"  # 30 → 60 %: an interval across 30 pt
    assert not lines["judge:polite fails"].gates
    assert lines["invalid formats"].verdict == "not worse"  # (-27.75, +27.75) within 30 pt
    assert lines["errors"].verdict == "not worse"  # the one gate here
    assert result.outcome == "pass"
    # Example (b), 9/10 against 3/10: (+17.1, +80.9), wholly beyond 2 points
    worse = judge(
        ArmSample(calls=10, checks={"judge:polite": (9, 10)}),
        control,
        Criteria(max_error_increase=0.5, max_refusal_increase=0.02),
    )
    assert worse.outcome == "fail" and [c.metric for c in worse.failed] == ["judge:polite fails"]


def test_a_refusal_rate_not_yet_shown_within_its_margin_holds_the_stage() -> None:
    result = judge(
        ArmSample(calls=10, checks={"refusal": (6, 10)}),
        ArmSample(calls=10, checks={"refusal": (3, 10)}),
        Criteria(max_error_increase=0.5, max_refusal_increase=0.3),
    )
    assert [c.verdict for c in result.checks] == ["not worse", "unsure"]
    assert result.outcome == "undecided"


def test_the_p95_latency_ratio_of_samples_without_spread_is_exact() -> None:
    # Every call 100 ms against every call 150 ms: p95 100 and 150, 1.5 times with no doubt.
    at = ratio_check("latency p95", [100.0] * 50, [150.0] * 50, 1.5, quantile=0.95)
    assert at is not None and at.verdict == "not worse"  # the limit may be reached
    assert at.line == (
        "latency p95 100 ms → 150 ms (×1.50, 95% CI ×1.50–×1.50, limit ×1.50): not worse"
    )
    above = ratio_check("latency p95", [100.0] * 50, [150.0] * 50, 1.4, quantile=0.95)
    assert above is not None and above.verdict == "worse"


def test_a_p95_twice_the_controls_is_worse_than_a_half_again_limit() -> None:
    # 1..100 ms: p95 = 1 + 0.95 * 99 = 95.05 (linear interpolation); 2..200 ms: 190.1.
    control = [float(x) for x in range(1, 101)]
    candidate = [2.0 * x for x in control]
    check = ratio_check("latency p95", control, candidate, 1.5, quantile=0.95)
    assert check is not None and check.verdict == "worse"
    assert check.line.startswith("latency p95 95 ms → 190 ms (×2.00, 95% CI ×1.")
    assert check.line.endswith(", limit ×1.50): worse")


def test_a_cheaper_candidate_passes_the_cost_limit() -> None:
    # $0.0002 a call against $0.00001: a twentieth.
    check = ratio_check("cost per call", [0.0002] * 40, [0.00001] * 40, 1.25)
    assert check is not None and check.verdict == "not worse"
    assert check.line == (
        "cost per call $0.000200 → $0.0000100 (×0.05, 95% CI ×0.05–×0.05, limit ×1.25): not worse"
    )


def test_ratios_need_two_values_a_side_and_a_control_above_zero() -> None:
    assert ratio_check("cost per call", [], [], 1.25) is None
    assert ratio_check("cost per call", [0.0, 0.0], [0.1, 0.1], 1.25) is None
    one = ratio_check("latency p95", [100.0, 120.0], [90.0], 1.5, quantile=0.95)
    assert one is not None and one.verdict == "unsure" and "candidate" in one.line


def test_an_slo_burning_faster_than_its_budget_allows_is_worse() -> None:
    # Objective 98 %: a 2 % budget. Control 1/100 bad (burn 0.5), candidate 30/100 (burn 15);
    # the candidate's Wilson lower bound, 21.9 %, still burns 11 times the budget.
    check = slo_check(SloSample("support-refusal", 0.98, (30, 100), (1, 100)))
    assert check is not None and check.verdict == "worse"
    assert check.line.startswith(
        "SLO support-refusal burn ×0.50 → ×15.00 (bad 1.0% → 30.0%, 95% CI +"
    )
    assert check.line.endswith("pt, budget 2.0%): worse")


def test_an_slo_burning_faster_within_its_budget_is_not_worse() -> None:
    # Objective 50 %: the same counts burn 0.60 at most likely, 0.44 at the lower bound.
    check = slo_check(SloSample("support-refusal", 0.5, (30, 100), (1, 100)))
    assert check is not None and check.verdict == "not worse"
    assert slo_check(SloSample("quiet", 0.99, (0, 0), (1, 100))) is None


def test_a_stage_passes_only_when_every_metric_is_not_worse() -> None:
    criteria = Criteria(max_error_increase=0.3, max_refusal_increase=0.3)
    same = ArmSample(
        calls=20,
        latencies_ms=(100.0,) * 20,
        costs_usd=(0.001,) * 20,
        checks={"refusal": (0, 20)},
    )
    passed = judge(same, same, criteria)
    assert passed.outcome == "pass"
    assert [c.metric for c in passed.checks] == [
        "errors",
        "refusals",
        "latency p95",
        "cost per call",
    ]
    pricier = ArmSample(
        calls=20,
        latencies_ms=(100.0,) * 20,
        costs_usd=(0.002,) * 20,
        checks={"refusal": (0, 20)},
    )
    failed = judge(pricier, same, criteria)
    assert failed.outcome == "fail" and [c.metric for c in failed.failed] == ["cost per call"]
    assert judge(ArmSample(), ArmSample(), criteria).outcome == "undecided"


def test_a_stage_is_judged_after_its_duration_and_its_calls() -> None:
    rollout = make_rollout(
        "alias", "chat", "chat", "cheap", criteria=Criteria(min_duration_s=60, min_calls=50)
    )
    start = rollout.stage_started_at
    assert waiting_for(rollout, 500, start + 30) == "30 s more of canary 50%"
    assert waiting_for(rollout, 20, start + 61) == "30 more candidate calls (has 20)"
    assert waiting_for(rollout, 50, start + 61) is None
