"""The ``quality`` section of ``daytwo.yaml``: online evaluators run on finished calls, off the
response path (``docs/quality.md``).

::

    quality:
      queue_size: 1000                 # calls waiting for their checks; past it, shed (counted)
      seed: 0                          # sampling is a hash of (seed, evaluator, call id)
      evaluators:
        - name: support
          match: {project: support-bot}          # project / workflow / prompt / alias; all = and
          checks: [refusal, format, truncation, tool_call, language, leak, length]
          sample: {language: 0.2}                # per check, default 1.0
          judges:
            - rubric: The answer is polite and answers the question.
              name: polite                       # scores as judge:polite
              sample: 0.05
            - name: grounded                     # scores as judge:grounded
              kind: faithfulness                 # calls that sent daytwo_context only
              sample: 0.1
              threshold: 0.7                     # share of supported statements that passes
      leak:                            # what the `leak` check looks for in answers
        detectors: [secrets, key_shapes]         # redaction detectors (default these two)
        patterns: [{name: internal_marker, regex: "INTERNAL-[0-9]+"}]
      judge:
        model: judge                   # the alias judges are asked through
        project: quality               # the judge calls' project (needs a spend_control budget)
        key: env:DAYTWO_QUALITY_KEY    # a virtual key, when gateway.require_keys is on
        max_inflight: 4                # judge calls at once
        queue_size: 100                # judge calls waiting for a slot; past it, shed (counted)

An evaluator applies to a call when every selector it names equals the call's (``prompt`` is
the prompt's name, ``alias`` the model alias asked for). A call matched by several evaluators
gets each one's checks once (the union) and every matching evaluator's judges.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from daytwo.config.audit import Detector
from daytwo.core.redact import DETECTOR_VERSIONS, check_pattern
from daytwo.core.secrets import parse_ref


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CheckName = Literal["refusal", "format", "truncation", "tool_call", "language", "leak", "length"]
#: Every cheap check, in the order they run (the default of ``checks``).
ALL_CHECKS: tuple[CheckName, ...] = (
    "refusal",
    "format",
    "truncation",
    "tool_call",
    "language",
    "leak",
    "length",
)
Rate = Annotated[float, Field(ge=0, le=1)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
JudgeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


def _check_ref(value: str) -> str:
    parse_ref(value)
    return value


class Match(_Model):
    """The calls an evaluator applies to: every selector named must equal the call's."""

    project: Label | None = None
    workflow: Label | None = None
    #: The prompt's name (any version).
    prompt: Label | None = None
    #: The model alias the client asked for.
    alias: Label | None = None


JudgeKind = Literal["rubric", "faithfulness"]


class JudgeSpec(_Model):
    """An LLM judge on a sample of the calls. ``kind: rubric`` (the default): the evals room's
    ``judge-rubric`` prompt grading the answer against ``rubric``. ``kind: faithfulness``: the
    ``judge-faithfulness`` prompt of the offline ``context-faithfulness`` assertion, on calls
    that carried ``daytwo_context`` only; the score is the share of the answer's statements the
    context supports, passing at ``threshold``."""

    kind: JudgeKind = "rubric"
    #: What a good answer does (the rubric the judge grades against); ``kind: rubric`` only.
    rubric: str | None = Field(None, min_length=1, max_length=4000)
    #: Scores are named ``judge:<name>``.
    name: JudgeName
    sample: Rate = 0.01
    #: ``kind: faithfulness``: the share of supported statements that passes (default 0.7,
    #: the offline RAG metrics' threshold).
    threshold: Rate | None = None
    #: Judge only calls whose cheap checks passed or said nothing (a refusal, broken JSON or a
    #: truncated answer is already known to be bad: no money spent on it).
    cascade: bool = True

    @model_validator(mode="after")
    def _fields_of_kind(self) -> JudgeSpec:
        if self.kind == "rubric":
            if self.rubric is None:
                raise ValueError("rubric: a judge of kind `rubric` needs one")
            if self.threshold is not None:
                raise ValueError("threshold: only a `faithfulness` judge has one")
        elif self.rubric is not None:
            raise ValueError("rubric: a `faithfulness` judge uses the context, not a rubric")
        return self


def _checks_list(value: Any) -> Any:
    return tuple(ALL_CHECKS) if value == "all" else value


class EvaluatorConfig(_Model):
    name: JudgeName
    match: Match = Match()
    checks: Annotated[tuple[CheckName, ...], BeforeValidator(_checks_list)] = ALL_CHECKS
    #: Sample rate per check (a check not named: 1.0, every call).
    sample: dict[CheckName, Rate] = Field(default_factory=dict)
    judges: tuple[JudgeSpec, ...] = ()

    @model_validator(mode="after")
    def _sampled_checks_are_run(self) -> EvaluatorConfig:
        for check in self.sample:
            if check not in self.checks:
                raise ValueError(f"sample.{check}: `{check}` is not among this evaluator's checks")
        names = [j.name for j in self.judges]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"judges: the name `{name}` is used twice")
        return self


class JudgeCallConfig(_Model):
    """How judge calls are made: through the gateway's own pipeline, as calls of ``project``."""

    model: Label | None = None
    project: Label = "quality"
    #: A virtual key (a secret reference) sent with judge calls; needed with
    #: ``gateway.require_keys`` (its attribution should name ``project``).
    key: Annotated[str, AfterValidator(_check_ref)] | None = None
    max_inflight: int = Field(4, ge=1, le=256)
    #: Sampled judge calls waiting for a free slot; past it, shed (counted).
    queue_size: int = Field(100, ge=0, le=100_000)
    timeout_s: float = Field(60.0, gt=0, le=600)


class LeakPattern(_Model):
    """A marker of the organisation's own that must never reach an answer (``INTERNAL-[0-9]+``):
    a redaction pattern, named as its finding is labelled."""

    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    regex: str = Field(min_length=1)

    @model_validator(mode="after")
    def _usable(self) -> LeakPattern:
        if self.name in DETECTOR_VERSIONS:
            raise ValueError(f"name: `{self.name}` is a built-in detector's name")
        problem = check_pattern(self.regex)
        if problem is not None:
            raise ValueError(f"regex: {problem}")
        return self


class LeakConfig(_Model):
    """What the ``leak`` check looks for in answers: the redaction detectors named (default:
    the secrets daytwo resolved and well-known key shapes; the PII detectors may be added, but
    an answer quoting the user's own e-mail address is seldom a leak) and the patterns."""

    detectors: tuple[Detector, ...] = ("secrets", "key_shapes")
    patterns: tuple[LeakPattern, ...] = ()

    @model_validator(mode="after")
    def _distinct(self) -> LeakConfig:
        for detector in self.detectors:
            if self.detectors.count(detector) > 1:
                raise ValueError(f"detectors: `{detector}` is listed twice")
        names = [p.name for p in self.patterns]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"patterns: the name `{name}` is used twice")
        if not self.detectors and not self.patterns:
            raise ValueError("nothing to look for: name a detector or a pattern")
        return self


class QualityConfig(_Model):
    evaluators: tuple[EvaluatorConfig, ...] = ()
    #: Calls waiting for their checks; a call arriving at a full queue is shed (counted).
    queue_size: int = Field(1000, ge=1, le=1_000_000)
    seed: int = 0
    leak: LeakConfig = LeakConfig()
    judge: JudgeCallConfig = JudgeCallConfig()

    @property
    def active(self) -> bool:
        return bool(self.evaluators)

    @property
    def has_judges(self) -> bool:
        return any(e.judges for e in self.evaluators)

    @model_validator(mode="after")
    def _unique_names(self) -> QualityConfig:
        names = [e.name for e in self.evaluators]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"evaluators: the name `{name}` is used twice")
        if self.has_judges and self.judge.model is None:
            raise ValueError("judge.model: evaluators have judges, so a judge alias is needed")
        return self
