"""The deploy gate's decision (evals/gate.py) on constructed runs: each criterion held and
missed, at its boundary, without a baseline, with no criterion, with errored items."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from daytwo.evals.compare import compare
from daytwo.evals.gate import evaluate_gate
from daytwo.evals.model import (
    Comparison,
    GateCriteria,
    Grade,
    ItemResult,
    MetricComparison,
    Output,
    RunResult,
    Target,
)

BASE, CAND = "prompt:support@v1", "prompt:support@v2"


def item(
    i: int,
    target: str = CAND,
    *,
    passed: bool = True,
    score: float | None = None,
    cost: float = 0.0002,
    latency: float = 100.0,
    text: str = "Refunds take 5 business days.",
    cached: bool = False,
    error: str | None = None,
) -> ItemResult:
    grade = Grade(
        "contains", "contains", passed, score if score is not None else float(passed), "r"
    )
    output = None if error else Output(text, cost_usd=cost, latency_ms=latency, cached=cached)
    return ItemResult(f"case-{i}", i, target, 0, output, (grade,), error)


def run_of(*items: ItemResult) -> RunResult:
    labels = dict.fromkeys(i.target for i in items)
    targets = tuple(Target(label, "prompt", label) for label in labels)
    return RunResult("run-1", "evals/support.yaml", "", 0.0, 1.0, targets, items)


def gate(criteria: GateCriteria, run: RunResult, **kw: Any) -> Any:
    """The verdict for CAND against BASE when the run has it (compared on the run's items)."""
    has_base = bool(run.for_target(BASE))
    comparison = (
        compare(
            run.for_target(BASE), run.for_target(CAND), baseline_label=BASE, candidate_label=CAND
        )
        if has_base
        else None
    )
    return evaluate_gate(
        criteria, run, BASE if has_base else None, CAND, kw.pop("comparison", comparison), **kw
    )


def twenty(passing: int, **kw: Any) -> list[ItemResult]:
    return [item(i, passed=i < passing, **kw) for i in range(20)]


def test_no_criterion_is_cannot_run_never_a_pass() -> None:
    verdict = gate(GateCriteria(), run_of(*twenty(20)))
    assert verdict.status == "cannot run" and verdict.exit_code == 2
    assert "the gate has no criteria" in verdict.reason


@pytest.mark.parametrize(("passing", "status"), [(17, "pass"), (16, "fail"), (20, "pass")])
def test_min_pass_rate_holds_at_the_limit_and_fails_below(passing: int, status: str) -> None:
    verdict = gate(GateCriteria(min_pass_rate=0.85), run_of(*twenty(passing)))
    assert verdict.status == status
    (check,) = verdict.checks
    assert check.value == pytest.approx(passing / 20) and check.limit == 0.85
    assert f"pass rate {passing / 20:.1%} ({passing} of 20; Wilson 95% [" in check.line
    assert check.line.endswith("≥ 85.0%" if status == "pass" else "< 85.0%")


def test_errored_items_count_as_failed_and_too_many_cannot_run() -> None:
    one = [*twenty(20)[:19], item(19, error="HTTP 503 after 4 tries")]
    verdict = gate(GateCriteria(min_pass_rate=1.0), run_of(*one))
    assert verdict.status == "fail"
    assert "1 errored counted as failed" in verdict.checks[0].line
    three = [*twenty(20)[:17], *(item(i, error="HTTP 503") for i in range(17, 20))]
    verdict = gate(GateCriteria(min_pass_rate=0.5), run_of(*three))
    assert verdict.status == "cannot run"
    assert "3 of the 20 items" in verdict.reason and "more than 10%" in verdict.reason


def test_every_candidate_item_errored_is_provider_down() -> None:
    run = run_of(*(item(i, error="connection refused") for i in range(5)))
    verdict = gate(GateCriteria(max_cost_per_call_usd=1.0), run)
    assert verdict.status == "cannot run"
    assert verdict.reason.startswith("provider down: every one of the 5 items")
    assert "connection refused" in verdict.lines()[0]


def test_min_score_is_the_mean_item_score() -> None:
    items = [item(i, score=s) for i, s in enumerate([0.6, 0.7, 0.8])]
    held = gate(GateCriteria(min_score=0.7), run_of(*items))
    assert held.status == "pass" and "mean score 0.700 ≥ 0.700 (3 items)" in held.checks[0].line
    assert gate(GateCriteria(min_score=0.71), run_of(*items)).status == "fail"


def test_no_regression_on_an_identical_candidate_holds_at_margin_zero() -> None:
    base = [item(i, BASE, passed=i % 3 > 0) for i in range(12)]
    cand = [replace(b, target=CAND) for b in base]
    verdict = gate(GateCriteria(no_regression=("pass", "score")), run_of(*base, *cand))
    assert verdict.status == "pass", verdict.lines()
    assert [c.criterion for c in verdict.checks] == ["no_regression:pass", "no_regression:score"]
    assert "delta +0.0 pp, 95% CI [+0.0 pp, +0.0 pp] (n=12); lower bound at or above" in (
        verdict.checks[0].line
    )


def metric(name: str = "helpfulness", **kw: Any) -> MetricComparison:
    values: dict[str, Any] = {
        "metric": name,
        "kind": "score",
        "n": 40,
        "baseline": 0.735,
        "candidate": 0.712,
        "delta": -0.023,
        "ci_low": -0.061,
        "ci_high": 0.014,
        "p_value": 0.2,
        "test": "paired-bootstrap",
        "verdict": "no detectable difference",
        "mde": 0.05,
    }
    values.update(kw)
    return MetricComparison(**values)


def comparison(*metrics: MetricComparison) -> Comparison:
    return Comparison(BASE, CAND, 40, metrics)


@pytest.mark.parametrize(
    ("ci_low", "margin", "status", "tail"),
    [
        (-0.061, 0.05, "fail", "lower bound below -0.050 (a regression beyond the margin"),
        (-0.049, 0.05, "pass", "lower bound at or above -0.050 (non-inferior)"),
        (-0.05, 0.05, "pass", "non-inferior"),
    ],
)
def test_no_regression_decides_on_the_ci_lower_bound(
    ci_low: float, margin: float, status: str, tail: str
) -> None:
    run = run_of(*twenty(20, target=BASE), *twenty(20))
    criteria = GateCriteria(no_regression=("helpfulness",), margin=margin)
    verdict = gate(criteria, run, comparison=comparison(metric(ci_low=ci_low)))
    assert verdict.status == status
    line = verdict.checks[0].line
    assert line.startswith("helpfulness: candidate 0.712 vs baseline 0.735, delta -0.023, 95% CI [")
    assert tail in line


def test_no_regression_mirrors_lower_is_better_metrics() -> None:
    run = run_of(*twenty(20, target=BASE), *twenty(20))
    latency = metric(
        "latency_p95_ms",
        kind="latency",
        higher_is_better=False,
        baseline=800.0,
        candidate=900.0,
        delta=100.0,
        ci_low=20.0,
        ci_high=180.0,
    )
    criteria = GateCriteria(no_regression=("latency_p95_ms",), margin=150.0)
    verdict = gate(criteria, run, comparison=comparison(latency))
    assert verdict.status == "fail"
    assert "upper bound above +150 ms" in verdict.checks[0].line
    criteria = GateCriteria(no_regression=("latency_p95_ms",), margin=200.0)
    assert gate(criteria, run, comparison=comparison(latency)).status == "pass"


def test_a_metric_the_comparison_lacks_cannot_run_naming_it() -> None:
    run = run_of(*twenty(20, target=BASE), *twenty(20))
    verdict = gate(GateCriteria(no_regression=("pass", "helpfulnes")), run)
    assert verdict.status == "cannot run"
    assert "no metric 'helpfulnes'" in verdict.reason and "it has: pass, score" in verdict.reason


def test_criteria_that_compare_need_a_baseline() -> None:
    run = run_of(*twenty(20))
    for criteria in (GateCriteria(no_regression=("pass",)), GateCriteria(max_cost_ratio=1.5)):
        verdict = gate(criteria, run)
        assert verdict.status == "cannot run" and "need a baseline" in verdict.reason
    assert gate(GateCriteria(min_pass_rate=0.5), run).status == "pass"


def test_cost_per_call_and_cost_ratio() -> None:
    run = run_of(*twenty(20, target=BASE, cost=0.000197), *twenty(20, cost=0.00042))
    verdict = gate(GateCriteria(max_cost_per_call_usd=0.0004, max_cost_ratio=1.5), run)
    assert verdict.status == "fail" and len(verdict.failed) == 2
    lines = [c.line for c in verdict.checks]
    assert lines[0] == "cost per call $0.000420 > $0.000400 (mean of 20 answers)"
    assert lines[1] == (
        "cost per call $0.000420 = 2.13x the baseline's $0.000197 (limit 1.50x, n=20)"
    )
    verdict = gate(GateCriteria(max_cost_per_call_usd=0.00042, max_cost_ratio=2.2), run)
    assert verdict.status == "pass"


def test_latency_p95_of_calls_made_and_cached_answers_cannot_run() -> None:
    items = [item(i, latency=100.0 + 10 * i) for i in range(20)]  # p95: 280.5 ms
    assert gate(GateCriteria(max_latency_p95_ms=281), run_of(*items)).status == "pass"
    assert gate(GateCriteria(max_latency_p95_ms=280), run_of(*items)).status == "fail"
    verdict = gate(GateCriteria(max_latency_p95_ms=250), run_of(*items))
    assert verdict.checks[0].line == "latency p95 280 ms > 250 ms (20 calls)"
    cached = [item(i, cached=True) for i in range(5)]
    verdict = gate(GateCriteria(max_latency_p95_ms=500), run_of(*cached))
    assert verdict.status == "cannot run" and "--no-cache" in verdict.reason


def test_refusal_rate_counts_declined_answers() -> None:
    refusal = "I'm sorry, but I can't help with that."
    items = [item(i, text=refusal if i < 2 else "Sure.") for i in range(40)]
    verdict = gate(GateCriteria(max_refusal_rate=0.05), run_of(*items))
    assert verdict.status == "pass"
    assert verdict.checks[0].line.startswith("refusal rate 5.0% (2 of 40; Wilson 95% [1.4%, ")
    assert gate(GateCriteria(max_refusal_rate=0.04), run_of(*items)).status == "fail"


def test_format_compliance_needs_the_requested_formats() -> None:
    items = [item(i, text='{"answer": 1}' if i < 9 else "not json") for i in range(10)]
    run = run_of(*items)
    criteria = GateCriteria(min_format_compliance=0.9)
    verdict = gate(criteria, run)
    assert verdict.status == "cannot run" and "formats are not known" in verdict.reason
    formats = {i.case_id: {"type": "json_object"} for i in items}
    verdict = gate(criteria, run, formats=formats)
    assert verdict.status == "pass" and "format compliance 90.0% (9 of 10" in verdict.lines()[1]
    assert gate(GateCriteria(min_format_compliance=0.95), run, formats=formats).status == "fail"
    verdict = gate(criteria, run, formats=dict.fromkeys(formats))
    assert verdict.status == "cannot run" and "no answer of the candidate was asked" in (
        verdict.reason
    )


def test_lines_put_failed_criteria_first() -> None:
    run = run_of(*twenty(18, cost=0.001))
    verdict = gate(GateCriteria(min_pass_rate=0.8, max_cost_per_call_usd=0.0005), run)
    lines = verdict.lines()
    assert lines[0] == f"gate: FAIL for {CAND} (1 of 2 criteria failed)"
    assert lines[1].startswith("  FAIL cost per call $0.00100 > $0.000500")
    assert lines[2].startswith("  ok   pass rate 90.0%")
