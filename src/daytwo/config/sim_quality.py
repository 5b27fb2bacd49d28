"""The simulator's ``quality`` block: scripted answers that can be right or wrong, refusals,
broken JSON, verbosity, tool calls, per-model personalities and scheduled silent model changes
(what evals, quality monitoring and canaries test against). :mod:`daytwo.providers.sim.quality`
plays it; ``docs/simulator.md`` ("Quality behaviour") is the user's reference.

::

    sim:
      seed: 7
      quality:
        answers:
          - {match: {exact: "What is 2+2?"}, answer: "4", wrong: "5"}
          - {match: {regex: "(?i)refund"}, answer: "Refunds take 5 days."}
          - {match: {nearest: "How do I reset my password?"}, answer: "Use the reset link."}
        answers_file: answers.jsonl      # more entries, one JSON object a line
        correct_rate: 0.9
        refusal_rate: 0.02
        effects:
          - {when: "INTERNAL-[0-9]+", leak_rate: 0.3}   # answers repeat the marker
        personalities:
          gpt-4o-mini: {correct_rate: 0.8, verbosity: 0.8}
        changes:
          - after_s: 600
            personality: {served_model: gpt-4o-mini-2025-01-01, refusal_rate: 0.08}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _scalar_text(value: Any) -> Any:
    """``answer: 4`` in YAML is the text ``"4"``; objects and lists stay JSON values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


#: A scripted answer: text, or a JSON object / array (the answer in JSON mode).
AnswerValue = Annotated[str | dict[str, Any] | list[Any], BeforeValidator(_scalar_text)]
Rate = Annotated[float, Field(ge=0, le=1)]
Delta = Annotated[float, Field(ge=-1, le=1)]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


class SimMatch(_Model):
    """Which questions (the last user message's text) an entry answers: exactly one of them."""

    #: The question, whitespace at the ends ignored.
    exact: str | None = None
    #: A Python regular expression searched in the question.
    regex: str | None = None
    #: An example question: the entry answers the most similar question (word Jaccard), when
    #: the similarity reaches ``nearest_threshold``.
    nearest: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SimMatch:
        given = [k for k in ("exact", "regex", "nearest") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a match needs exactly one of exact, regex, nearest")
        if self.regex is not None:
            _compiles(self.regex)
        return self


class SimToolCallSpec(_Model):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class SimAnswer(_Model):
    """One scripted entry: its correct answer, and what an erring model says instead."""

    match: SimMatch
    answer: AnswerValue
    #: The wrong answer (default: the answer with its first number or value changed, else
    #: generated prose of the same length).
    wrong: AnswerValue | None = None
    #: The call a correct model makes when this function is offered.
    tool_call: SimToolCallSpec | None = None


class SimPersonality(_Model):
    """What a model does differently: knob overrides, and what its answers report serving."""

    correct_rate: Rate | None = None
    refusal_rate: Rate | None = None
    invalid_json_rate: Rate | None = None
    verbosity: float | None = Field(None, ge=0.1)
    tool_rate: Rate | None = None
    #: The ``model`` answers report (default: the model name asked for).
    served_model: str | None = Field(None, min_length=1)
    #: The ``system_fingerprint`` answers report.
    fingerprint: str | None = Field(None, min_length=1)


class SimEffect(_Model):
    """Prompt sensitivity: when ``when`` (a regex) is found in the system text, rates move by
    the given amounts (clamped to 0..1) and verbosity is multiplied; at ``leak_rate`` a text
    answer starts by repeating what ``when`` found (a model echoing its instructions: an
    internal marker or secret planted in a system prompt comes out in the answer)."""

    when: Annotated[str, BeforeValidator(_compiles)]
    correct_rate: Delta = 0.0
    refusal_rate: Delta = 0.0
    invalid_json_rate: Delta = 0.0
    tool_rate: Delta = 0.0
    verbosity: float = Field(1.0, gt=0)
    leak_rate: Rate = 0.0


class SimChange(_Model):
    """A silent model change: from ``after_s`` seconds after start-up, or once
    ``after_requests`` requests were served (exactly one of them), the models named (all when
    none is) take this personality over their own; without a ``fingerprint`` in it a new one is
    derived, as a provider's would change."""

    after_s: float | None = Field(None, ge=0)
    #: Counting every chat and embeddings request the simulator took (faults included): a
    #: change that tests can place without a clock.
    after_requests: int | None = Field(None, ge=0)
    models: tuple[str, ...] = ()
    personality: SimPersonality = SimPersonality()

    @model_validator(mode="after")
    def _one_moment(self) -> SimChange:
        if (self.after_s is None) == (self.after_requests is None):
            raise ValueError("a change needs exactly one of after_s, after_requests")
        return self


class SimQuality(_Model):
    answers: tuple[SimAnswer, ...] = ()
    #: A JSONL file of more entries (relative paths: from the config file's folder).
    answers_file: str | None = None
    correct_rate: Rate = 1.0
    refusal_rate: Rate = 0.0
    invalid_json_rate: Rate = 0.0
    #: Length multiplier of answers (filler sentences are appended to scripted answers).
    verbosity: float = Field(1.0, ge=0.1)
    #: How often a model calls a tool when tools are offered (``tool_choice`` ``required`` or
    #: a named function: always).
    tool_rate: Rate = 1.0
    #: The least word-Jaccard similarity a ``nearest`` entry needs.
    nearest_threshold: float = Field(0.5, gt=0, le=1)
    effects: tuple[SimEffect, ...] = ()
    #: Per requested model name.
    personalities: dict[str, SimPersonality] = Field(default_factory=dict)
    changes: tuple[SimChange, ...] = ()

    @field_validator("answers_file")
    @classmethod
    def _from_config_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
        if value is None or base is None or Path(value).is_absolute():
            return value
        return str(Path(base) / value)
