"""The scheduled reconciliation's results, kept in the admin event log: one event per run and
provider (actor ``finops``, action ``finops.reconcile``, target the provider's kind, the
figures in ``after``). The gateway's reconcile service writes them
(:mod:`daytwo.finops.reconcile_schedule`); the alert engine's ``reconciliation_gap`` rules and
the weekly report read the newest per provider (:func:`latest_runs`).

A run is a **gap** when its unexplained remainder is above ``finops.reconcile.threshold_pct``
of the bill and at least ``min_gap_usd`` dollars (either sign). A run that could not read the
bill keeps its error and no figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.core.money import format_usd, nanos_to_usd
from daytwo.finops.reconcile import CAUSES, Reconciliation
from daytwo.keys.schema import admin_events
from daytwo.ledger.store import LedgerStore

ACTOR = "finops"
ACTION = "finops.reconcile"


@dataclass(frozen=True, slots=True)
class ReconcileRun:
    """One provider's result of one scheduled run."""

    provider: str
    at: float
    start: datetime
    end: datetime
    billed_nanos: int = 0
    ledger_nanos: int = 0
    remainder_nanos: int = 0
    remainder_pct: float = 0.0
    causes: dict[str, int] = field(default_factory=dict)
    gap: bool = False
    #: Why the bill could not be compared (None: it was).
    error: str | None = None
    replica: str | None = None

    def to_event(self) -> dict[str, Any]:
        """The admin event's ``after``."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "billed_nanos": self.billed_nanos,
            "ledger_nanos": self.ledger_nanos,
            "unexplained_nanos": self.remainder_nanos,
            "unexplained_pct": self.remainder_pct,
            "causes": {c: n for c, n in self.causes.items() if n},
            "gap": self.gap,
            "error": self.error,
            "replica": self.replica,
        }

    def evidence(self) -> dict[str, Any]:
        """The figures a notification carries (dollars as exact decimal strings)."""

        def usd(nanos: int) -> str:
            return format(nanos_to_usd(nanos), "f")

        return {
            "provider": self.provider,
            "from": self.start.date().isoformat(),
            "to": self.end.date().isoformat(),
            "billed_usd": usd(self.billed_nanos),
            "ledger_usd": usd(self.ledger_nanos),
            "unexplained_usd": usd(self.remainder_nanos),
            "unexplained_pct": round(self.remainder_pct, 4),
            "causes_usd": {c: usd(n) for c, n in self.causes.items() if n},
            "checked_at": datetime.fromtimestamp(self.at, UTC).isoformat(),
        }

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.provider}: not compared ({self.error})"
        return (
            f"{self.provider} {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}: billed "
            f"{format_usd(self.billed_nanos)}, ledger {format_usd(self.ledger_nanos)}, "
            f"unexplained {format_usd(self.remainder_nanos)} ({self.remainder_pct:.2f}%)"
        )


def is_gap(remainder_nanos: int, pct: float, threshold_pct: float, min_nanos: int) -> bool:
    return pct > threshold_pct and abs(remainder_nanos) >= min_nanos


def run_of(
    rec: Reconciliation, *, at: float, threshold_pct: float, min_nanos: int, replica: str | None
) -> ReconcileRun:
    return ReconcileRun(
        provider=rec.provider,
        at=at,
        start=rec.start,
        end=rec.end,
        billed_nanos=rec.billed_nanos,
        ledger_nanos=rec.ledger_nanos,
        remainder_nanos=rec.remainder_nanos,
        remainder_pct=rec.remainder_pct,
        causes=rec.causes,
        gap=is_gap(rec.remainder_nanos, rec.remainder_pct, threshold_pct, min_nanos),
        replica=replica,
    )


def from_event(provider: str, at: float, after: str | None) -> ReconcileRun | None:
    """The run an event recorded (None: not a run's event)."""
    try:
        data = orjson.loads(after) if after else None
        if not isinstance(data, dict):
            return None
        causes = data.get("causes") or {}
        return ReconcileRun(
            provider=provider,
            at=at,
            start=datetime.fromisoformat(data["from"]),
            end=datetime.fromisoformat(data["to"]),
            billed_nanos=int(data["billed_nanos"]),
            ledger_nanos=int(data["ledger_nanos"]),
            remainder_nanos=int(data["unexplained_nanos"]),
            remainder_pct=float(data["unexplained_pct"]),
            causes={c: int(causes.get(c, 0)) for c in CAUSES},
            gap=bool(data["gap"]),
            error=None if data.get("error") is None else str(data["error"]),
            replica=None if data.get("replica") is None else str(data["replica"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def latest_runs(store: LedgerStore) -> dict[str, ReconcileRun]:
    """The newest stored run of each provider (blocking; one query)."""
    c = admin_events.c
    newest = (
        sa.select(sa.func.max(c.id).label("id"))
        .where(c.action == ACTION)
        .group_by(c.target)
        .subquery()
    )
    query = sa.select(c.target, c.at, c.after).select_from(
        admin_events.join(newest, c.id == newest.c.id)
    )
    out = {}
    with store.connect() as conn:
        for target, at, after in conn.execute(query):
            run = from_event(str(target), float(at), after)
            if run is not None:
                out[run.provider] = run
    return out
