"""The ``alerts`` section of ``daytwo.yaml``: alert rules and where their notifications go.

::

    alerts:
      interval_s: 15                      # how often windowed rules are evaluated
      sinks:
        ops:    {type: webhook, url: https://hooks.example.com/daytwo, secret: env:HOOK_KEY}
        chat:   {type: slack, url: env:SLACK_WEBHOOK_URL}
        pager:  {type: pagerduty, routing_key: env:PD_ROUTING_KEY}
        mail:   {type: email, host: smtp.example.com, username: alerts,
                 password: env:SMTP_PASSWORD, from: daytwo@example.com, to: [oncall@example.com]}
        log:    {type: log}
      rules:
        - name: support-errors
          kind: error_rate                # errored calls / calls, per alias
          threshold: 0.05
          window: 300
          for: 60
          severity: critical
          scope: {project: support}
          sinks: [pager, chat]
          cooldown: 600
        - name: acme-daily-cap
          kind: daily_cost                # USD since local midnight (spend_control.timezone)
          threshold: 200
          scope: {project: acme}
          action: trip                    # and switch the scope off, like a budget trip
          sinks: [ops, mail]
          runbook: cost-spike             # a runbook name or an https URL (default: the kind's)
        - name: support-quality
          kind: error_rate
          threshold: 0.2
          scope: {project: support}
          action: degrade                 # answer the scope's calls instead (degraded mode)
          degrade: {mode: alias, alias: safe-chat}   # or {mode: static, message: "..."}, cached
          sinks: [pager]

Every rule's condition is *value above threshold*. The threshold's unit depends on the kind
(:data:`KINDS`); so do the default window and the labels a rule is evaluated per (``by``).
Cross-references (sink names, model aliases, budget names) are checked by
:class:`daytwo.config.schema.Config`, which knows the other sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from daytwo.config.degrade import DegradeAction
from daytwo.config.incidents import RunbookRef
from daytwo.core.secrets import parse_ref


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ref(value: str) -> str:
    parse_ref(value)  # raises SecretError (a ValueError) with a message that names no value
    return value


SecretRef = Annotated[str, AfterValidator(_check_ref)]
AlertName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
LabelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Seconds = Annotated[float, Field(ge=0, le=31 * 86_400)]

Kind = Literal[
    "spend_per_hour",
    "daily_cost",
    "request_tokens",
    "budget_threshold",
    "error_rate",
    "p95_latency",
    "p95_ttft",
    "fallback_rate",
    "unpriced_calls",
    "slo_burn",
    "budget_projection",
    "spend_anomaly",
    "reconciliation_gap",
]
GroupField = Literal["alias", "project", "workflow", "provider"]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What a rule kind measures."""

    #: The threshold's unit (and the value's), as notifications print it.
    unit: str
    #: ``window``: computed from the ledger every interval over the last ``window`` seconds;
    #: ``call``: checked on each finished call; ``day``: since local midnight; ``event``:
    #: spend-control's budget threshold events; ``slo``: an SLO's burn-rate alerts (made
    #: from the ``slos`` section, never written as a rule); ``forecast``: spend forecasts
    #: fitted on the ledger's rollups (daytwo.finops), refreshed every few minutes;
    #: ``reconcile``: the newest stored run of the scheduled reconciliation
    #: (daytwo.finops.reconcile_runs).
    source: Literal["window", "call", "day", "event", "slo", "forecast", "reconcile"]
    #: The window when the rule names none (seconds; None: the kind has no window).
    window: float | None
    #: The labels a rule is evaluated per when it names no ``by``.
    by: tuple[GroupField, ...]
    #: The threshold when the rule names none (None: the rule must name one).
    threshold: float | None = None
    #: The threshold is a share (0 to 1).
    ratio: bool = False
    #: ``min_calls`` applies (a rate or percentile over too few calls is not evaluated).
    counts_calls: bool = False


KINDS: dict[str, KindSpec] = {
    "spend_per_hour": KindSpec("usd/h", "window", 3600.0, ()),
    "daily_cost": KindSpec("usd", "day", None, ()),
    "request_tokens": KindSpec("tokens", "call", 300.0, ("alias", "project")),
    "budget_threshold": KindSpec("%", "event", None, (), threshold=0.0),
    "error_rate": KindSpec("ratio", "window", 300.0, ("alias",), ratio=True, counts_calls=True),
    "p95_latency": KindSpec("ms", "window", 300.0, ("alias",), counts_calls=True),
    "p95_ttft": KindSpec("ms", "window", 300.0, ("alias",), counts_calls=True),
    "fallback_rate": KindSpec("ratio", "window", 300.0, ("alias",), ratio=True, counts_calls=True),
    "unpriced_calls": KindSpec("calls", "window", 3600.0, ("alias",), threshold=0.0),
    "slo_burn": KindSpec("burn", "slo", None, (), threshold=1.0),
    # The budget's projected spend by its window's end, in % of its cap.
    "budget_projection": KindSpec("%", "forecast", None, (), threshold=100.0),
    # Complete hours in a row, up to the last, outside the series' forecast band.
    "spend_anomaly": KindSpec("hours", "forecast", None, (), threshold=2.0),
    "reconciliation_gap": KindSpec("%", "reconcile", None, ("provider",), threshold=2.0),
}
#: Kinds whose rules watch spend-control budgets (``budget``, never scope or ``by``).
BUDGET_KINDS = ("budget_threshold", "budget_projection")


class AlertScope(_Model):
    """Which calls a rule looks at (all of them when empty). ``alias`` is a model alias."""

    alias: str | None = Field(None, min_length=1)
    project: str | None = Field(None, min_length=1)
    workflow: str | None = Field(None, min_length=1)

    def fields(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("alias", self.alias),
                ("project", self.project),
                ("workflow", self.workflow),
            )
            if v is not None
        }


class AlertRule(_Model):
    name: AlertName
    kind: Kind
    #: Fires when the value goes above this (unit: see :data:`KINDS`).
    threshold: float | None = Field(None, ge=0)
    #: Seconds of history the value is computed over.
    window: Seconds | None = Field(None, gt=0)
    #: Seconds the condition must hold before the alert fires (0: at once).
    for_: Seconds = Field(0.0, alias="for")
    severity: Severity = "warning"
    #: Extra labels carried by every notification of this rule.
    labels: dict[LabelName, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict)
    scope: AlertScope = AlertScope()
    #: Evaluate per distinct value of these call fields (one alert each).
    by: tuple[GroupField, ...] | None = None
    #: ``budget_threshold`` and ``budget_projection``: the spend-control budget to watch
    #: (default: every budget).
    budget: str | None = Field(None, min_length=1)
    #: Rates and percentiles over fewer calls than this are not evaluated (default 1).
    min_calls: int | None = Field(None, ge=1)
    sinks: tuple[AlertName, ...] = Field(min_length=1)
    #: Seconds after a resolve during which the same alert does not fire again.
    cooldown: Seconds = 0.0
    #: ``trip`` (``daily_cost`` only) switches the scope off when the alert fires; ``degrade``
    #: puts it in degraded mode (``degrade``) instead. Revived by hand, never by a resolve.
    action: Literal["trip", "degrade"] | None = None
    degrade: DegradeAction | None = None
    #: The runbook its notifications point to: a runbook name or an https URL (default: the
    #: kind's, :data:`daytwo.config.incidents.KIND_RUNBOOKS`).
    runbook: RunbookRef | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("by")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("by: a field is named twice")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> AlertRule:
        spec = KINDS[self.kind]
        if spec.source == "slo":
            raise ValueError("kind: slo_burn alerts come from an SLO: declare it under `slos:`")
        if self.threshold is None and spec.threshold is None:
            raise ValueError(f"kind {self.kind} needs a threshold (in {spec.unit})")
        if spec.ratio and self.threshold is not None and self.threshold >= 1:
            raise ValueError(f"threshold: {self.kind} is a share of calls, below 1 (0.05 = 5%)")
        if self.window is not None and spec.window is None:
            what = {
                "day": "local day",
                "forecast": "forecast's own days and hours",
                "reconcile": "scheduled run's days",
            }.get(spec.source, "budget's own window")
            raise ValueError(f"window: {self.kind} is evaluated over the {what}; drop `window`")
        if self.kind in BUDGET_KINDS:
            if self.scope.fields() or self.by:
                raise ValueError(f"{self.kind} watches budgets: use `budget`, not scope/by")
        elif self.budget is not None:
            raise ValueError("budget: only budget_threshold and budget_projection rules name one")
        if self.kind == "spend_anomaly":
            self._anomaly_fields()
        if spec.source == "reconcile" and (
            self.scope.fields() or self.by not in (None, spec.by) or self.action
        ):
            raise ValueError(f"{self.kind} compares whole bills per provider: drop scope/by/action")
        if self.min_calls is not None and not spec.counts_calls:
            raise ValueError(f"min_calls: {self.kind} is not a rate or percentile")
        if self.action == "trip":
            if self.kind != "daily_cost":
                raise ValueError("action: trip is for daily_cost rules")
            if not (self.scope.fields() or self.by):
                raise ValueError(
                    "action: trip needs a scope or `by` (switching off the whole organisation "
                    "is `daytwo kill`'s job)"
                )
        if self.action == "degrade":
            if self.degrade is None:
                raise ValueError("action: degrade needs `degrade: {mode: static|cached|alias}`")
            if not (self.scope.fields() or self.by):
                raise ValueError(
                    "action: degrade needs a scope or `by` (degrading the whole organisation "
                    "is `daytwo degrade`'s job)"
                )
        elif self.degrade is not None:
            raise ValueError("degrade: only an `action: degrade` rule says how to degrade")
        threshold = self.threshold
        if self.kind == "request_tokens" and threshold is not None and threshold != int(threshold):
            raise ValueError("threshold: request_tokens counts whole tokens")
        return self

    def _anomaly_fields(self) -> None:
        """spend_anomaly reads the hourly rollups: one series per project, workflow or
        provider (or the total), never per alias."""
        fields = self.scope.fields()
        if "alias" in fields or (self.by and "alias" in self.by):
            raise ValueError("spend_anomaly: the rollups have no alias; use project or workflow")
        if len(fields) > 1 or (fields and self.by) or (self.by and len(self.by) > 1):
            raise ValueError(
                "spend_anomaly watches one dimension: a scope of one field, or one `by` field"
            )
        if self.threshold is not None and self.threshold != int(self.threshold):
            raise ValueError("threshold: spend_anomaly counts whole hours")

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]

    @property
    def limit(self) -> float:
        """The threshold, or the kind's default."""
        if self.threshold is not None:
            return self.threshold
        assert self.spec.threshold is not None
        return self.spec.threshold

    @property
    def window_s(self) -> float | None:
        return self.window if self.window is not None else self.spec.window

    @property
    def group_by(self) -> tuple[GroupField, ...]:
        return self.by if self.by is not None else self.spec.by

    @property
    def least_calls(self) -> int:
        return self.min_calls or 1


# ---------------------------------------------------------------- sinks


class _HTTPSink(_Model):
    #: Deliver to private, loopback, link-local and other non-public addresses (checked when
    #: connecting, after DNS). Off: a hostile or mistaken URL cannot reach internal services.
    allow_private: bool = False
    timeout_s: float = Field(10.0, gt=0, le=120)


class WebhookSink(_HTTPSink):
    """A JSON POST, signed with HMAC-SHA256 when ``secret`` is set (``X-Daytwo-Signature``)."""

    type: Literal["webhook"]
    url: HttpUrl
    secret: SecretRef | None = None
    #: Extra request headers; a value written ``env:NAME`` / ``file:/path`` is a secret
    #: reference (resolved when the gateway starts, never logged).
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or any(c in name for c in " :\r\n") or not name.isascii():
                raise ValueError(f"headers: `{name}` is not a header name")
            if name.lower() in ("content-type", "content-length", "host", "x-daytwo-signature"):
                raise ValueError(f"headers: `{name}` is set by daytwo")
        return value


class SlackSink(_HTTPSink):
    """A Slack incoming webhook. Its URL is a credential, so the config holds a reference."""

    type: Literal["slack"]
    url: SecretRef


PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutySink(_HTTPSink):
    """PagerDuty Events API v2: ``trigger`` on firing, ``resolve`` on resolve, one dedup key
    per alert."""

    type: Literal["pagerduty"]
    routing_key: SecretRef
    url: HttpUrl = HttpUrl(PAGERDUTY_URL)


class EmailSink(_Model):
    """Mail over SMTP (``starttls`` upgrades the connection before logging in)."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = Field(None, min_length=1)
    password: SecretRef | None = None
    from_: str = Field(alias="from", min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0, le=120)
    #: Connect to a private, loopback or link-local SMTP host (checked on the resolved
    #: addresses, like the HTTP sinks). Off: a mistaken or hostile host cannot reach inside.
    allow_private: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _login(self) -> EmailSink:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class LogSink(_Model):
    """The ``daytwo.alerts`` logger (the gateway's log stream)."""

    type: Literal["log"]


SinkConfig = Annotated[
    WebhookSink | SlackSink | PagerDutySink | EmailSink | LogSink, Field(discriminator="type")
]


class AlertsConfig(_Model):
    #: Seconds between evaluations of the windowed rules.
    interval_s: float = Field(15.0, gt=0, le=3600)
    sinks: dict[AlertName, SinkConfig] = Field(default_factory=dict)
    rules: tuple[AlertRule, ...] = ()
    #: Delivery attempts per notification and sink, and the wait before the first retry
    #: (doubling each time, up to ``max_backoff_s``).
    delivery_attempts: int = Field(5, ge=1, le=20)
    backoff_s: float = Field(1.0, gt=0, le=60)
    max_backoff_s: float = Field(60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(dup)}")
        return self

    def problems(self, *, aliases: set[str], budgets: set[str]) -> list[str]:
        """Cross-references to other sections that do not resolve, one line each, with the
        key path (``alerts.rules.2.sinks``)."""
        out = []
        known = ", ".join(sorted(self.sinks)) or "none are configured"
        for i, rule in enumerate(self.rules):
            where = f"alerts.rules.{i}"
            for sink in rule.sinks:
                if sink not in self.sinks:
                    out.append(f"{where}.sinks: unknown sink `{sink}` (known: {known})")
            if rule.scope.alias is not None and rule.scope.alias not in aliases:
                out.append(f"{where}.scope.alias: unknown model alias `{rule.scope.alias}`")
            safe = rule.degrade.alias if rule.degrade is not None else None
            if safe is not None and safe not in aliases:
                out.append(f"{where}.degrade.alias: unknown model alias `{safe}`")
            if rule.budget is not None and rule.budget not in budgets:
                out.append(f"{where}.budget: no spend_control budget is named `{rule.budget}`")
        return out
