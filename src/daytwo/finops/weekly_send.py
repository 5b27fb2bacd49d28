"""Sending the weekly review's summary through the alert sinks (``--send``): a notification of
kind ``weekly_report`` whose text is the Markdown summary, delivered by the alert engine's
dispatcher (its retries and backoff) to the sinks named by ``finops.weekly.sinks``; every
attempt is a row for the alert history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daytwo.alerts.delivery import Dispatcher
from daytwo.alerts.engine import default_replica, fingerprint
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import build_sink
from daytwo.config.schema import Config
from daytwo.core.secrets import SecretRegistry

RULE = "weekly-report"
KIND = "weekly_report"


@dataclass(frozen=True, slots=True)
class Sent:
    sink: str
    type: str
    attempts: int
    error: str | None


def notification(summary: str, week: str, detail: dict[str, Any], now: float) -> Notification:
    return Notification(
        status="firing",
        rule=RULE,
        kind=KIND,
        severity="info",
        labels={"week": week},
        value=None,
        threshold=0.0,
        unit="",
        started_at=now,
        at=now,
        fingerprint=fingerprint(RULE, {"week": week}),
        message=summary,
        detail=detail,
    )


def unknown_sinks(config: Config) -> list[str]:
    return [s for s in config.finops.weekly.sinks if s not in config.alerts.sinks]


def send(
    config: Config, n: Notification, names: Sequence[str]
) -> tuple[list[Sent], list[dict[str, Any]]]:
    """Deliver ``n`` to each named sink (blocking); the outcomes and the history rows."""
    cfg = config.alerts
    rows: list[dict[str, Any]] = []
    secrets = SecretRegistry()

    async def run() -> list[Sent]:
        dispatcher = Dispatcher(
            rows.append,
            replica=f"cli:{default_replica()}",
            clock=time.time,
            attempts=cfg.delivery_attempts,
            backoff_s=cfg.backoff_s,
            max_backoff_s=cfg.max_backoff_s,
        )
        sinks = [build_sink(name, cfg.sinks[name], secrets) for name in names]
        try:
            errors = await asyncio.gather(*(dispatcher.deliver_now(n, s) for s in sinks))
        finally:
            for s in sinks:
                await s.aclose()
        return [
            Sent(s.name, s.type, sum(1 for r in rows if r["sink"] == s.name), e)
            for s, e in zip(sinks, errors, strict=True)
        ]

    return asyncio.run(run()), rows
