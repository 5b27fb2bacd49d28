"""Pairwise judgments with position-bias control: the judge sees the two answers in both
orders; a preference that flips with the order is no preference (a tie).

LLM judges favour a position (FastChat #3911: 12.9 % of verdicts flip when the answers swap),
so one order's verdict is not evidence. ``daytwo eval compare --pairwise`` uses this.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from daytwo.evals.assertions.judge import Judge, JudgeRefused
from daytwo.evals.model import EvalClient, JudgeSettings

Winner = Literal["a", "b", "tie"]


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """Which answer won, after both orders were asked."""

    winner: Winner
    #: The verdict of each order, mapped back to ``a``/``b``: (a shown first, b shown first).
    raw: tuple[Winner, Winner]
    #: The judge's reasons, in the same order.
    reasons: tuple[str, str]
    cost_usd: float

    @property
    def consistent(self) -> bool:
        """Both orders agreed."""
        return self.raw[0] == self.raw[1]


async def pairwise(
    question: str,
    a: str,
    b: str,
    *,
    client: EvalClient,
    judge: JudgeSettings,
    rubric: str | None = None,
    reference: str | None = None,
) -> PairVerdict:
    """Which of answers ``a`` and ``b`` to ``question`` is better, asked in both orders; if the
    orders disagree, a tie. Raises :class:`JudgeRefused` without a judge model and
    ``JudgeUnusable`` when an order's answer is unusable after a retry."""
    if judge.model is None:
        raise JudgeRefused("no judge model: set `judge.model` in the suite")
    j = Judge(client, judge.model)

    def read(data: Any) -> tuple[str, str]:
        return str(data["winner"]), str(data["reason"])

    common = {"question": question, "rubric": rubric or "", "reference": reference or ""}
    first, second = await asyncio.gather(
        j.ask("judge-pairwise", {**common, "answer_a": a, "answer_b": b}, read),
        j.ask("judge-pairwise", {**common, "answer_a": b, "answer_b": a}, read),
    )
    one: Winner = {"A": "a", "B": "b"}.get(first.value[0], "tie")  # type: ignore[assignment]
    two: Winner = {"A": "b", "B": "a"}.get(second.value[0], "tie")  # type: ignore[assignment]
    return PairVerdict(
        winner=one if one == two else "tie",
        raw=(one, two),
        reasons=(first.value[1], second.value[1]),
        cost_usd=first.cost_usd + second.cost_usd,
    )
