"""The ``drift`` section of ``daytwo.yaml``: changes nobody made -- a deployment that starts
serving another model or fingerprint (``model_changed``), and quality rates or score
distributions that move away from their trailing baseline (drift). See docs/drift.md.

::

    drift:
      sinks: [chat]                 # alerts.sinks that hear model_changed and drift alerts
      model_changed: true           # watch served model / fingerprint per deployment
      interval_s: 60                # how often drift is evaluated (one replica)
      window_s: 3600                # the recent window compared with ...
      baseline_s: 604800            # ... the trailing baseline before it (7 days)
      min_events: 200               # per side: fewer scores are not compared
      alpha: 0.001                  # one-sided p-value below which a rate or distribution moved
      group_by: alias               # model = the alias called (or served_model)
      rates: [refusal, format, truncation, tool_call]
      distributions: [length, "judge:*"]
      cusum: {ratio: 2.5, h: 8.0}   # a bad-outcome rate multiplied by `ratio`; decision interval
      context_s: 1800               # "what else changed" looks this far before the shift
      severity: warning
      cooldown_s: 3600
      canary:                       # optional: an eval suite run when a deployment changes
        suites: {chat: evals/canary.yaml}
        api_key: env:DAYTWO_CANARY_KEY

Defaults were chosen with :func:`daytwo.stats.bernoulli_arl` (docs/drift.md gives the detection
delays and false-alarm rates they imply, and how they were measured).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from daytwo.core.secrets import parse_ref

#: The pass/fail evaluators whose bad-outcome rate drift watches (value 0 = bad).
RATE_EVALUATORS = ("refusal", "format", "truncation", "tool_call")
_EVALUATOR = re.compile(r"^[a-z_]+(:[A-Za-z0-9._*-]+)?\*?$")

Evaluator = Annotated[str, Field(min_length=1, max_length=64)]
Seconds = Annotated[float, Field(gt=0, le=366 * 86_400)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CusumConfig(_Model):
    """The Bernoulli CUSUM per rate: it looks for the bad-outcome rate moving from the
    baseline's ``p0`` to ``ratio · p0`` and alarms when the chart passes ``h`` (in events).
    ``h = 8`` at 3 % → 7.5 %: about 167,000 scores between false alarms at 3 %, about 240
    to detection at 8 % (:func:`daytwo.stats.bernoulli_arl`; docs/drift.md)."""

    ratio: float = Field(2.5, gt=1.0, le=100.0)
    h: float = Field(8.0, gt=0.0, le=100.0)


class CanaryConfig(_Model):
    """A canary eval suite run when a deployment of an alias changes model, through the
    gateway itself (its pipeline: admission, budgets, ledger), diffed with the suite's last
    run before the change."""

    #: Alias → eval suite file (relative paths: from the config file's folder). A change on a
    #: deployment of the alias runs its suite.
    suites: dict[str, str] = Field(min_length=1)
    #: The gateway the suite's calls go to (default ``http://<server.host>:<server.port>``).
    gateway_url: str | None = Field(None, pattern=r"^https?://")
    #: A virtual key for the canary's calls (a secret reference, ``env:NAME``); needed when
    #: the gateway requires keys.
    api_key: str | None = Field(None, min_length=1)
    #: Where runs are saved (``<cache_dir>/runs/<run id>.json``), as ``daytwo eval run`` does.
    cache_dir: str = ".daytwo"
    #: USD cap of one canary run.
    max_cost_usd: float | None = Field(None, gt=0)

    @field_validator("api_key")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None:
            parse_ref(value)
        return value


class DriftConfig(_Model):
    #: ``alerts.sinks`` names that receive model_changed and drift notifications.
    sinks: tuple[str, ...] = ()
    #: Watch every deployment's served model and fingerprint (``model_changed``).
    model_changed: bool = True
    #: Evaluate drift at all (scores must exist: the online evaluators write them).
    enabled: bool = True
    interval_s: Seconds = 60.0
    window_s: Seconds = 3600.0
    baseline_s: Seconds = 7 * 86_400.0
    min_events: int = Field(200, ge=1, le=10_000_000)
    alpha: float = Field(0.001, gt=0.0, lt=0.5)
    #: What "model" means in a group: the alias the application called, or the model the
    #: provider said it served (a silent model change then starts a new group).
    group_by: Literal["alias", "served_model"] = "alias"
    rates: tuple[Evaluator, ...] = RATE_EVALUATORS
    #: Evaluators whose value distribution is compared (KS test, bootstrap CI of the mean);
    #: a trailing ``*`` matches a prefix (``judge:*``).
    distributions: tuple[Evaluator, ...] = ("length", "judge:*")
    cusum: CusumConfig = CusumConfig()
    #: "What else changed": events this many seconds before the shift's start are named.
    context_s: Seconds = 1800.0
    severity: Literal["info", "warning", "critical"] = "warning"
    #: A drift alert that resolved does not fire again for this long.
    cooldown_s: Annotated[float, Field(ge=0, le=31 * 86_400)] = 3600.0
    #: Optional: a canary eval suite per alias, run when one of its deployments changes.
    canary: CanaryConfig | None = None
    #: Most scores read per group and evaluator per evaluation (the newest are kept).
    max_events: int = Field(200_000, ge=100, le=10_000_000)

    @field_validator("rates", "distributions")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _EVALUATOR.match(name):
                raise ValueError(f"`{name}` is not an evaluator name (e.g. refusal, judge:*)")
        if len(set(value)) != len(value):
            raise ValueError("an evaluator is named twice")
        return value

    def problems(self, sinks: set[str], aliases: set[str]) -> list[str]:
        """Cross-references into other sections: every sink and alias named must be
        configured."""
        unknown = [
            f"drift.canary.suites.{alias}: unknown model alias `{alias}`"
            for alias in (self.canary.suites if self.canary else {})
            if alias not in aliases
        ]
        return unknown + [
            f"drift.sinks.{i}: unknown alert sink `{name}` (alerts.sinks: "
            f"{', '.join(sorted(sinks)) or 'none are configured'})"
            for i, name in enumerate(self.sinks)
            if name not in sinks
        ]
