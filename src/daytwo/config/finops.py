"""The ``finops`` section: cost intelligence. ``reconcile`` names the providers whose bills
``daytwo reconcile`` reads and the gateway compares on a schedule (docs/finops.md,
"Reconciliation")::

    finops:
      reconcile:
        every: 24h                      # how often one replica compares (m, h or d)
        days: 3                         # complete UTC days each run compares
        lag_days: 1                     # bills lag: the newest day compared ended this long ago
        threshold_pct: 2.0              # an unexplained remainder above this % of the bill...
        min_gap_usd: "1.00"             # ...and at least this many dollars is a gap
        providers:
          - kind: openai
            admin_key: env:OPENAI_ADMIN_KEY
            ledger_providers: [openai]  # default: every configured provider of this type
            api_key_ids: [key_abc123]   # the provider's ids of daytwo's upstream keys

``weekly`` is the weekly review (``daytwo report weekly``, docs/finops.md, "The weekly
review")::

    finops:
      weekly:
        sinks: [chat]                   # alert sinks `--send` posts the summary to
        top: 5                          # rows per breakdown, movers and opportunities
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from daytwo.core.secrets import parse_ref

_UNIT_S = {"m": 60, "h": 3600, "d": 86_400}


def _check_ref(value: str) -> str:
    parse_ref(value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReconcileProvider(_Model):
    kind: Literal["openai", "anthropic"]
    #: Reference to the admin key (``env:NAME`` or ``file:/path``); never the key itself.
    admin_key: Annotated[str, AfterValidator(_check_ref)]
    base_url: HttpUrl | None = None
    #: daytwo provider names whose calls this bill covers (None: every provider of this kind).
    ledger_providers: tuple[str, ...] | None = None
    #: The provider's ids of the API keys daytwo uses (None: not mapped, say so in the report).
    api_key_ids: tuple[str, ...] | None = None


class ReconcileConfig(_Model):
    every: str = Field(default="24h", pattern=r"^\d+[mhd]$")
    days: int = Field(default=3, ge=1, le=31)
    lag_days: int = Field(default=1, ge=0, le=30)
    threshold_pct: float = Field(default=2.0, ge=0)
    min_gap_usd: Decimal = Field(default=Decimal("1.00"), ge=0)
    providers: tuple[ReconcileProvider, ...] = ()

    @field_validator("every")
    @classmethod
    def _positive(cls, value: str) -> str:
        if int(value[:-1]) == 0:
            raise ValueError("0 is not a schedule (remove `providers` to stop the runs)")
        return value

    @field_validator("providers")
    @classmethod
    def _one_per_kind(cls, value: tuple[ReconcileProvider, ...]) -> tuple[ReconcileProvider, ...]:
        kinds = [p.kind for p in value]
        for kind in kinds:
            if kinds.count(kind) > 1:
                raise ValueError(f"kind {kind} is listed twice (one bill per kind)")
        return value

    @property
    def every_s(self) -> float:
        return float(int(self.every[:-1]) * _UNIT_S[self.every[-1]])


class WeeklyConfig(_Model):
    #: Names of ``alerts.sinks`` the summary is sent to by ``daytwo report weekly --send``.
    sinks: tuple[str, ...] = ()
    top: int = Field(default=5, ge=1, le=50)


class FinopsConfig(_Model):
    reconcile: ReconcileConfig = ReconcileConfig()
    weekly: WeeklyConfig = WeeklyConfig()
