"""The ``finops`` section: cost intelligence. ``reconcile`` names the providers whose bills
``daytwo reconcile`` reads (docs/finops.md, "Reconciliation")::

    finops:
      reconcile:
        every: 24h                      # how often the scheduled run compares (reserved)
        threshold_pct: 2.0              # an unexplained remainder above this is a gap
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

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from daytwo.core.secrets import parse_ref


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
    threshold_pct: float = Field(default=2.0, ge=0)
    providers: tuple[ReconcileProvider, ...] = ()


class WeeklyConfig(_Model):
    #: Names of ``alerts.sinks`` the summary is sent to by ``daytwo report weekly --send``.
    sinks: tuple[str, ...] = ()
    top: int = Field(default=5, ge=1, le=50)


class FinopsConfig(_Model):
    reconcile: ReconcileConfig = ReconcileConfig()
    weekly: WeeklyConfig = WeeklyConfig()
