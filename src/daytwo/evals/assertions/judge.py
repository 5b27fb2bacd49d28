"""Asking a judge: a rubric prompt rendered, sent through the gateway, its answer read.

Rubric prompts are versioned prompts like any other (``evals/rubrics/<name>/v<N>.yaml``, the
prompts room's format and sandbox); a judge call carries ``X-Daytwo-Prompt: NAME@vN;
hash=...`` so the ledger records which rubric version judged. The prompt file sets the
structured-output schema (``response_format.json_schema``, named ``daytwo_<kind>``), so the
schema is versioned and hashed with the wording.

An answer that is not JSON valid against the schema is asked for once more (with the problem
named); a second unusable answer is :class:`JudgeUnusable` -- the grade is an error, not a
failure. A judge of the candidate's own family, when the suite requires another, is
:class:`JudgeRefused` (also an error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from daytwo.evals.assertions.family import model_family
from daytwo.evals.model import AssertionSpec, EvalClient, GradeContext, Output
from daytwo.prompts import PromptError, PromptSet, PromptVersion, load_prompts
from daytwo.quality.checks import schema_errors

#: The directory of the rubric prompts shipped with daytwo.
RUBRICS_DIR = Path(__file__).resolve().parent.parent / "rubrics"
#: The header that names the rubric version of a judge call.
PROMPT_HEADER = "X-Daytwo-Prompt"

T = TypeVar("T")


class JudgeError(Exception):
    """Grading by a judge failed: the grade is an error, not a failure."""

    def __init__(self, message: str, cost_usd: float = 0.0) -> None:
        super().__init__(message)
        #: What the calls made before it failed cost (still spent).
        self.cost_usd = cost_usd


class JudgeUnusable(JudgeError):
    """The judge's answer could not be used, even after one more try."""


class JudgeRefused(JudgeError):
    """This judge may not grade this target (same family, or no judge configured)."""


@functools.cache
def rubrics() -> PromptSet:
    """The shipped rubric prompts (loaded once; they are package data)."""
    return load_prompts(RUBRICS_DIR)


def rubric(name: str) -> PromptVersion:
    """The newest version of a rubric prompt."""
    versions = rubrics().versions[name]
    return versions[max(versions)]


def prompt_header(version: PromptVersion) -> str:
    return f"{version.name}@v{version.version}; hash={version.hash}"


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """What a judge said (read into ``value``) and what it cost."""

    value: T
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Judge:
    """One judge for one grading: the model alias, and the target it must differ from."""

    client: EvalClient
    model: str
    require_other_family: bool = False
    #: The model that produced the graded answer (served name, else the target's alias).
    target_model: str | None = None

    @classmethod
    def for_grade(cls, spec: AssertionSpec, ctx: GradeContext) -> Judge:
        """The judge of one grading: the assertion's own ``provider``, else the suite's."""
        own = spec.config.get("provider")
        model = own if isinstance(own, str) else ctx.judge.model
        if model is None:
            raise JudgeRefused("no judge model: set `judge.model` in the suite or `provider`")
        target = ctx.output.served_model or ctx.target.model
        return cls(ctx.client, model, ctx.judge.require_other_family, target)

    async def ask(
        self,
        prompt: str,
        variables: Mapping[str, Any],
        read: Callable[[Any], T],
    ) -> Answer[T]:
        """Render rubric ``prompt`` with ``variables``, ask the judge, and ``read`` its JSON
        (``read`` raises ``ValueError`` naming what is wrong with a valid-JSON answer)."""
        version = rubric(prompt)
        try:
            rendered = rubrics().render(version, dict(variables))
        except PromptError as exc:  # e.g. texts past the sandbox's output bound
            raise JudgeUnusable(
                f"the judge prompt could not be rendered: {exc.message}", 0.0
            ) from None
        body: dict[str, Any] = {
            **rendered.params,
            "model": self.model,
            "messages": [dict(m) for m in rendered.messages],
        }
        headers = {PROMPT_HEADER: prompt_header(version)}
        self._check_family(self.model)
        out = await self.client.chat(body, purpose="judge", headers=headers)
        cost = out.cost_usd
        self._check_family(out.served_model, cost)
        schema = _schema(rendered.params)
        problem, value = _read(out, schema, read)
        if problem is not None:
            retry = {
                **body,
                "messages": [
                    *body["messages"],
                    {"role": "assistant", "content": out.text},
                    {
                        "role": "user",
                        "content": f"That answer cannot be used ({problem}). Answer again with "
                        "only the JSON object the schema describes.",
                    },
                ],
            }
            out = await self.client.chat(retry, purpose="judge", headers=headers)
            cost += out.cost_usd
            problem, value = _read(out, schema, read)
            if problem is not None:
                raise JudgeUnusable(
                    f"the judge's answer is unusable after a retry: {problem}", cost
                )
        return Answer(value, cost)

    def _check_family(self, judge_model: str | None, cost_usd: float = 0.0) -> None:
        if not self.require_other_family:
            return
        mine, theirs = model_family(judge_model), model_family(self.target_model)
        if mine is not None and mine == theirs:
            raise JudgeRefused(
                f"the judge `{judge_model}` is of the {mine} family, like the graded model "
                f"`{self.target_model}` (judge.require_other_family is set)",
                cost_usd,
            )


def _schema(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    fmt = params.get("response_format")
    spec = fmt.get("json_schema") if isinstance(fmt, Mapping) else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    return schema if isinstance(schema, Mapping) else None


def _read(
    out: Output, schema: Mapping[str, Any] | None, read: Callable[[Any], T]
) -> tuple[str | None, Any]:
    """(problem, value): the problem is None when the answer is usable."""
    if out.refusal:
        return f"the judge refused: {out.refusal}", None
    text = out.text.strip()
    if text.startswith("```"):  # a fenced answer from a judge without structured outputs
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "not JSON", None
    if schema is not None:
        problem = schema_errors(schema, data)
        if problem is not None:
            return f"not valid against the schema: {problem}", None
    try:
        return None, read(data)
    except (ValueError, KeyError, TypeError) as exc:
        return str(exc) or type(exc).__name__, None
