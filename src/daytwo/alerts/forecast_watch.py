"""The values of the forecast-based rules (``budget_projection``, ``spend_anomaly``), from the
finops room's forecasts of the ledger's rollups.

A forecast fits a model per series (statsmodels), far too much work for the event loop and
for every evaluation round: the engine calls :meth:`ForecastWatch.values` in a worker thread,
one rule at a time, and a rule's values are recomputed at most every :data:`REFRESH_S` seconds
(in between, the last values stand). Like every shared rule, only the lease holder evaluates.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from daytwo.config.alerts import AlertRule
from daytwo.config.spend import BudgetConfig
from daytwo.ledger.store import LedgerStore

#: Seconds a rule's forecast values are reused before they are computed again.
REFRESH_S = 300.0
#: ``spend_anomaly`` rule field → rollup dimension.
_DIMS = {"project": "project", "workflow": "workflow", "provider": "provider"}

Found = list[tuple[dict[str, str], float | None, dict[str, Any]]]


class ForecastWatch:
    """Cached values per rule; :meth:`values` is called from a worker thread."""

    def __init__(self, budgets: Sequence[BudgetConfig], timezone: str) -> None:
        self._budgets = tuple(budgets)
        self._timezone = timezone
        self._cache: dict[str, tuple[float, Found]] = {}
        self._lock = threading.Lock()

    def values(self, rule: AlertRule, store: LedgerStore, now: float) -> Found:
        """(group labels, value, detail) per alert of ``rule`` at ``now``."""
        with self._lock:
            hit = self._cache.get(rule.name)
            if hit is not None and 0 <= now - hit[0] < REFRESH_S:
                return hit[1]
            found = self._compute(rule, store, now)
            self._cache[rule.name] = (now, found)
            return found

    def _compute(self, rule: AlertRule, store: LedgerStore, now: float) -> Found:
        if rule.kind == "budget_projection":
            return self._budgets_found(rule, store, now)
        if rule.kind == "spend_anomaly":
            return _anomalies_found(rule, store, now)
        raise ValueError(f"{rule.kind} is not a forecast rule")

    def _budgets_found(self, rule: AlertRule, store: LedgerStore, now: float) -> Found:
        from daytwo.finops.forecast_budgets import project_budgets

        budgets = [
            b
            for b in self._budgets
            if (rule.budget is None or b.name == rule.budget)
            and b.usd is not None
            and b.window in ("day", "week", "month")
        ]
        out: Found = []
        for p in project_budgets(store, budgets, now=now, timezone=self._timezone):
            if p.projected is None or not p.cap:
                continue
            group = {"budget": p.name}
            detail = {
                "spent": p.spent,
                "projected": p.projected.mean,
                "projected_p80": [p.projected.lo80, p.projected.hi80],
                "cap": p.cap,
                "unit": "nanousd",
                "exhausted_at": _iso(p.exhaustion),
                "probability": p.probability,
                "resets_at": _iso(p.window_end),
            }
            out.append((group, round(p.projected.mean * 100 / p.cap, 1), detail))
        return out


def _anomalies_found(rule: AlertRule, store: LedgerStore, now: float) -> Found:
    from daytwo.finops.forecast_anomaly import anomalies

    fields = rule.scope.fields()
    if fields:
        ((name, value),) = fields.items()
        dim, only = _DIMS[name], value
    elif rule.by:
        dim, only = _DIMS[rule.by[0]], None
    else:
        dim, only = "total", ""
    out: Found = []
    for a in anomalies(store, dim, now=now, value=only):
        group = {} if dim == "total" or only is not None else {dim: a.key}
        detail = {
            "direction": a.direction,
            "hour": _iso(a.last_hour),
            "spent": a.actual,
            "expected": a.expected,
            "band": [a.low, a.high],
            "unit": "nanousd",
        }
        out.append((group, float(a.hours), detail))
    return out


def _iso(value: datetime | float | None) -> str | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return at.isoformat().replace("+00:00", "Z")
