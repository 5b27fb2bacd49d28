"""A sampled LLM judge on one live call: the evals room's versioned ``judge-rubric`` prompt,
rendered with the call's question and answer -- or, for a ``faithfulness`` judge, the
``judge-faithfulness`` prompt with the retrieved context the call carried; for a rollout's
shadow pair, the ``judge-pairwise`` prompt with two answers -- sent through the gateway's own
pipeline (the caller hands in the transport) and read into a verdict.

The rubric prompts are package data of the evals room (``evals/rubrics/``); this module reads
the files with the prompts room's loader and imports no evals code (evals sits above the
gateway, this room below it).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from daytwo.core.judging import fraction, item_verdicts, share_reason
from daytwo.prompts import PromptError, PromptSet, PromptVersion, load_prompts
from daytwo.quality.checks import answer_of, schema_errors

#: The evals room's rubric prompts (package data read as files).
RUBRICS_DIR = Path(__file__).resolve().parent.parent / "evals" / "rubrics"
RUBRIC_PROMPT = "judge-rubric"
#: The offline ``context-faithfulness`` assertion's prompt, used as is by the online judge.
FAITHFULNESS_PROMPT = "judge-faithfulness"
#: The offline pairwise comparison's prompt (``eval compare --pairwise``), used as is on shadow
#: pairs.
PAIRWISE_PROMPT = "judge-pairwise"

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


def prompt_version(name: str) -> PromptVersion:
    """The newest version of one of the evals room's judge prompts."""
    versions = _rubrics().versions[name]
    return versions[max(versions)]


def rubric_version() -> PromptVersion:
    """The newest version of the ``judge-rubric`` prompt."""
    return prompt_version(RUBRIC_PROMPT)


def _body(prompt: str, model: str, variables: dict[str, Any]) -> dict[str, Any]:
    version = prompt_version(prompt)
    try:
        rendered = _rubrics().render(version, variables)
    except PromptError as exc:
        raise JudgeSkipped(f"the judge prompt could not be rendered: {exc.message}") from None
    return {**rendered.params, "model": model, "messages": [dict(m) for m in rendered.messages]}


def judge_body(model: str, rubric: str, question: str, answer: str) -> dict[str, Any]:
    """The rubric judge call's chat body (the rubric prompt's messages and parameters)."""
    return _body(RUBRIC_PROMPT, model, {"rubric": rubric, "question": question, "answer": answer})


def faithfulness_body(
    model: str, question: str, contexts: Sequence[str], answer: str
) -> dict[str, Any]:
    """The faithfulness judge call's chat body: the offline ``context-faithfulness``
    assertion's prompt, with the context the application reported."""
    variables = {"question": question, "contexts": list(contexts), "answer": answer}
    return _body(FAITHFULNESS_PROMPT, model, variables)


def pairwise_body(
    model: str, question: str, answer_a: str, answer_b: str, rubric: str | None = None
) -> dict[str, Any]:
    """One order of a pairwise judgment's chat body: which of ``answer_a`` (shown first) and
    ``answer_b`` answers ``question`` better, by ``rubric`` when one is given."""
    variables = {
        "question": question,
        "answer_a": answer_a,
        "answer_b": answer_b,
        "rubric": rubric or "",
    }
    return _body(PAIRWISE_PROMPT, model, variables)


def read_preference(status: int, body: Mapping[str, Any]) -> tuple[str, str]:
    """A pairwise judge call's answer: the winner as shown (``A``, ``B`` or ``tie``) and the
    judge's reason; :class:`JudgeSkipped` naming why there is none."""
    data = _answer_data(status, body, PAIRWISE_PROMPT)
    return str(data["winner"]), str(data["reason"])


def read_verdict(status: int, body: Mapping[str, Any]) -> JudgeVerdict:
    """The verdict in a rubric judge call's answer; :class:`JudgeSkipped` naming why there is
    none."""
    data = _answer_data(status, body, RUBRIC_PROMPT)
    return JudgeVerdict(float(data["score"]), bool(data["pass"]), str(data["reason"]))


def read_faithfulness(status: int, body: Mapping[str, Any], threshold: float) -> JudgeVerdict:
    """A faithfulness judge's answer scored as the offline assertion scores it: the share of
    the answer's statements the context supports (core/judging.py), passing at ``threshold``."""
    data = _answer_data(status, body, FAITHFULNESS_PROMPT)
    verdicts = item_verdicts(data, "statements", "verdict")
    if not verdicts:
        raise JudgeSkipped("the judge found no statements in the answer")
    value = fraction(verdicts)
    reason = share_reason(verdicts, "statements", "supported by the context")
    return JudgeVerdict(value, value >= threshold, reason)


def _answer_data(status: int, body: Mapping[str, Any], prompt: str) -> Any:
    """The judge's JSON answer, valid against ``prompt``'s response schema."""
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
    schema = _schema(prompt)
    problem = schema_errors(schema, data) if schema is not None else None
    if problem is not None:
        raise JudgeSkipped(
            f"the judge's answer is not valid against {_schema_name(prompt)}: {problem}"
        )
    return data


def _json_schema(prompt: str) -> Mapping[str, Any] | None:
    fmt = prompt_version(prompt).spec.response_format
    spec = fmt.get("json_schema") if isinstance(fmt, Mapping) else None
    return spec if isinstance(spec, Mapping) else None


def _schema_name(prompt: str) -> str:
    spec = _json_schema(prompt)
    return str(spec.get("name")) if spec is not None else prompt


def _schema(prompt: str) -> Mapping[str, Any] | None:
    spec = _json_schema(prompt)
    schema = spec.get("schema") if spec is not None else None
    return schema if isinstance(schema, Mapping) else None
