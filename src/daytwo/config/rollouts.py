"""The ``rollouts`` section of ``daytwo.yaml`` (docs/rollouts.md)::

rollouts:
  poll_s: 0.5              # how often a replica re-reads the rollouts (the split's lag)
  evaluate_s: 5            # how often a stage's criteria are checked
  sinks: [pager]           # alert sinks told of every rollback (and of stages waiting)
  shadow:
    max_concurrency: 4     # mirrored calls in flight per replica (more are skipped)
    tools_unsafe: true     # never mirror a call that offers tools (side effects)
    judge:                 # a pairwise judge on shadow pairs (off without this block)
      model: judge         # the alias asked (through the pipeline, as quality.judge.project)
      rubric: "The answer solves the customer's problem."   # optional
      sample: 1.0          # share of shadow pairs judged
      max_concurrency: 4   # pairs being judged at once per replica (more are skipped)
  criteria:                # defaults of every rollout (a rollout may set its own)
    min_duration_s: 300
    min_calls: 100
    max_error_increase: 0.02
    max_refusal_increase: 0.02
    max_latency_ratio: 1.5
    max_cost_ratio: 1.25
    max_pairwise_loss: 0.05
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from daytwo.core.secrets import parse_ref

Seconds = Annotated[float, Field(gt=0, le=3600)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ref(value: str) -> str:
    parse_ref(value)
    return value


class ShadowJudgeConfig(_Section):
    """A pairwise judge on shadow pairs: the control's answer and the candidate's mirrored
    answer to the same call, asked in both orders (quality/pairwise.py). Its calls go through
    the pipeline as the quality judges' (``quality.judge``: project, key, timeout)."""

    #: The model alias the judge is asked through (a chat alias).
    model: Annotated[str, Field(min_length=1, max_length=128)]
    #: What makes an answer better; without one, "more correct, more helpful, more relevant".
    rubric: Annotated[str, Field(min_length=1, max_length=4000)] | None = None
    #: Share of the shadow pairs judged (deterministic by the control's call id).
    sample: float = Field(1.0, ge=0, le=1)
    #: Pairs being judged at once per replica (two judge calls each); more are skipped.
    max_concurrency: int = Field(4, ge=1, le=256)


class ShadowConfig(_Section):
    max_concurrency: int = Field(4, ge=1, le=256)
    tools_unsafe: bool = True
    #: A virtual key (a secret reference) sent with mirrored calls; needed with
    #: ``gateway.require_keys`` (its attribution should allow project ``experiment``).
    key: Annotated[str, AfterValidator(_check_ref)] | None = None
    judge: ShadowJudgeConfig | None = None


class CriteriaConfig(_Section):
    min_duration_s: float = Field(300.0, ge=0)
    min_calls: int = Field(100, ge=1)
    max_error_increase: float = Field(0.02, ge=0, le=1)
    max_refusal_increase: float = Field(0.02, ge=0, le=1)
    max_latency_ratio: float = Field(1.5, ge=1)
    max_cost_ratio: float = Field(1.25, ge=0)
    max_pairwise_loss: float = Field(0.05, ge=0, le=1)


class RolloutsConfig(_Section):
    poll_s: Seconds = 0.5
    evaluate_s: Seconds = 5.0
    sinks: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    shadow: ShadowConfig = ShadowConfig()
    criteria: CriteriaConfig = CriteriaConfig()
