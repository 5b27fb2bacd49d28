"""The ``spend_control`` section of ``daytwo.yaml``: budgets, rate limits, per-request caps, the
loop breaker, and where their counters live.

::

    spend_control:
      state: {backend: redis, url: redis://127.0.0.1:6379/0, on_unavailable: fail_closed}
      timezone: Europe/Berlin
      budgets:
        - name: acme-daily
          scope: {project: acme}
          window: day
          usd: 50
          actions: [alert, trip]
      rate_limits:
        - name: per-user
          scope: {project: acme, user: "*"}
          rpm: 600
          tpm: 200000
          concurrent: 20
      request_caps:
        - scope: {project: acme}
          max_input_tokens: 100000
          max_output_tokens: 4096
          usd: 0.50
      loop_breaker: {by: session, repeats: 5, window_s: 60, max_calls: 500, max_usd: 5}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from daytwo.core.types import SCOPE_FIELDS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_scope(value: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(value) - set(SCOPE_FIELDS))
    if unknown:
        raise ValueError(f"unknown scope field(s) {', '.join(unknown)}; expected {SCOPE_FIELDS}")
    for name, v in value.items():
        if not v:
            raise ValueError(f"scope field `{name}` needs a value (or `*` for each value)")
    return value


#: ``{}`` is the whole organisation; ``{project: acme, user: "*"}`` is each user of acme.
ScopeSpec = Annotated[dict[str, str], AfterValidator(_check_scope)]
Usd = Annotated[Decimal, Field(gt=0, le=Decimal(10) ** 9, decimal_places=9)]
BudgetName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.:-]*$")]


class StateConfig(_Model):
    #: ``memory``: one gateway process. ``redis``: counters and switches shared by replicas.
    backend: Literal["memory", "redis"] = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of every Redis key (several gateways may share one Redis).
    prefix: str = Field("daytwo:", min_length=1)
    #: When the state store cannot be reached: refuse calls (503 ``state_unavailable``), or
    #: admit them unmetered (logged, and counted in the readiness report).
    on_unavailable: Literal["fail_closed", "fail_open"] = "fail_closed"

    @model_validator(mode="after")
    def _url(self) -> StateConfig:
        if self.backend == "redis" and not self.url.startswith(("redis://", "rediss://", "unix:")):
            raise ValueError("url must start with redis://, rediss:// or unix:")
        return self


class BudgetConfig(_Model):
    name: BudgetName
    scope: ScopeSpec = Field(default_factory=dict)
    window: Literal["request", "hour", "day", "week", "month"]
    #: Caps: USD, tokens (input + output), or both.
    usd: Usd | None = None
    tokens: int | None = Field(None, gt=0)
    actions: tuple[Literal["alert", "block", "downgrade", "trip"], ...] = ("alert", "block")
    #: ``alert`` fires when actual spend crosses these percentages of a cap.
    thresholds: tuple[Annotated[int, Field(gt=0, le=1000)], ...] = (50, 80, 100)
    #: ``downgrade``: from ``downgrade_at`` % of the cap on, calls go to this alias instead.
    downgrade_to: str | None = None
    downgrade_at: int = Field(100, gt=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetConfig:
        if self.usd is None and self.tokens is None:
            raise ValueError("a budget needs a cap: usd, tokens or both")
        if "downgrade" in self.actions and not self.downgrade_to:
            raise ValueError("action downgrade needs downgrade_to (a cheaper model alias)")
        if self.downgrade_to and "downgrade" not in self.actions:
            raise ValueError("downgrade_to is set but `downgrade` is not among the actions")
        if not self.actions:
            raise ValueError("a budget needs at least one action")
        return self


class RateLimitConfig(_Model):
    name: BudgetName
    scope: ScopeSpec = Field(default_factory=dict)
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    concurrent: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> RateLimitConfig:
        if self.rpm is None and self.tpm is None and self.concurrent is None:
            raise ValueError("a rate limit needs rpm, tpm or concurrent")
        return self


class RequestCapConfig(_Model):
    """Limits on any single call in the scope: the guard against runaway context windows."""

    scope: ScopeSpec = Field(default_factory=dict)
    #: Counted input tokens above this are refused.
    max_input_tokens: int | None = Field(None, gt=0)
    #: A request asking for more output is refused; one that names no limit gets this one.
    max_output_tokens: int | None = Field(None, gt=0)
    #: The worst-case cost of one call (input + output cap at the model's price).
    usd: Usd | None = None

    @model_validator(mode="after")
    def _something(self) -> RequestCapConfig:
        if self.max_input_tokens is None and self.max_output_tokens is None and self.usd is None:
            raise ValueError("a request cap needs max_input_tokens, max_output_tokens or usd")
        return self


class LoopBreakerConfig(_Model):
    by: Literal["session", "agent"] = "session"
    #: This many near-identical requests within ``window_s`` trip the session (null: off).
    repeats: int | None = Field(5, ge=2)
    window_s: float = Field(60.0, gt=0)
    #: More calls than this in one session trip it (null: off).
    max_calls: int | None = Field(None, gt=0)
    #: More spend than this in one session trips it (null: off).
    max_usd: Usd | None = None


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {value!r} (e.g. UTC, Europe/Berlin)") from None
    return value


class SpendControlConfig(_Model):
    state: StateConfig = StateConfig()
    #: Budget windows (day, week, month) are calendar-aligned in this timezone.
    timezone: Annotated[str, AfterValidator(_check_tz)] = "UTC"
    budgets: tuple[BudgetConfig, ...] = ()
    rate_limits: tuple[RateLimitConfig, ...] = ()
    request_caps: tuple[RequestCapConfig, ...] = ()
    loop_breaker: LoopBreakerConfig | None = None
    #: Output cap reserved (and sent upstream as ``max_tokens``) for a call that names none,
    #: when a budget or cap applies to it: a reservation must bound what the call can cost.
    default_max_output_tokens: int = Field(4096, gt=0)
    #: A reservation not settled after this many seconds (a crashed replica's) is reclaimed.
    hold_s: float = Field(900.0, gt=0)
    #: A concurrency lease lapses after this many seconds (longer than any call).
    lease_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _unique(self) -> SpendControlConfig:
        for kind, names in (
            ("budget", [b.name for b in self.budgets]),
            ("rate limit", [r.name for r in self.rate_limits]),
        ):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{kind} names must be unique; repeated: {', '.join(dup)}")
        return self

    @property
    def active(self) -> bool:
        """Whether anything needs counting (switches are always checked)."""
        return bool(
            self.budgets or self.rate_limits or self.request_caps or self.loop_breaker is not None
        )
