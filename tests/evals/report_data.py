"""Runs for the report tests, built from the data model: a baseline and a candidate prompt version
on the same cases, with regressions, an errored call, a grading error and hostile text (markup,
quotes, ampersands, control characters, a mention) in case ids, answers and reasons."""

from __future__ import annotations

from daytwo.evals.compare import compare
from daytwo.evals.model import (
    Case,
    Comparison,
    GateCheck,
    GateVerdict,
    Grade,
    ItemResult,
    Output,
    RunResult,
    Target,
    ToolCall,
)

BASE = "prompt:support-reply@v1"
CAND = "prompt:support-reply@v2"
HOSTILE_ID = "<img src=x onerror=alert(1)> & \"quoted\" 'case' | `tick`\x07\x1b"
HOSTILE_ANSWER = "<img src=x onerror=alert(1)><script>alert(2)</script> @octocat | **bold**"
#: Cases 0..n-1; under the candidate, cases in REGRESSED fail, ERRORED's call fails.
REGRESSED = frozenset({1, 3, 4})
ERRORED = 5
GRADE_ERROR = 6


def target(label: str, version: int) -> Target:
    return Target(
        label=label,
        kind="prompt",
        model=f"prompt:support-reply@v{version}",
        prompt="support-reply",
        version=version,
        identity=f"sha256:{version:064d}",
    )


def case_id(index: int) -> str:
    return HOSTILE_ID if index == 0 else f"case-{index}"


def cases(n: int) -> tuple[Case, ...]:
    return tuple(
        Case(
            index=i,
            id=case_id(i),
            description=f"ticket {i}",
            vars={"customer": f"Ada <{i}>", "topic": "a refund & more"},
            expected=f"expected answer {i}",
        )
        for i in range(n)
    )


def _item(i: int, label: str, *, fail: bool, repeat: int = 0) -> ItemResult:
    answer = HOSTILE_ANSWER if i == 0 else f"{label} answers case {i}"
    output = Output(
        text=answer,
        served_model="gpt-4o-mini",
        cost_usd=0.0002 if label == CAND else 0.0001,
        latency_ms=120.0 + i,
        tool_calls=(ToolCall("lookup", '{"order": "<1>"}'),) if i == 2 else (),
    )
    reason = 'missing <b>refund</b> & "policy"\x00 | link' if fail else "found"
    grades = (
        Grade("contains", "contains", passed=not fail, score=0.0 if fail else 1.0, reason=reason),
        Grade("llm-rubric", "helpfulness", passed=True, score=0.8, reason="ok"),
    )
    return ItemResult(case_id(i), i, label, repeat, output, grades)


def run(n: int = 8, *, regressed: frozenset[int] = REGRESSED) -> RunResult:
    """Baseline passes every case; the candidate fails ``regressed``, errors on ERRORED (call
    failed) and GRADE_ERROR (a judge's answer unusable)."""
    items: list[ItemResult] = []
    for i in range(n):
        items.append(_item(i, BASE, fail=False))
        cand = _item(i, CAND, fail=i in regressed)
        if i == ERRORED:
            cand = ItemResult(case_id(i), i, CAND, 0, None, (), error="provider down: 503 <html>")
        if i == GRADE_ERROR:
            bad = Grade("llm-rubric", "helpfulness", False, 0.0, "", error="judge said <nothing>")
            cand = ItemResult(case_id(i), i, CAND, 0, cand.output, (bad,))
        items.append(cand)
    return RunResult(
        run_id="01JRUNID",
        suite="evals/support.yaml",
        description="support replies",
        started_at=1_765_000_000.0,
        finished_at=1_765_000_012.5,
        targets=(target(BASE, 1), target(CAND, 2)),
        items=tuple(items),
        cache_hits=3,
        calls=2 * n - 3,
        spent_usd=0.0042,
    )


def comparison(result: RunResult) -> Comparison:
    return compare(
        result.for_target(BASE),
        result.for_target(CAND),
        baseline_label=BASE,
        candidate_label=CAND,
    )


def failing_verdict() -> GateVerdict:
    return GateVerdict(
        status="fail",
        candidate=CAND,
        baseline=BASE,
        checks=(
            GateCheck("max_latency_p95_ms", True, "latency p95 127 ms <= 2000 ms", 127.0, 2000.0),
            GateCheck("min_pass_rate", False, "pass rate 50.0% < 85.0% <limit>", 0.5, 0.85),
            GateCheck("max_cost_ratio", False, "cost per call 2.0× baseline > 1.5×", 2.0, 1.5),
        ),
    )
