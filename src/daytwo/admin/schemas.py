"""The admin API's request and response bodies as pydantic models: they validate requests and
write the OpenAPI document's schemas (one declaration for both).

Request models forbid unknown fields and use strict types (``true`` is not an integer, ``3`` is
not a string), as the hand-written checks did; :mod:`daytwo.admin.errors` turns a failed
validation into daytwo's 400 naming the field. Response models only document: handlers build
plain JSON and a test checks each real answer against these schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from daytwo.config.degrade import MAX_MESSAGE_CHARS
from daytwo.control.scopes import EACH
from daytwo.control.switches import SWITCH_FIELDS
from daytwo.keys.specs import parse_budget, parse_duration

#: A reason for a kill switch is a sentence, not a document.
MAX_REASON_CHARS = 500


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must be a non-empty string")
    return text


def _concrete(text: str) -> str:
    if not text or text == EACH:
        raise ValueError("must be a non-empty value (not `*`)")
    return text


def _budget(text: str) -> str:
    return parse_budget(_not_blank(text)).text


def _models(names: list[str]) -> list[str]:
    if not names or not all(n.strip() for n in names):
        raise ValueError("must be a non-empty list of model aliases")
    return list(dict.fromkeys(n.strip() for n in names))


def _grace(text: str) -> str:
    parse_duration(text, allow_zero=True)
    return text


def _duration(text: str) -> str:
    parse_duration(text)
    return text


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
ScopeValue = Annotated[StrictStr, AfterValidator(_concrete)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyCreate(_Request):
    """A new virtual key. ``project`` is required unless the admin token has one."""

    project: Text | None = Field(None, description="Required unless the token has a project.")
    workflow: Text | None = None
    feature: Text | None = None
    environment: Text | None = None
    models: Annotated[list[StrictStr], AfterValidator(_models)] | None = Field(
        None, description="The model aliases the key may call (at least one)."
    )
    budget: Annotated[StrictStr, AfterValidator(_budget)] | None = Field(
        None, description="`<usd>/<request|hour|day|week|month>`."
    )
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None
    expires: Annotated[StrictStr, AfterValidator(_duration)] | None = Field(
        None, description="Lifetime: `30s`, `15m`, `24h`, `90d`."
    )
    description: Text | None = None


class KeyRotate(_Request):
    grace: Annotated[StrictStr, AfterValidator(_grace)] = Field(
        "24h", description="How long the old key keeps working: `0s`, `15m`, `24h`."
    )


class KeyRevoke(_Request):
    """No fields: an empty object (or no body)."""


class Scope(_Request):
    """A concrete scope: field → value (no `*`), at least one field."""

    project: ScopeValue | None = None
    workflow: ScopeValue | None = None
    feature: ScopeValue | None = None
    agent: ScopeValue | None = None
    session: ScopeValue | None = None
    key: ScopeValue | None = None
    model: ScopeValue | None = None
    provider: ScopeValue | None = None

    def fields(self) -> dict[str, str]:
        return self.model_dump(exclude_none=True)

    @model_validator(mode="after")
    def _names_one(self) -> Scope:
        if not self.fields():
            raise ValueError(
                f"must be an object naming at least one of: {', '.join(SWITCH_FIELDS)}"
            )
        return self


class Kill(_Request):
    scope: Scope
    reason: Annotated[Text, Field(max_length=MAX_REASON_CHARS)]


class Degrade(_Request):
    """Put a scope in degraded mode: its calls are answered, not refused."""

    scope: Scope
    mode: Literal["static", "cached", "alias"] = Field(
        description="`static`: answer with `message`; `cached`: the last good cached answer "
        "for the same request (else `message`); `alias`: route to the safe alias `alias`."
    )
    message: Annotated[Text, Field(max_length=MAX_MESSAGE_CHARS)] | None = Field(
        None, description="The answer of `static` (and of `cached` when nothing is cached)."
    )
    alias: Annotated[Text, Field(max_length=200)] | None = Field(
        None, description="`alias` mode: the configured alias that answers instead."
    )
    reason: Annotated[Text, Field(max_length=MAX_REASON_CHARS)]


class Revive(_Request):
    scope: Scope


# -- responses (documentation only) ---------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(_Response):
    error: ErrorDetail


KeyState = Literal["active", "grace", "expired", "revoked", "rotated"]


class Key(_Response):
    id: str
    prefix: str = Field(description="Display prefix, e.g. `dt2_sk_ab12…`.")
    project: str
    workflow: str | None
    feature: str | None
    environment: str | None
    models: list[str] | None
    budget: str | None = Field(description="e.g. `50/day`.")
    rpm: int | None
    tpm: int | None
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    rotated_from: str | None
    grace_until: float | None
    description: str | None
    state: KeyState


class IssuedKey(Key):
    key: str = Field(description="The secret, shown this once.")
    previous_grace_until: float | None = Field(
        None, description="Rotation only: when the old key stops working."
    )


class KeyList(_Response):
    object: Literal["list"]
    data: list[Key]


class Switch(_Response):
    scope: str = Field(description="The scope key, e.g. `project=acme`.")
    fields: dict[str, str]
    reason: str
    who: str
    at: float
    source: Literal["manual", "budget", "loopbreaker", "alert"]
    mode: Literal["kill", "static", "cached", "alias"] = Field(
        description="`kill` refuses the scope's calls; the others answer them (degraded mode)."
    )
    message: str | None = None
    alias: str | None = None


class SwitchList(_Response):
    object: Literal["list"]
    data: list[Switch]


class Revived(_Response):
    scope: str
    fields: dict[str, str]
    revived: bool = Field(description="Whether a switch was active.")


USD = Annotated[str, Field(description="US dollars as an exact decimal string.")]


class Counter(_Response):
    scope: str
    window_start: float
    resets_at: float
    spent_usd: USD
    reserved_usd: USD
    spent_tokens: int
    reserved_tokens: int


class Budget(_Response):
    name: str
    scope: str = Field(description="The budget's scope pattern (`*`: each).")
    window: Literal["request", "hour", "day", "week", "month"]
    cap_usd: USD | None
    cap_tokens: int | None
    actions: list[Literal["alert", "block", "downgrade", "trip"]]
    counter: Counter | None = Field(
        description="Counters of the concrete scope (null: per-request budget, or a pattern "
        "with no concrete scope given, or a budget that does not apply to it)."
    )


class BudgetList(_Response):
    object: Literal["list"]
    data: list[Budget]


class Event(_Response):
    id: int
    at: float
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class EventList(_Response):
    object: Literal["list"]
    data: list[Event]


Rate = Annotated[float, Field(ge=0, le=1)]
Ms = Annotated[float, Field(ge=0)]


class Deployment(_Response):
    deployment: str = Field(description="`provider/model`, or its `name`.")
    provider: str
    provider_type: str
    model: str = Field(description="The model name the upstream knows.")
    aliases: list[str] = Field(description="The model aliases that route to it.")
    state: Literal["closed", "open", "half_open"] = Field(
        description="Its circuit breaker (`closed` until a call reaches it)."
    )
    consecutive_failures: Annotated[int, Field(ge=0)] | None
    window_calls: Annotated[int, Field(ge=0)] | None = Field(
        description="Calls in the breaker's window (closed only)."
    )
    error_rate: Rate | None
    slow_rate: Rate | None
    p50_ms: Ms | None
    p95_ms: Ms | None
    latency_ewma_ms: Ms | None
    ttft_ewma_ms: Ms | None
    open_for_s: Ms | None = Field(description="Seconds until an open breaker lets probes through.")
    openings: Annotated[int, Field(ge=0)] | None
    throttled_for_s: Ms | None = Field(
        description="Seconds it stays behind the others (429, quota)."
    )
    remaining_requests: int | None = Field(description="The upstream's reported quota.")
    remaining_tokens: int | None


class RetryBudget(_Response):
    requests: Annotated[int, Field(ge=0)]
    retries: Annotated[int, Field(ge=0)]
    ratio: Rate
    min_retries: Annotated[int, Field(ge=0)]
    window_s: Annotated[float, Field(gt=0)]


class AliasPolicy(_Response):
    strategy: Literal["ordered", "weighted", "least_latency", "lowest_cost"]
    max_attempts: Annotated[int, Field(ge=1)]
    deadline_s: Annotated[float, Field(gt=0)]
    try_timeout_s: Annotated[float, Field(gt=0)]


class Providers(_Response):
    object: Literal["list"]
    data: list[Deployment] = Field(
        description="Every configured deployment; the figures are null until a call reached it."
    )
    retry_budget: RetryBudget
    aliases: dict[str, AliasPolicy] = Field(description="Each alias's routing and retry policy.")


# -- rollouts (daytwo.admin.rollouts) --------------------------------------------------------

#: A rollout's target and stages are one line each.
MAX_ROLLOUT_TEXT = 300
RolloutStatus = Literal["running", "waiting", "paused", "completed", "rolled_back"]
StickyKey = Literal["session", "user", "key"]


class CriteriaOverrides(_Request):
    """Criteria of this rollout over the gateway's `rollouts.criteria` defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    min_duration_s: Annotated[float, Field(ge=0)] | None = Field(
        None, description="A stage lasts at least this long (seconds)."
    )
    min_calls: PositiveInt | None = Field(
        None, description="A stage sees this many candidate calls before it is judged."
    )
    max_error_increase: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="How much worse (absolute) the candidate's error rate may be."
    )
    max_refusal_increase: Annotated[float, Field(ge=0, le=1)] | None = None
    max_latency_ratio: Annotated[float, Field(ge=1)] | None = Field(
        None, description="The candidate's p95 latency over the control's, at most."
    )
    max_cost_ratio: Annotated[float, Field(ge=0)] | None = None
    max_pairwise_loss: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="How much the pairwise judge's loss share may exceed its win share "
        "(shadow pairs).",
    )

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class RolloutStart(_Request):
    target: Annotated[Text, Field(max_length=MAX_ROLLOUT_TEXT)] = Field(
        description="`prompt:NAME@vN` (the default label moves to version N), "
        "`prompt:NAME@LABEL=vN`, or `alias:ALIAS`."
    )
    candidate: Annotated[Text, Field(max_length=200)] | None = Field(
        None, description="Alias rollouts: the configured alias that serves the candidate arm."
    )
    stages: Annotated[Text, Field(max_length=MAX_ROLLOUT_TEXT)] = Field(
        description="e.g. `shadow:10%,canary:5%,25%,100%` (`full` is added when missing)."
    )
    sticky: StickyKey = Field(
        "session", description="What keeps a caller on one arm: its session, user or key."
    )
    approve_each: StrictBool = Field(False, description="Wait for a promote after each stage.")
    criteria: CriteriaOverrides | None = None
    reason: Annotated[StrictStr, Field(max_length=MAX_REASON_CHARS)] = ""


class RolloutAction(_Request):
    reason: Annotated[Text, Field(max_length=MAX_REASON_CHARS)] = Field(
        description="Why (kept with the rollout and in its event in the audit trail)."
    )


class RolloutCriteria(_Response):
    min_duration_s: float
    min_calls: int
    max_error_increase: float
    max_refusal_increase: float
    max_latency_ratio: float
    max_cost_ratio: float
    max_pairwise_loss: float


class RolloutStage(_Response):
    kind: Literal["shadow", "canary", "full"]
    percent: float = Field(description="Mirrored (shadow) or served by the candidate (canary).")
    name: str = Field(description="e.g. `canary 5%`.")
    state: Literal["done", "current", "next", "stopped"] = Field(
        description="`stopped`: the stage a rolled-back rollout stopped at."
    )


class RolloutAnswer(_Response):
    object: Literal["rollout"]
    id: str
    kind: Literal["prompt", "alias"]
    target: str = Field(description="`NAME@LABEL` (prompt) or the alias.")
    control: str = Field(description="Prompt: the version number; alias: the alias.")
    candidate: str
    stages: list[RolloutStage]
    stage: int = Field(description="The current stage's index.")
    current: str
    status: RolloutStatus
    serving_percent: float = Field(description="Share of calls the candidate answers now.")
    shadow_percent: float = Field(description="Share of calls mirrored to the candidate now.")
    sticky: StickyKey
    approve_each: bool
    criteria: RolloutCriteria
    created_at: float
    created_by: str
    stage_started_at: float
    updated_at: float
    version: int
    reason: str = Field(description="The last change's reason.")
    evidence: list[str] = Field(description="The last decision's evidence, one line each.")
    retired: bool = Field(description="No longer overriding its target.")
    note: str | None = Field(
        description="A prompt rollout whose label file says something else, and what to do."
    )


class RolloutDetail(RolloutAnswer):
    history: list[Event] = Field(description="Its events (`rollout.*`), oldest first.")


class RolloutList(_Response):
    object: Literal["list"]
    data: list[RolloutAnswer] = Field(description="Newest first.")
