"""The answer of ``GET /admin/keys/{id}/blast-radius`` as pydantic models: documentation only
(the handler answers :meth:`daytwo.keys.blast.BlastRadius.to_json`, and a test checks each
real answer against these schemas). The same JSON as ``daytwo keys blast-radius --json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from daytwo.admin.schemas import Key, KeyState


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(_Response):
    usd: str = Field(description="US dollars as an exact decimal string (9 places).")
    nanos: int = Field(description="The same amount in nano-dollars.")


class UsageFigures(_Response):
    calls: int
    errors: int = Field(description="Calls with status `error`.")
    rejected: int = Field(description="Calls refused by policy before any upstream call.")
    cost: Money = Field(description="Spend of the priced calls.")
    unpriced_calls: int = Field(description="Calls that used tokens of a model with no price.")
    input_tokens: int
    output_tokens: int
    first_at: float | None = Field(description="The first call's start (null: unknown).")
    last_at: float | None


class DayUsage(UsageFigures):
    day: str = Field(description="The UTC day, `YYYY-MM-DD`.")
    start: int = Field(description="The day's first second (Unix time).")


class ValueUsage(UsageFigures):
    value: str | None = Field(description="The value (null: calls that had none).")


class DimensionUsage(_Response):
    distinct: int = Field(description="How many values the key's calls had in the window.")
    top: list[ValueUsage] = Field(description="The `top` values by calls, then spend.")
    other: UsageFigures | None = Field(description="The other values' calls, summed.")


class CapBound(_Response):
    source: str = Field(description="`key budget`, `budget NAME`, `tpm (…)`, `rpm (…)`.")
    detail: str
    per_day: Money | None
    per_month: Money | None
    shared: bool = Field(description="The counter also counts other keys' calls.")


class PriciestModel(_Response):
    alias: str
    deployment: str
    usd_per_mtok: str = Field(description="Its dearest per-token price, USD per million.")


class KeyCaps(_Response):
    max_per_day: Money | None = Field(description="The tightest bound (null: unbounded).")
    max_per_day_by: str | None
    max_per_month: Money | None
    max_per_month_by: str | None
    bounds: list[CapBound]
    rpm: int | None
    rpm_source: str | None
    tpm: int | None
    tpm_source: str | None
    models: list[str] | None = Field(description="Aliases the key may call (null: all).")
    priciest_model: PriciestModel | None
    unpriced_models: list[str] = Field(description="Reachable deployments with no price.")
    timezone: str = Field(description="The budgets' calendar (`spend_control.timezone`).")
    longest_day_hours: float
    longest_month_days: float
    assumptions: list[str]


class Consumer(_Response):
    workflow: str | None
    feature: str | None
    agent: str | None
    client_ip: str | None
    calls_24h: int
    cost_24h: Money
    calls_7d: int
    cost_7d: Money
    last_at: float


class KeyImpact(_Response):
    usable: bool = Field(description="Whether the key authenticates now.")
    recent: dict[str, UsageFigures] = Field(description="The last `24h` and `7d`.")
    consumers: list[Consumer] = Field(
        description="Workflow, feature, agent and client IP of the last 7 days, top by calls."
    )
    consumer_count: int
    propagation_s: float = Field(description="Gateways refuse a revoked key within this.")
    revoke: list[str] = Field(description="What revoking the key now would stop.")
    rotate: list[str] = Field(description="What rotating it would take.")
    can_rotate: bool


class ChainKey(UsageFigures):
    id: str
    prefix: str
    state: KeyState
    created_at: float
    rotated_from: str | None
    grace_until: float | None
    revoked_at: float | None


class KeyBlastRadius(_Response):
    object: Literal["key_blast_radius"]
    key: Key
    as_of: float
    since: float = Field(description="The window's start (Unix time).")
    secret_scope: str = Field(description="Which key id a leaked secret of this key is.")
    first_use: float | None
    last_use: float | None
    lifetime_calls: int
    window: UsageFigures
    days: list[DayUsage] = Field(description="UTC days with calls, oldest first.")
    dimensions: dict[str, DimensionUsage] = Field(
        description="project, workflow, feature, agent, environment, user, alias, "
        "served_model, provider, deployment, client_ip."
    )
    caps: KeyCaps
    impact: KeyImpact
    rotation_chain: list[ChainKey] = Field(description="Oldest first, this key included.")
