"""``/admin/slos``: where each SLO of the running config stands -- SLI, error budget left,
burn rate per alert window, time to exhaustion, the alerts firing -- the JSON of ``daytwo slo
status --json``, computed now from the gateway's ledger (:func:`daytwo.slo.status.
evaluate_slo`, one query per SLO, in a worker thread).

A project-scoped token reads only the SLOs scoped to its project.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from daytwo.admin.declare import Gw, Who, reply, route
from daytwo.config.slos import SloConfig
from daytwo.core.errors import InternalError
from daytwo.ledger.store import LedgerStore
from daytwo.slo.status import evaluate_slo

# -- answers (documentation only: handlers build plain JSON, a test checks it) ---------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BurnAlertState(_Response):
    severity: Literal["page", "ticket"]
    burn_rate: float = Field(description="The threshold both windows must exceed.")
    long: str
    short: str
    firing: bool


class SloState(_Response):
    name: str
    sli: dict[str, Any] = Field(description="The SLI as configured (`type` and its bounds).")
    objective: float
    window: str
    scope: dict[str, str]
    events: int = Field(description="Events over the window.")
    bad_events: int
    sli_value: float | None = Field(description="Good / events over the window (null: none).")
    budget_remaining: float = Field(description="1 untouched, 0 spent, below 0 overspent.")
    burn_rates: dict[str, float] = Field(description="Alert window (5m, 1h, ...) → burn rate.")
    exhaustion_s: float | None = Field(
        description="Seconds the budget left lasts at the last hour's burn (null: no burn)."
    )
    alerts: list[BurnAlertState]
    firing: Literal["page", "ticket"] | None
    min_events: int
    sampling_aware: bool
    runbook: str | None


class SloList(_Response):
    object: Literal["list"]
    data: list[SloState]


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/slos",
        "viewer",
        summary="Every SLO: SLI, error budget left, burn rates, time to exhaustion, alerts.",
        ok=SloList,
        ok_description="The SLOs (an empty list when none is configured)",
    )
    async def slos_list(who: Who, gw: Gw) -> Response:
        slos = [s for s in gw.config.slos if who.project in (None, s.scope.project)]
        if not slos:
            return reply({"object": "list", "data": []})
        ledger = gw.ledger
        if ledger is None:
            raise InternalError("The admin API is not ready: the ledger is not open yet.")
        data = await asyncio.to_thread(_statuses, ledger.store, slos, time.time())
        return reply({"object": "list", "data": data})


def _statuses(store: LedgerStore, slos: list[SloConfig], now: float) -> list[dict[str, Any]]:
    return [evaluate_slo(store, slo, now).to_json() for slo in slos]
