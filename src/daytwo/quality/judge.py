"""A sampled LLM judge on one live call: the evals room's versioned ``judge-rubric`` prompt,
rendered with the call's question and answer, sent through the gateway's own pipeline (the
caller hands in the transport) and read into a verdict.

The rubric prompts are package data of the evals room (``evals/rubrics/``); this module reads
the files with the prompts room's loader and imports no evals code (evals sits above the
gateway, this room below it).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from daytwo.core.judging import RUBRIC
from daytwo.prompts import PromptError, PromptSet, PromptVersion, load_prompts
from daytwo.quality.checks import answer_of, schema_errors

#: The evals room's rubric prompts (package data read as files).
RUBRICS_DIR = Path(__file__).resolve().parent.parent / "evals" / "rubrics"
RUBRIC_PROMPT = "judge-rubric"

#: The transport: (OpenAI chat body, extra headers) → (HTTP status, JSON answer body).
JudgeTransport = Callable[[dict[str, Any], dict[str, str]], Awaitable[tuple[int, dict[str, Any]]]]


class JudgeSkipped(Exception):
    """The judge did not judge (refused by admission or budget, failed, unusable answer)."""


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    value: float
    passed: bool
    reason: str


@functools.cache
def _rubrics() -> PromptSet:
    return load_prompts(RUBRICS_DIR)


def rubric_version() -> PromptVersion:
    """The newest version of the ``judge-rubric`` prompt."""
    versions = _rubrics().versions[RUBRIC_PROMPT]
    return versions[max(versions)]


def judge_body(model: str, rubric: str, question: str, answer: str) -> dict[str, Any]:
    """The judge call's chat body (the rubric prompt's messages and parameters)."""
    version = rubric_version()
    try:
        rendered = _rubrics().render(
            version, {"rubric": rubric, "question": question, "answer": answer}
        )
    except PromptError as exc:
        raise JudgeSkipped(f"the judge prompt could not be rendered: {exc.message}") from None
    return {**rendered.params, "model": model, "messages": [dict(m) for m in rendered.messages]}


def read_verdict(status: int, body: Mapping[str, Any]) -> JudgeVerdict:
    """The verdict in a judge call's answer; :class:`JudgeSkipped` naming why there is none."""
    if status != 200:
        error = body.get("error")
        what = error.get("code") or error.get("type") if isinstance(error, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else None
        raise JudgeSkipped(f"judge call refused ({status} {what}): {message}")
    answer = answer_of(body)
    if answer is None or answer.refusal:
        raise JudgeSkipped("the judge gave no usable answer")
    try:
        data = orjson.loads(answer.text)
    except orjson.JSONDecodeError:
        raise JudgeSkipped("the judge's answer is not JSON") from None
    schema = _schema()
    problem = schema_errors(schema, data) if schema is not None else None
    if problem is not None:
        raise JudgeSkipped(f"the judge's answer is not valid against {RUBRIC}: {problem}")
    return JudgeVerdict(float(data["score"]), bool(data["pass"]), str(data["reason"]))


def _schema() -> Mapping[str, Any] | None:
    fmt = rubric_version().spec.response_format
    spec = fmt.get("json_schema") if isinstance(fmt, Mapping) else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    return schema if isinstance(schema, Mapping) else None
