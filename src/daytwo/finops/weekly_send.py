"""Sending the weekly review's summary through the alert sinks (``--send``): a notification of
kind ``weekly_report`` whose text is the Markdown summary, delivered by the alert engine's
dispatcher (its retries and backoff) to the sinks named by ``finops.weekly.sinks``; every
attempt is a row for the alert history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daytwo.alerts.delivery import Sent, deliver_once
from daytwo.alerts.engine import default_replica, fingerprint
from daytwo.alerts.notify import Notification
from daytwo.config.schema import Config

RULE = "weekly-report"
KIND = "weekly_report"


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
    return deliver_once(config.alerts, n, names, f"cli:{default_replica()}")
