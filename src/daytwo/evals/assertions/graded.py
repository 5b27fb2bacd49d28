"""Model-graded assertions on the answer: a rubric (``llm-rubric``), G-Eval (``g-eval``),
factual consistency with a reference (``factuality``) and a yes/no criterion
(``model-graded-closedqa``). Each is one judge call (see :mod:`.judge`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daytwo.evals.assertions.base import (
    Kind,
    Verdict,
    error,
    reference,
    scored,
    text_value,
    threshold_of,
)
from daytwo.evals.assertions.judge import Judge
from daytwo.evals.model import AssertionSpec, GradeContext

#: ``g-eval`` score needed without a threshold (promptfoo's default).
GEVAL_THRESHOLD = 0.7
#: What each factuality category scores (promptfoo's defaults: only a disagreement fails).
FACTUALITY_SCORES: Mapping[str, float] = {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 1.0}
_CATEGORY = {
    "A": "a consistent subset of the reference",
    "B": "a consistent superset of the reference",
    "C": "the same details as the reference",
    "D": "in disagreement with the reference",
    "E": "different, in ways that do not matter for factuality",
}
_JUDGED = frozenset({"provider"})


def _rubric_reply(data: Any) -> tuple[bool, float, str]:
    return bool(data["pass"]), float(data["score"]), str(data["reason"])


async def _llm_rubric(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-rubric",
        {
            "rubric": spec.parsed,
            "answer": ctx.output.text,
            "question": ctx.question,
            "reference": ctx.case.expected or "",
        },
        _rubric_reply,
    )
    passed, score, reason = answer.value
    if spec.threshold is not None:
        return scored(score, spec.threshold, reason, answer.cost_usd)
    return Verdict(passed, min(1.0, max(0.0, score)), reason, answer.cost_usd)


def _geval_reply(data: Any) -> tuple[int, str]:
    return int(data["score"]), str(data["reason"])


async def _g_eval(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-geval",
        {"criteria": spec.parsed, "answer": ctx.output.text, "question": ctx.question},
        _geval_reply,
    )
    points, reason = answer.value
    return scored(points / 10, threshold_of(spec, GEVAL_THRESHOLD), reason, answer.cost_usd)


def _factuality_reply(data: Any) -> tuple[str, str]:
    return str(data["choice"]), str(data["reason"])


async def _factuality(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    ref = reference(spec, ctx)
    if ref is None:
        return error("no value and no expected answer to compare with")
    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-factuality",
        {"question": ctx.question, "reference": ref, "answer": ctx.output.text},
        _factuality_reply,
    )
    choice, reason = answer.value
    score = FACTUALITY_SCORES[choice]
    passed = score >= spec.threshold if spec.threshold is not None else score > 0
    why = f"({choice}) the answer is {_CATEGORY[choice]}: {reason}"
    return Verdict(passed, score, why, answer.cost_usd)


def _closedqa_reply(data: Any) -> tuple[bool, str]:
    return data["verdict"] == "Y", str(data["reason"])


async def _closedqa(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-closedqa",
        {"question": ctx.question, "answer": ctx.output.text, "criteria": spec.parsed},
        _closedqa_reply,
    )
    met, reason = answer.value
    return Verdict(met, 1.0 if met else 0.0, reason, answer.cost_usd)


KINDS = (
    Kind(
        "llm-rubric", _llm_rubric, parse=text_value, needs=frozenset({"judge"}), config_keys=_JUDGED
    ),
    Kind(
        "g-eval",
        _g_eval,
        parse=text_value,
        needs=frozenset({"judge"}),
        default_threshold=GEVAL_THRESHOLD,
        config_keys=_JUDGED,
    ),
    Kind(
        "factuality",
        _factuality,
        value="reference",
        parse=text_value,
        needs=frozenset({"judge"}),
        config_keys=_JUDGED,
    ),
    Kind(
        "model-graded-closedqa",
        _closedqa,
        parse=text_value,
        needs=frozenset({"judge"}),
        config_keys=_JUDGED,
    ),
)
