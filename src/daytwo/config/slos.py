"""The ``slos`` section of ``daytwo.yaml``: service-level objectives over availability, latency
and answer quality, with error budgets and burn-rate alerts (docs/slos.md).

::

    slos:
      - name: support-availability
        sli: availability                 # non-5xx calls / calls
        objective: 0.995
        window: 28d
        scope: {project: support}
        runbook: https://runbooks.example.com/support-availability
        sinks: [pager]
      - name: support-latency
        sli: {type: latency, le_ms: 2000} # calls answered within 2 s / answered calls
        objective: 0.99
      - name: support-judged
        sli: {type: judge, rubric: helpful, threshold: 0.5}   # or "judge:helpful"
        objective: 0.95
        scope: {workflow: support-chat}
        min_events: 30
        alerting:                         # default: the workbook policy for the window
          - {severity: page, long: 1h, short: 5m, budget: 0.02}
          - {severity: ticket, long: 3d, short: 6h, burn_rate: 1}

SLI shorthands: ``availability``, ``format``, ``refusal``, ``judge:<rubric>``,
``feedback:<kind>``. Durations are ``<n>s``, ``<n>m``, ``<n>h`` or ``<n>d``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SloName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: object) -> timedelta:
    """``5m`` / ``1h`` / ``28d`` / ``30s`` (or a number of seconds) → a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is written 5m, 1h, 3d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value.strip())):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ValueError(f"`{value}` is not a duration (5m, 1h, 3d, 28d)")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class AvailabilitySli(_Model):
    """Calls answered without a 5xx / calls."""

    type: Literal["availability"]


class LatencySli(_Model):
    """Answered calls whose latency (``latency``: the whole call; ``ttft``: the first token of
    a stream) is at most ``le_ms`` / answered calls (streams only for ``ttft``)."""

    type: Literal["latency", "ttft"]
    le_ms: float = Field(gt=0)


class ScoreSli(_Model):
    """Scores of one evaluator whose value is at least ``threshold`` / scores of it.

    ``judge`` names a ``rubric`` (evaluator ``judge:<rubric>``); ``feedback`` a ``kind``
    (``feedback:<kind>``, e.g. thumbs); ``format`` and ``refusal`` are the online checks (1.0
    = valid / not a refusal, so a refusal SLO of 0.98 allows 2 % refusals)."""

    type: Literal["judge", "format", "refusal", "feedback"]
    rubric: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    threshold: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _names(self) -> ScoreSli:
        if (self.type == "judge") != (self.rubric is not None):
            raise ValueError("rubric: a judge SLI names its rubric, and only a judge SLI does")
        if (self.type == "feedback") != (self.kind is not None):
            raise ValueError("kind: a feedback SLI names its kind, and only a feedback SLI does")
        return self

    @property
    def evaluator(self) -> str:
        """The ``scores.evaluator`` this SLI reads."""
        if self.type == "judge":
            return f"judge:{self.rubric}"
        if self.type == "feedback":
            return f"feedback:{self.kind}"
        return self.type


def _shorthand(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    head, _, rest = value.partition(":")
    if head == "judge" and rest:
        return {"type": "judge", "rubric": rest}
    if head == "feedback" and rest:
        return {"type": "feedback", "kind": rest}
    if head in ("availability", "format", "refusal") and not rest:
        return {"type": head}
    raise ValueError(
        f"`{value}` is not an SLI (availability, format, refusal, judge:<rubric>, "
        "feedback:<kind>, or a mapping with a type)"
    )


Sli = Annotated[
    AvailabilitySli | LatencySli | ScoreSli,
    Field(discriminator="type"),
    BeforeValidator(_shorthand),
]


class SloScope(_Model):
    """Which calls (and their scores) count; all of them when empty."""

    project: str | None = Field(None, min_length=1)
    workflow: str | None = Field(None, min_length=1)
    prompt: str | None = Field(None, min_length=1)
    alias: str | None = Field(None, min_length=1)

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class BurnAlertSpec(_Model):
    """One multiwindow alert: ``budget`` (the share of the period's budget spent within
    ``long``) or ``burn_rate`` sets its threshold."""

    severity: Literal["page", "ticket"]
    long: Duration
    short: Duration
    budget: float | None = Field(None, gt=0, le=1)
    burn_rate: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_threshold(self) -> BurnAlertSpec:
        if (self.budget is None) == (self.burn_rate is None):
            raise ValueError("give either budget (a share of the budget) or burn_rate")
        if self.short >= self.long:
            raise ValueError("short: must be shorter than long")
        return self


class SloConfig(_Model):
    name: SloName
    sli: Sli
    #: The share of events that must be good over ``window`` (0.99 = 1 % error budget).
    objective: float = Field(gt=0, lt=1)
    #: The rolling period the objective (and its budget) is over.
    window: Literal["28d", "30d"] = "30d"
    scope: SloScope = SloScope()
    #: The alerts; default: the SRE workbook's policy scaled to ``window``.
    alerting: tuple[BurnAlertSpec, ...] | None = Field(None, min_length=1)
    #: A window with fewer events than this cannot fire (default: 1; 30 for sampled judges).
    min_events: int | None = Field(None, ge=0)
    #: Compare the Wilson lower bound of the bad fraction (default: on for judge and
    #: feedback SLIs, which are measured on a sample).
    sampling_aware: bool | None = None
    runbook: str | None = Field(None, min_length=1, max_length=512, pattern=r"^https?://\S+$")
    sinks: tuple[str, ...] = ()

    @property
    def period(self) -> timedelta:
        return timedelta(days=int(self.window[:-1]))

    @property
    def sampled(self) -> bool:
        """Whether the burn rates use the Wilson lower bound."""
        if self.sampling_aware is not None:
            return self.sampling_aware
        return isinstance(self.sli, ScoreSli) and self.sli.type in ("judge", "feedback")

    @property
    def least_events(self) -> int:
        if self.min_events is not None:
            return self.min_events
        return 30 if self.sampled else 1


def check_slos(slos: tuple[SloConfig, ...], *, sinks: set[str], aliases: set[str]) -> list[str]:
    """Cross-references that do not resolve and repeated names, one line each with the key
    path (``slos.2.sinks``)."""
    out = []
    names = [s.name for s in slos]
    for name in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"slos: the name `{name}` is used twice")
    known = ", ".join(sorted(sinks)) or "none are configured"
    for i, slo in enumerate(slos):
        for sink in slo.sinks:
            if sink not in sinks:
                out.append(f"slos.{i}.sinks: unknown alert sink `{sink}` (known: {known})")
        if slo.scope.alias is not None and slo.scope.alias not in aliases:
            out.append(f"slos.{i}.scope.alias: unknown model alias `{slo.scope.alias}`")
    return out
