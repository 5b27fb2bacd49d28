"""Building what an assertion grades (a case, an output, a context) and grading it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.evals.gateway_client import GatewayEvalClient

from daytwo.evals.assertions import grade, parse_assertion
from daytwo.evals.model import (
    AssertionSpec,
    Case,
    EvalClient,
    Grade,
    GradeContext,
    JudgeSettings,
    Output,
    Target,
)

#: For pure assertions: a client that reaches nothing (a pure type that called it would fail).
NOWHERE = GatewayEvalClient("http://127.0.0.1:9")
TARGET = Target(label="gpt-4o-mini", kind="model", model="gpt-4o-mini")


def spec(raw: dict[str, Any], base_dir: Path | None = None) -> AssertionSpec:
    return parse_assertion(raw, "evals/t.yaml: tests[0].assert[0]", base_dir=base_dir)


def context(
    output: Output | str,
    *,
    question: str = "",
    expected: str | None = None,
    chunks: Sequence[str] = (),
    vars: dict[str, Any] | None = None,
    client: EvalClient = NOWHERE,
    judge: JudgeSettings | None = None,
    tools: Sequence[dict[str, Any]] = (),
    response_format: dict[str, Any] | None = None,
) -> GradeContext:
    out = Output(text=output) if isinstance(output, str) else output
    case = Case(
        index=0,
        id="c0",
        description="a case",
        vars=vars or {"question": question},
        expected=expected,
        context=tuple(chunks),
    )
    return GradeContext(
        case=case,
        output=out,
        target=TARGET,
        question=question,
        client=client,
        judge=judge or JudgeSettings(),
        tools=tuple(tools),
        response_format=response_format,
    )


def grades(
    raws: Sequence[dict[str, Any]], ctx: GradeContext, base_dir: Path | None = None
) -> tuple[Grade, ...]:
    return asyncio.run(grade([spec(r, base_dir) for r in raws], ctx))


def one(
    raw: dict[str, Any], ctx: GradeContext | Output | str, base_dir: Path | None = None
) -> Grade:
    if not isinstance(ctx, GradeContext):
        ctx = context(ctx)
    (g,) = grades([raw], ctx, base_dir)
    return g
