"""The ``resilience`` section of ``daytwo.yaml``: how each alias routes and retries, the retry
budget, and when a deployment's circuit breaker opens.

::

    resilience:
      defaults: {deadline_s: 120, try_timeout_s: 60, max_attempts: 3}
      aliases:
        gpt-4o:
          strategy: weighted
          weights: {openai/gpt-4o: 3, azure/gpt-4o: 1}
        fast: {strategy: least_latency}
        assistant:
          tiers:                                  # the first rule that matches wins
            - {hint: cheap, to: haiku}            # header x-daytwo-route-hint: cheap
            - {tag: {task: classification}, to: haiku}
            - {max_input_tokens: 400, to: haiku}
            - {min_input_tokens: 50000, to: long-context}
      retry_budget: {ratio: 0.2, min_retries: 10, window_s: 10}
      breaker: {consecutive_failures: 5, error_rate: 0.5, open_s: 5, max_open_s: 300}

Every value may be left out: an unset value falls back to ``defaults`` (for an alias) and then
to the named constants in ``daytwo/resilience/policy.py``, the one place the defaults live.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Strategy = Literal["ordered", "weighted", "least_latency", "lowest_cost"]
Share = Annotated[float, Field(ge=0, le=1)]
#: A rate that opens a breaker: 0 would open it on every call.
Rate = Annotated[float, Field(gt=0, le=1)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]


class TierRule(_Model):
    """Send a call for this alias to another alias when every condition given holds."""

    #: The alias to use instead (it routes and retries by its own settings; tiers do not chain).
    to: str = Field(min_length=1)
    #: The request's ``x-daytwo-route-hint`` header equals this.
    hint: str | None = Field(None, min_length=1, max_length=64)
    #: Every one of these attribution tags (``x-daytwo-tags``) has this value.
    tag: dict[str, str] | None = None
    #: The prompt's estimated input tokens are at most / at least this many.
    max_input_tokens: int | None = Field(None, ge=0)
    min_input_tokens: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _has_condition(self) -> TierRule:
        if (
            self.hint is None
            and not self.tag
            and self.max_input_tokens is None
            and self.min_input_tokens is None
        ):
            raise ValueError(
                "a tier rule needs a condition: hint, tag, max_input_tokens or min_input_tokens"
            )
        return self


class AliasResilience(_Model):
    #: ``ordered``: the deployments in the order listed (a fallback chain). ``weighted``: split
    #: by ``weights``. ``least_latency``: the lowest moving average first. ``lowest_cost``: the
    #: cheapest priced deployment first.
    strategy: Strategy | None = None
    #: Deployment id (``provider/model`` or its ``name``) → relative weight; ``weighted`` only.
    #: Deployments not named get weight 0 (tried only after the others).
    weights: dict[str, Annotated[float, Field(ge=0)]] | None = None
    #: The whole call, all attempts and waits included.
    deadline_s: Seconds | None = None
    #: One attempt (a stream: until its first chunk).
    try_timeout_s: Seconds | None = None
    #: Attempts per call, the first included.
    max_attempts: int | None = Field(None, ge=1, le=10)
    #: Route some calls to a cheaper or stronger alias (only under ``aliases``).
    tiers: tuple[TierRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> AliasResilience:
        if self.weights is not None and self.strategy not in ("weighted", None):
            raise ValueError(f"weights are only used by strategy weighted, not {self.strategy}")
        if self.weights is not None and not any(w > 0 for w in self.weights.values()):
            raise ValueError("weights need at least one deployment with a weight above 0")
        if (
            self.deadline_s is not None
            and self.try_timeout_s is not None
            and self.try_timeout_s > self.deadline_s
        ):
            raise ValueError("try_timeout_s cannot be longer than deadline_s")
        return self


class RetryBudgetConfig(_Model):
    #: Retries may add at most this share of the requests ...
    ratio: Share | None = None
    #: ... plus this many retries per window.
    min_retries: int | None = Field(None, ge=0)
    window_s: float | None = Field(None, ge=1, le=3600)


class BreakerConfig(_Model):
    #: Failures in a row that open a deployment's breaker.
    consecutive_failures: int | None = Field(None, ge=1)
    #: The error and slow-call rates are over the last ``window_calls`` calls, once at least
    #: ``min_calls`` are in the window.
    window_calls: int | None = Field(None, ge=1, le=10_000)
    min_calls: int | None = Field(None, ge=1)
    error_rate: Rate | None = None
    #: A call (a stream: its first chunk) slower than this counts as slow.
    slow_call_s: Seconds | None = None
    slow_rate: Rate | None = None
    #: First open period; doubled on each reopening soon after, up to ``max_open_s``.
    open_s: Seconds | None = None
    max_open_s: Seconds | None = None
    #: Probe calls let through half-open; all must succeed to close the breaker.
    half_open_probes: int | None = Field(None, ge=1, le=100)
    #: Reported upstream quota at or below this share of its limit shifts traffic away.
    low_quota_ratio: Share | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BreakerConfig:
        if (
            self.window_calls is not None
            and self.min_calls is not None
            and self.min_calls > self.window_calls
        ):
            raise ValueError("min_calls cannot exceed window_calls")
        if (
            self.open_s is not None
            and self.max_open_s is not None
            and self.open_s > self.max_open_s
        ):
            raise ValueError("open_s cannot exceed max_open_s")
        return self


class ResilienceConfig(_Model):
    #: What every alias gets unless it says otherwise.
    defaults: AliasResilience = AliasResilience()
    #: Per alias (the names under ``models``).
    aliases: dict[str, AliasResilience] = Field(default_factory=dict)
    retry_budget: RetryBudgetConfig = RetryBudgetConfig()
    breaker: BreakerConfig = BreakerConfig()
    #: Full-jitter backoff between attempts on the same deployment.
    backoff_base_s: Seconds | None = None
    backoff_max_s: Seconds | None = None
    #: A longer ``retry-after`` from the same deployment goes to the client instead of being
    #: waited out.
    max_retry_after_s: Seconds | None = None

    @model_validator(mode="after")
    def _no_default_tiers(self) -> ResilienceConfig:
        if self.defaults.tiers:
            raise ValueError(
                "tiers belong to an alias (resilience.aliases.NAME.tiers), not defaults"
            )
        return self

    def for_alias(self, alias: str) -> AliasResilience | None:
        return self.aliases.get(alias)
