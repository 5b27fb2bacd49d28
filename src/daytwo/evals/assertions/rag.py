"""RAG metrics with Ragas' definitions (Es et al., "RAGAS", 2023; docs/assertions.md has the
formulas): ``answer-relevance``, ``context-faithfulness``, ``context-recall`` and
``context-precision``. A judge gives per-statement / per-sentence / per-chunk verdicts; the
scores are computed here from them, by the pure functions below."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from daytwo.core.judging import RAG_THRESHOLD, fraction, item_verdicts, share_reason
from daytwo.evals.assertions.base import (
    Kind,
    Verdict,
    error,
    scored,
    text_value,
    threshold_of,
)
from daytwo.evals.assertions.judge import Judge
from daytwo.evals.assertions.similar import cosine, embed, embedding_model
from daytwo.evals.model import AssertionSpec, GradeContext

__all__ = ["KINDS", "RAG_THRESHOLD", "answer_relevance", "context_precision", "fraction"]

# RAG_THRESHOLD (promptfoo's default is 0, which passes everything; daytwo asks for something),
# ``fraction`` and the verdict reading live in core/judging.py: the online ``faithfulness``
# judge (quality room, below evals) scores with the same code.
#: Questions generated from the answer for ``answer-relevance`` (Ragas' default).
QUESTIONS = 3


# -- the formulas ----------------------------------------------------------------------------


def context_precision(verdicts: Sequence[int]) -> float:
    """Ragas context precision@K: the mean of precision@k over the ranks k holding a relevant
    chunk, ``sum(precision@k * v_k) / (relevant chunks in the top K)``; 0.0 with none."""
    relevant = 0
    total = 0.0
    for k, v in enumerate(verdicts, start=1):
        if v:
            relevant += 1
            total += relevant / k
    return total / relevant if relevant else 0.0


def answer_relevance(
    question: Sequence[float], generated: Sequence[Sequence[float]], noncommittal: bool
) -> float:
    """Ragas answer relevancy: the mean cosine of the question and the questions generated
    from the answer, 0 when the answer is noncommittal."""
    if noncommittal or not generated:
        return 0.0
    return sum(cosine(question, g) for g in generated) / len(generated)


# -- the assertions --------------------------------------------------------------------------


def contexts(ctx: GradeContext) -> list[str]:
    """The case's reference chunks (``context``), else a ``context`` variable (promptfoo)."""
    if ctx.case.context:
        return list(ctx.case.context)
    var = ctx.case.vars.get("context")
    if isinstance(var, str):
        return [var]
    if isinstance(var, list):
        return [str(v) for v in var]
    return []


async def _answer_relevance(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    model = embedding_model(spec, ctx, "embedding_provider")
    if model is None:
        return error("no embedding model: set `embedding_model` in the suite or `provider`")

    def read(data: Any) -> tuple[list[str], bool]:
        questions = [str(q) for q in data["questions"] if str(q).strip()]
        if not questions:
            raise ValueError("no questions")
        return questions, bool(data["noncommittal"])

    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-questions", {"answer": ctx.output.text, "count": QUESTIONS}, read
    )
    questions, noncommittal = answer.value
    vectors, cost = await embed(ctx, [ctx.question, *questions], model)
    score = answer_relevance(vectors[0], vectors[1:], noncommittal)
    why = "noncommittal answer" if noncommittal else f"generated questions {questions}"
    return scored(score, threshold_of(spec, RAG_THRESHOLD), why, answer.cost_usd + cost)


def _verdicts(items_key: str, verdict_key: str) -> Callable[[Any], list[int]]:
    def read(data: Any) -> list[int]:
        return item_verdicts(data, items_key, verdict_key)

    return read


async def _faithfulness(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    chunks = contexts(ctx)
    if not chunks:
        return error("the case has no context to check the answer against")
    return await _share(
        spec,
        ctx,
        "judge-faithfulness",
        {"question": ctx.question, "contexts": chunks, "answer": ctx.output.text},
        ("statements", "verdict"),
        "statements in the answer",
        "supported by the context",
    )


async def _recall(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    chunks = contexts(ctx)
    if not chunks:
        return error("the case has no context")
    ref = spec.parsed if spec.parsed is not None else ctx.case.expected
    if ref is None:
        return error("no value and no expected answer: context-recall needs a reference")
    return await _share(
        spec,
        ctx,
        "judge-recall",
        {"question": ctx.question, "contexts": chunks, "reference": ref},
        ("sentences", "attributed"),
        "sentences in the reference",
        "attributable to the context",
    )


async def _share(
    spec: AssertionSpec,
    ctx: GradeContext,
    rubric: str,
    inputs: dict[str, Any],
    keys: tuple[str, str],
    items: str,
    holding: str,
) -> Verdict:
    """Faithfulness and recall: the judge's 0/1 verdict per item (``keys``: the list and the
    verdict field), scored as the share of items that hold."""
    answer = await Judge.for_grade(spec, ctx).ask(rubric, inputs, _verdicts(*keys))
    verdicts = answer.value
    if not verdicts:
        return error(f"the judge found no {items}", answer.cost_usd)
    why = share_reason(verdicts, items.split(" ")[0], holding)
    return scored(fraction(verdicts), threshold_of(spec, RAG_THRESHOLD), why, answer.cost_usd)


async def _precision(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    chunks = contexts(ctx)
    if not chunks:
        return error("the case has no context")
    # Ragas: judged against the reference answer when there is one, else the response.
    ref = spec.parsed if spec.parsed is not None else ctx.case.expected

    def read(data: Any) -> list[int]:
        by_index = {int(v["index"]): int(v["verdict"]) for v in data["verdicts"]}
        missing = [i for i in range(1, len(chunks) + 1) if i not in by_index]
        if missing:
            raise ValueError(f"no verdict for chunk(s) {missing}")
        return [by_index[i] for i in range(1, len(chunks) + 1)]

    answer = await Judge.for_grade(spec, ctx).ask(
        "judge-precision",
        {"question": ctx.question, "answer": ref or ctx.output.text, "contexts": chunks},
        read,
    )
    verdicts = answer.value
    score = context_precision(verdicts)
    why = f"chunk relevance {verdicts}"
    return scored(score, threshold_of(spec, RAG_THRESHOLD), why, answer.cost_usd)


_JUDGED = frozenset({"provider"})
KINDS = (
    Kind(
        "answer-relevance",
        _answer_relevance,
        value="none",
        needs=frozenset({"judge", "embeddings"}),
        default_threshold=RAG_THRESHOLD,
        config_keys=frozenset({"provider", "embedding_provider"}),
    ),
    Kind(
        "context-faithfulness",
        _faithfulness,
        value="none",
        needs=frozenset({"judge"}),
        default_threshold=RAG_THRESHOLD,
        config_keys=_JUDGED,
    ),
    Kind(
        "context-recall",
        _recall,
        value="reference",
        parse=text_value,
        needs=frozenset({"judge"}),
        default_threshold=RAG_THRESHOLD,
        config_keys=_JUDGED,
    ),
    Kind(
        "context-precision",
        _precision,
        value="reference",
        parse=text_value,
        needs=frozenset({"judge"}),
        default_threshold=RAG_THRESHOLD,
        config_keys=_JUDGED,
    ),
)
