"""A pairwise judge on a rollout's shadow pairs: the control's answer to a call and the
candidate's answer to its mirrored call, compared by an LLM judge in both orders.

LLM judges favour a position, so each pair is asked twice -- the control's answer shown first,
then the candidate's -- and a preference that flips with the order is no preference (a tie),
as the offline ``daytwo eval compare --pairwise`` decides. The prompt is the evals room's
``judge-pairwise`` (read as package data by :mod:`daytwo.quality.judge`; no evals code).

The verdict is one score on the shadow call, evaluator ``pairwise``: value 1.0 when the
candidate's answer is better, 0.5 for a tie, 0.0 when the control's is; label ``better``,
``tie`` or ``worse``; the explanation holds both orders' verdicts and reasons, shortened. The
judge calls go through the gateway's own pipeline (the transport handed in) as calls of
``quality.judge.project``, workflow ``judge:pairwise``, tagged ``judged_call=<shadow call>``:
budgeted and in the ledger as every judge's. A judge call refused, unusable or timed out makes
a ``skipped`` score without a value.

Bounded: at most ``max_concurrency`` pairs are judged at once per replica; a pair past it is
skipped and counted, as are pairs with nothing to compare (:attr:`PairwiseJudge.skipped`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from daytwo.config.quality import JudgeCallConfig
from daytwo.config.rollouts import ShadowJudgeConfig
from daytwo.core.ids import new_call_id
from daytwo.core.score import ScoreRecord
from daytwo.quality import judge as judging
from daytwo.quality.checks import answer_of
from daytwo.quality.evaluate import draw, last_user_text
from daytwo.quality.room import ScoreSink

EVALUATOR = "pairwise"
WORKFLOW = "judge:pairwise"
#: The rule's version (both orders, a flip is a tie, values 1 / 0.5 / 0); with the prompt's it
#: makes the score's ``evaluator_version``: ``1:judge-pairwise@v1``.
RULE_VERSION = "1"
#: Each order's reason is cut to this many characters in the explanation.
REASON_CHARS = 200

Side = Literal["control", "candidate", "tie"]
_SCORED: Mapping[Side, tuple[float, str]] = {
    "candidate": (1.0, "better"),
    "tie": (0.5, "tie"),
    "control": (0.0, "worse"),
}
#: The winner as shown, read as an arm: with the control's answer as A, and with the
#: candidate's as A (anything else is a tie).
_CONTROL_FIRST: Mapping[str, Side] = {"A": "control", "B": "candidate"}
_CANDIDATE_FIRST: Mapping[str, Side] = {"A": "candidate", "B": "control"}
_SAID: Mapping[Side, str] = {
    "candidate": "candidate better",
    "tie": "tie",
    "control": "control better",
}


@dataclass(frozen=True, slots=True)
class Pair:
    """The two answers to one question; the score goes to the candidate's (shadow) call."""

    rollout_id: str
    call_id: str
    question: str
    control: str
    candidate: str


@dataclass(frozen=True, slots=True)
class Preference:
    """Both orders' verdicts, each mapped back to the arm it named: (control shown first,
    candidate shown first), with the judge's reasons in the same order."""

    orders: tuple[Side, Side]
    reasons: tuple[str, str]

    @property
    def winner(self) -> Side:
        """The arm both orders preferred; a tie when they disagree."""
        first, second = self.orders
        return first if first == second else "tie"

    @property
    def value(self) -> float:
        return _SCORED[self.winner][0]

    @property
    def label(self) -> str:
        return _SCORED[self.winner][1]

    @property
    def explanation(self) -> str:
        (first, second), (why1, why2) = self.orders, self.reasons
        text = (
            f"control shown first: {_SAID[first]} ({shorten(why1)}); "
            f"candidate shown first: {_SAID[second]} ({shorten(why2)})"
        )
        if first != second and "tie" not in self.orders:
            return f"the orders disagree, a tie: {text}"
        return text


def preference(first: tuple[str, str], second: tuple[str, str]) -> Preference:
    """Both orders' answers ``(winner as shown, reason)`` read as arms: ``first`` showed the
    control's answer as A, ``second`` the candidate's."""
    one = _CONTROL_FIRST.get(first[0], "tie")
    two = _CANDIDATE_FIRST.get(second[0], "tie")
    return Preference((one, two), (first[1], second[1]))


def shorten(reason: str, limit: int = REASON_CHARS) -> str:
    """One line of at most ``limit`` characters (cut with an ellipsis)."""
    flat = " ".join(reason.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def sampled(rate: float, rollout_id: str, call_id: str) -> bool:
    """Whether a shadow pair is judged: a fixed draw by rollout and control call, the same on
    every replica."""
    return draw(0, f"{EVALUATOR}:{rollout_id}", call_id) < rate


def answer_text(response: Mapping[str, Any] | None) -> str | None:
    """An answer's text (or its refusal's); None when it has neither (a tool call only)."""
    answer = answer_of(response)
    if answer is None:
        return None
    return answer.text or answer.refusal or None


def prompt_tag() -> str:
    """The pairwise prompt's newest version, ``judge-pairwise@v1``."""
    version = judging.prompt_version(judging.PAIRWISE_PROMPT)
    return f"{version.name}@v{version.version}"


def version_tag() -> str:
    """The scores' ``evaluator_version``: the rule's and the prompt's versions."""
    return f"{RULE_VERSION}:{prompt_tag()}"


class PairwiseJudge:
    """Judges shadow pairs for one gateway process: calls through ``transport``, scores to
    ``sink``, judge-call settings (project, timeout) from ``calls`` at each pair."""

    def __init__(
        self,
        transport: judging.JudgeTransport,
        sink: ScoreSink,
        calls: Callable[[], JudgeCallConfig],
    ) -> None:
        self._transport = transport
        self._sink = sink
        self._calls = calls
        self.inflight = 0
        #: Verdicts by label (``better``, ``tie``, ``worse``, ``skipped``).
        self.judged: Counter[str] = Counter()
        #: Pairs not judged, by reason (``unassembled``: a streamed control answer nobody
        #: assembled; ``shadow_failed``; ``no_text``; ``concurrency``).
        self.skipped: Counter[str] = Counter()

    async def judge(
        self,
        spec: ShadowJudgeConfig,
        rollout_id: str,
        shadow_call: str,
        request: Mapping[str, Any] | None,
        control: Mapping[str, Any],
        candidate: Mapping[str, Any],
    ) -> ScoreRecord | None:
        """Judge the control's answer against the candidate's (the shadow call's JSON answer)
        and hand the ``pairwise`` score to the sink; None when the pair is skipped."""
        ours, theirs = answer_text(control), answer_text(candidate)
        if ours is None or theirs is None:
            self.skipped["no_text"] += 1
            return None
        if self.inflight >= spec.max_concurrency:
            self.skipped["concurrency"] += 1
            return None
        question = last_user_text(request or {})
        pair = Pair(rollout_id, shadow_call, question, ours, theirs)
        self.inflight += 1
        try:
            score = await self._judge(spec, pair)
        finally:
            self.inflight -= 1
        self._sink.submit_score(score)
        self.judged[score.label or ""] += 1
        return score

    async def _judge(self, spec: ShadowJudgeConfig, pair: Pair) -> ScoreRecord:
        tag = version_tag()
        version = judging.prompt_version(judging.PAIRWISE_PROMPT)
        calls = self._calls()
        headers = {
            "x-daytwo-project": calls.project,
            "x-daytwo-workflow": WORKFLOW,
            "x-daytwo-tags": f"judged_call={pair.call_id},rollout={pair.rollout_id}",
            "x-daytwo-prompt": f"{prompt_tag()}; hash={version.hash}",
        }
        shown = (
            (pair.control, pair.candidate),  # the control's answer as A
            (pair.candidate, pair.control),  # the candidate's as A
        )
        bodies = [
            judging.pairwise_body(spec.model, pair.question, a, b, spec.rubric) for a, b in shown
        ]
        got = await asyncio.gather(
            *(self._ask(body, headers, calls.timeout_s) for body in bodies),
            return_exceptions=True,
        )
        answers: list[tuple[str, str]] = []
        for outcome in got:
            if isinstance(outcome, judging.JudgeSkipped | TimeoutError):
                why = str(outcome) or "the judge call timed out"
                return self._score(pair, tag, None, "skipped", why)
            if isinstance(outcome, BaseException):
                raise outcome
            answers.append(outcome)
        found = preference(answers[0], answers[1])
        return self._score(pair, tag, found.value, found.label, found.explanation)

    async def _ask(
        self, body: dict[str, Any], headers: dict[str, str], timeout_s: float
    ) -> tuple[str, str]:
        status, reply = await asyncio.wait_for(self._transport(body, dict(headers)), timeout_s)
        return judging.read_preference(status, reply)

    def _score(
        self, pair: Pair, tag: str, value: float | None, label: str, explanation: str
    ) -> ScoreRecord:
        return ScoreRecord(
            id=new_call_id(),
            call_id=pair.call_id,
            at=time.time(),
            evaluator=EVALUATOR,
            evaluator_version=tag,
            source="online",
            value=value,
            label=label,
            explanation=explanation,
        )
