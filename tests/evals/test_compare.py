"""Baseline vs candidate on the same items: pairing, folding repeats, errors, every metric's
test and verdict, and the acceptance case — a candidate 10 points worse is flagged at n = 200
and not at n = 10, where the MDE says what 10 items could have seen."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm  # type: ignore[import-untyped]

from daytwo.evals.compare import compare, cost_ratio
from daytwo.evals.model import Comparison, Grade, ItemResult, MetricComparison, Output
from daytwo.stats import mcnemar_exact


def item(
    case: int,
    target: str,
    *,
    passed: bool = True,
    score: float | None = None,
    metric: str = "correct",
    repeat: int = 0,
    cost: float = 0.001,
    latency: float = 500.0,
    cached: bool = False,
    error: str | None = None,
    extra: tuple[Grade, ...] = (),
) -> ItemResult:
    """One result whose single assertion (``metric``) passed or not, with its score."""
    grade = Grade(
        assertion="equals",
        metric=metric,
        passed=passed,
        score=(1.0 if passed else 0.0) if score is None else score,
        reason="",
    )
    return ItemResult(
        case_id=f"case-{case}",
        case_index=case,
        target=target,
        repeat=repeat,
        output=Output(text="answer", cost_usd=cost, latency_ms=latency, cached=cached),
        grades=(grade, *extra),
        error=error,
    )


def simulate(
    n: int, seed: int, *, baseline_rate: float = 0.9, candidate_rate: float = 0.8
) -> tuple[list[ItemResult], list[ItemResult]]:
    """Two simulated models answering the same n items. Item difficulty is shared (hard items
    are hard for both, correlation 0.5 on the latent scale), so outcomes are correlated the way
    real evals are; each model passes an item with its own marginal rate."""
    rng = np.random.default_rng(seed)
    difficulty = rng.standard_normal(n)
    results: list[list[ItemResult]] = []
    for label, rate in (("base", baseline_rate), ("cand", candidate_rate)):
        latent = np.sqrt(0.5) * difficulty + np.sqrt(0.5) * rng.standard_normal(n)
        passes = latent < norm.ppf(rate)
        latencies = rng.lognormal(np.log(600), 0.3, n)
        results.append(
            [item(i, label, passed=bool(passes[i]), latency=float(latencies[i])) for i in range(n)]
        )
    return results[0], results[1]


def run(baseline: list[ItemResult], candidate: list[ItemResult]) -> Comparison:
    return compare(baseline, candidate, baseline_label="base", candidate_label="cand")


def metric(comparison: Comparison, name: str) -> MetricComparison:
    found = comparison.metric(name)
    assert found is not None, f"no {name} in {[m.metric for m in comparison.metrics]}"
    return found


# -- the acceptance case -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ten_points_worse_is_flagged_with_200_items(seed: int) -> None:
    baseline, candidate = simulate(200, seed)
    comparison = run(baseline, candidate)
    passed = metric(comparison, "pass")
    assert passed.verdict == "worse"
    assert passed.test == "mcnemar-exact"
    assert passed.p_value is not None and passed.p_value < 0.05
    b, c = passed.discordant or (0, 0)
    assert b > c
    base_rate = np.mean([r.passed for r in baseline])
    cand_rate = np.mean([r.passed for r in candidate])
    assert passed.delta == pytest.approx(cand_rate - base_rate)
    assert passed.delta == pytest.approx(-0.10, abs=0.08)  # 3 standard errors
    assert passed.ci_high is not None and passed.ci_high < 0
    assert passed.mde is not None and passed.mde < 0.10
    # the assertion's own metric says the same thing, as a rate
    assert metric(comparison, "correct").verdict == "worse"
    assert metric(comparison, "correct").kind == "rate"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ten_points_worse_is_not_detectable_with_10_items(seed: int) -> None:
    comparison = run(*simulate(10, seed))
    passed = metric(comparison, "pass")
    assert passed.n == 10
    assert passed.verdict == "no detectable difference"
    # what 10 items could have seen: no drop smaller than 6 discordant items all one way
    assert passed.mde is not None and passed.mde >= 0.6 > 0.10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_model_twice_is_not_flagged(seed: int) -> None:
    comparison = run(*simulate(200, seed, candidate_rate=0.9))
    assert metric(comparison, "pass").verdict == "no detectable difference"
    assert metric(comparison, "score").verdict == "no detectable difference"


def test_the_comparison_is_deterministic_by_seed() -> None:
    baseline, candidate = simulate(100, 4)
    assert run(baseline, candidate) == run(baseline, candidate)


# -- pairing, folding and errors -----------------------------------------------------------


def test_repeats_fold_into_a_pass_rate_and_a_majority_pass() -> None:
    # case 0: baseline passes 2 of 3 (a majority), the candidate 1 of 3 (not): b
    # case 1: both pass every repeat; case 2: baseline 0 of 3, candidate 3 of 3: c
    pattern = {0: ([1, 1, 0], [1, 0, 0]), 1: ([1, 1, 1], [1, 1, 1]), 2: ([0, 0, 0], [1, 1, 1])}
    baseline = [
        item(case, "base", passed=bool(p), repeat=r)
        for case, (runs, _) in pattern.items()
        for r, p in enumerate(runs)
    ]
    candidate = [
        item(case, "cand", passed=bool(p), repeat=r)
        for case, (_, runs) in pattern.items()
        for r, p in enumerate(runs)
    ]
    comparison = run(baseline, candidate)
    passed = metric(comparison, "pass")
    assert comparison.n_items == passed.n == 3
    assert passed.discordant == (1, 1)
    assert passed.baseline == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert passed.candidate == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert passed.delta == pytest.approx(passed.candidate - passed.baseline)
    assert passed.p_value == 1.0


def test_a_tie_between_repeats_is_not_a_majority_pass() -> None:
    runs = (True, False)
    baseline = [item(c, "base", passed=p, repeat=r) for c in (0, 1) for r, p in enumerate(runs)]
    candidate = [item(c, "cand", repeat=r) for c in (0, 1) for r in (0, 1)]
    assert metric(run(baseline, candidate), "pass").discordant == (0, 2)


def test_errors_are_left_out_of_both_sides_and_counted() -> None:
    baseline = [item(i, "base") for i in range(6)]
    candidate = [
        item(0, "cand", error="upstream 503"),  # the only repeat of case 0 errored
        item(1, "cand", error="timeout", repeat=0),  # case 1 keeps its second repeat
        item(1, "cand", passed=False, repeat=1),
        *(item(i, "cand", passed=False) for i in (2, 3)),
        item(4, "cand"),
        item(7, "cand"),  # not under the baseline
    ]
    judge_failed = Grade("llm-rubric", "rubric", passed=False, score=0.0, reason="", error="bad")
    candidate.append(item(5, "cand", extra=(judge_failed,)))  # a grade errored
    comparison = run(baseline, candidate)
    assert comparison.n_items == 4  # cases 1-4
    assert comparison.unpaired == 3  # case 0 and case 5 (errors), case 7 (one side)
    passed = metric(comparison, "pass")
    assert passed.discordant == (3, 0)
    assert passed.candidate == pytest.approx(1 / 4)
    assert passed.baseline == 1.0


def test_too_few_paired_items_give_no_metrics() -> None:
    comparison = run([item(0, "base")], [item(0, "cand", passed=False)])
    assert comparison.n_items == 1
    assert comparison.metrics == ()
    assert cost_ratio(comparison) is None


def test_alpha_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="alpha"):
        compare([], [], baseline_label="a", candidate_label="b", alpha=1.5)


# -- scores and assertion metrics ----------------------------------------------------------


def test_scores_are_compared_by_the_bootstrap_with_wilcoxon_beside_it() -> None:
    rng = np.random.default_rng(3)
    base_scores = rng.uniform(0.5, 0.9, 60)
    cand_scores = np.clip(base_scores - rng.uniform(0.0, 0.1, 60), 0, 1)
    baseline = [item(i, "base", metric="rouge", score=float(s)) for i, s in enumerate(base_scores)]
    candidate = [item(i, "cand", metric="rouge", score=float(s)) for i, s in enumerate(cand_scores)]
    comparison = run(baseline, candidate)
    for name in ("score", "rouge"):
        scored = metric(comparison, name)
        assert scored.kind == "score"
        assert scored.test == "paired-bootstrap"
        assert scored.verdict == "worse"
        assert scored.delta == pytest.approx(float(np.mean(cand_scores - base_scores)))
        assert scored.ci_low is not None and scored.ci_high is not None
        assert scored.ci_low < scored.delta < scored.ci_high < 0
        assert scored.wilcoxon_p is not None and scored.wilcoxon_p < 1e-6
        assert scored.p_value == scored.wilcoxon_p
        assert scored.discordant is None
        assert scored.mde is not None and 0 < scored.mde < abs(scored.delta)


def test_an_assertion_metric_is_compared_only_where_both_sides_have_it() -> None:
    fmt = Grade("is-json", "format", passed=True, score=1.0, reason="")
    bad_fmt = Grade("is-json", "format", passed=False, score=0.0, reason="")
    only_candidate = Grade("word-count", "length", passed=True, score=0.7, reason="")
    baseline = [item(i, "base", extra=(fmt,)) for i in range(20)]
    candidate = [
        item(i, "cand", extra=(bad_fmt if i < 8 else fmt, only_candidate)) for i in range(20)
    ]
    comparison = run(baseline, candidate)
    fmt_metric = metric(comparison, "format")
    assert fmt_metric.kind == "rate"
    assert fmt_metric.discordant == (8, 0)
    assert fmt_metric.p_value == pytest.approx(mcnemar_exact(8, 0))
    assert fmt_metric.verdict == "worse"
    assert comparison.metric("length") is None
    # the item as a whole fails where its format failed
    assert metric(comparison, "pass").discordant == (8, 0)


def test_an_assertion_metric_named_like_a_builtin_one_is_prefixed() -> None:
    baseline = [item(i, "base", metric="pass") for i in range(5)]
    candidate = [item(i, "cand", metric="pass") for i in range(5)]
    names = [m.metric for m in run(baseline, candidate).metrics]
    assert names.count("pass") == 1
    assert "assert:pass" in names


# -- cost and latency ----------------------------------------------------------------------


def test_cost_is_the_answers_own_and_lower_is_better() -> None:
    rng = np.random.default_rng(6)
    base_cost = rng.uniform(0.001, 0.002, 50)
    judge = Grade("llm-rubric", "rubric", passed=True, score=1.0, reason="", cost_usd=0.05)
    baseline = [item(i, "base", cost=float(c), extra=(judge,)) for i, c in enumerate(base_cost)]
    candidate = [item(i, "cand", cost=float(c) * 2.1) for i, c in enumerate(base_cost)]
    comparison = run(baseline, candidate)
    cost = metric(comparison, "cost_per_call")
    assert cost.kind == "cost"
    assert not cost.higher_is_better
    assert cost.baseline == pytest.approx(float(base_cost.mean()))  # judging not included
    assert cost.verdict == "worse"
    assert cost_ratio(comparison) == pytest.approx(2.1)
    cheaper = run(candidate, baseline)
    assert metric(cheaper, "cost_per_call").verdict == "better"
    assert cost_ratio(cheaper) == pytest.approx(1 / 2.1)


def test_cost_ratio_is_none_when_the_baseline_cost_nothing() -> None:
    comparison = run(
        [item(i, "base", cost=0.0) for i in range(3)], [item(i, "cand") for i in range(3)]
    )
    assert cost_ratio(comparison) is None


def test_latency_quantiles_leave_cached_answers_out() -> None:
    rng = np.random.default_rng(9)
    base_ms = rng.lognormal(np.log(500), 0.3, 80)
    cand_ms = base_ms + 150 + rng.normal(0, 20, 80)
    baseline = [item(i, "base", latency=float(ms)) for i, ms in enumerate(base_ms)]
    # the candidate's first 20 answers came from the eval cache, latency 0
    candidate = [
        item(i, "cand", latency=0.0 if i < 20 else float(ms), cached=i < 20)
        for i, ms in enumerate(cand_ms)
    ]
    comparison = run(baseline, candidate)
    for name, q in (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95)):
        latency = metric(comparison, name)
        assert latency.kind == "latency"
        assert latency.n == 60
        assert latency.baseline == pytest.approx(float(np.quantile(base_ms[20:], q)))
        assert latency.candidate == pytest.approx(float(np.quantile(cand_ms[20:], q)))
        assert latency.verdict == "worse"
        assert latency.ci_low is not None and latency.ci_low > 0
        assert latency.mde is not None and latency.mde > 0
    # the cost of a cached answer is still what that answer costs
    assert metric(comparison, "cost_per_call").n == 80


def test_all_answers_cached_leaves_latency_out() -> None:
    baseline = [item(i, "base", cached=True) for i in range(5)]
    candidate = [item(i, "cand", cached=True) for i in range(5)]
    names = {m.metric for m in run(baseline, candidate).metrics}
    assert "latency_p95_ms" not in names
    assert "cost_per_call" in names
