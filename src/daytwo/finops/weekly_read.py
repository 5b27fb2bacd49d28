"""What the weekly review reads besides the spend reports: the daily spend series, the admin
event log (incidents, prompt loads, rollouts), the alert history, budgets' current windows and
the models in use. Every read is bounded by the window (the rollups, indexed ``at`` columns)
except the incident fold, which reads only incident events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa

from daytwo.alerts.history import AlertHistory
from daytwo.config.spend import BudgetConfig
from daytwo.control.scopes import EACH
from daytwo.control.windows import window_at
from daytwo.core.money import usd_to_nanos
from daytwo.incidents.record import Incident, fold
from daytwo.incidents.record import _events as incident_events
from daytwo.keys.model import AdminEvent
from daytwo.keys.schema import admin_events
from daytwo.ledger.schema import DAY, rollup_hourly
from daytwo.ledger.store import LedgerStore
from daytwo.ledger.totals import totals_by_window

PROMPT_LOADS = ("prompts.load", "prompts.reload")
ROLLOUT_ACTIONS = ("rollout.start", "rollout.complete", "rollout.rollback")
#: Budget scope fields the hourly rollup keeps under the same name (``model`` is not one: a
#: budget's model is the alias asked for, the rollup's the model served).
_ROLLUP_SCOPES = ("project", "workflow", "feature", "agent", "environment", "key")


def daily_cost(store: LedgerStore, lo: int, hi: int) -> list[int]:
    """Nano-dollars per day of [lo, hi) (whole days from ``lo``; a last partial day included)."""
    days = max(1, -(-(hi - lo) // DAY))
    out = [0] * days
    t = rollup_hourly
    query = sa.select(t.c.hour_start, t.c.cost_nanousd).where(
        t.c.dim == "total", t.c.hour_start >= lo, t.c.hour_start < hi
    )
    with store.connect() as conn:
        for hour, cost in conn.execute(query):
            out[(int(hour) - lo) // DAY] += int(cost or 0)
    return out


def dim_values(store: LedgerStore, dim: str, lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """Per value of the rollup dimension ``dim`` in [lo, hi): (calls, cost in nano-dollars)."""
    t = rollup_hourly
    query = (
        sa.select(t.c.value, sa.func.sum(t.c.calls), sa.func.sum(t.c.cost_nanousd))
        .where(t.c.dim == dim, t.c.hour_start >= lo, t.c.hour_start < hi)
        .group_by(t.c.value)
    )
    with store.connect() as conn:
        return {str(v): (int(n or 0), int(c or 0)) for v, n, c in conn.execute(query) if v and n}


def events_between(
    store: LedgerStore, actions: Sequence[str], lo: float, hi: float
) -> list[AdminEvent]:
    """Admin events of ``actions`` in [lo, hi), oldest first."""
    e = admin_events.c
    query = (
        sa.select(admin_events)
        .where(e.action.in_(list(actions)), e.at >= lo, e.at < hi)
        .order_by(e.at, e.id)
    )
    with store.connect() as conn:
        return [_event(row._mapping) for row in conn.execute(query)]


def last_event_before(store: LedgerStore, actions: Sequence[str], at: float) -> AdminEvent | None:
    e = admin_events.c
    query = (
        sa.select(admin_events)
        .where(e.action.in_(list(actions)), e.at < at)
        .order_by(e.at.desc(), e.id.desc())
        .limit(1)
    )
    with store.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _event(row._mapping)


def incidents_overlapping(store: LedgerStore, lo: float, hi: float) -> list[Incident]:
    """Incidents open at some point in [lo, hi), oldest first."""
    with store.connect() as conn:
        found = fold(incident_events(conn)).values()
    return sorted(
        (i for i in found if i.started_at < hi and (i.ended_at is None or i.ended_at >= lo)),
        key=lambda i: i.started_at,
    )


@dataclass(frozen=True, slots=True)
class AlertSpan:
    rule: str
    severity: str
    labels: dict[str, str]
    fired_at: float
    resolved_at: float | None


def alert_spans(store: LedgerStore, lo: float, hi: float) -> list[AlertSpan]:
    """Every alert that fired in [lo, hi) or was still firing at ``lo``, with when it resolved
    (None: still firing at ``hi``). Reads the history from ``lo`` on, plus each alert's newest
    transition before ``lo``."""
    rows = [r for r in AlertHistory(store).since(lo) if r.kind == "transition" and r.at < hi]
    open_: dict[tuple[str, str], AlertSpan] = {}
    spans: list[AlertSpan] = []
    for r in AlertHistory(store).latest_transitions():
        if r.state == "firing" and r.at < lo:
            open_[(r.rule, r.fingerprint)] = AlertSpan(
                r.rule, r.severity, r.labels, r.started_at or r.at, None
            )
    for r in rows:
        key = (r.rule, r.fingerprint)
        if r.state == "firing" and key not in open_:
            open_[key] = AlertSpan(r.rule, r.severity, r.labels, r.started_at or r.at, None)
        elif r.state == "resolved" and key in open_:
            s = open_.pop(key)
            spans.append(AlertSpan(s.rule, s.severity, s.labels, s.fired_at, r.at))
    # an alert that fired before lo and is still firing is only in latest_transitions when its
    # newest transition is before lo; one resolved in the window was popped above.
    spans.extend(open_.values())
    return sorted(spans, key=lambda s: s.fired_at)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    name: str
    scope: str
    window: str
    cap_nanousd: int
    spent_nanousd: int
    window_start: float
    window_end: float

    @property
    def utilisation(self) -> float:
        return self.spent_nanousd / self.cap_nanousd


def budget_use(
    store: LedgerStore, budgets: Sequence[BudgetConfig], tz: str, now: float
) -> list[BudgetUse]:
    """Each USD budget's spend in its window containing ``now``; a budget per member (``*``)
    shows its most used member."""
    zone = ZoneInfo(tz)
    out = []
    for b in budgets:
        if b.usd is None or b.window == "request":
            continue
        w = window_at(b.window, now, zone)
        fixed = {f: v for f, v in b.scope.items() if v != EACH}
        each = [f for f, v in b.scope.items() if v == EACH]
        scope = ",".join(f"{k}={v}" for k, v in sorted(b.scope.items())) or "all traffic"
        if not each and len(fixed) <= 1 and set(fixed) <= set(_ROLLUP_SCOPES):
            spent = _rollup_spend(store, fixed, w.start, w.end)
        else:
            groups = totals_by_window(store, {b.window: w.start}, group_by=each, where=fixed)
            best = max(groups, key=lambda g: g.windows[b.window].nanos, default=None)
            spent = 0 if best is None else best.windows[b.window].nanos
            if best is not None and each:
                members = ",".join(f"{k}={v}" for k, v in sorted(best.fields.items()))
                scope = f"{scope} (most used: {members})"
        out.append(BudgetUse(b.name, scope, b.window, usd_to_nanos(b.usd), spent, w.start, w.end))
    return out


def _rollup_spend(store: LedgerStore, fixed: dict[str, str], lo: float, hi: float) -> int:
    t = rollup_hourly
    (dim, value), *_ = list(fixed.items()) or [("total", "")]
    # Hours that started before the window began are left out: the rollup's grain is the hour.
    query = sa.select(sa.func.sum(t.c.cost_nanousd)).where(
        t.c.dim == dim, t.c.value == value, t.c.hour_start >= lo, t.c.hour_start < hi
    )
    with store.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _event(m: Any) -> AdminEvent:
    return AdminEvent(
        id=m["id"],
        at=m["at"],
        actor=m["actor"],
        action=m["action"],
        target=m["target"],
        before=None if m["before"] is None else orjson.loads(m["before"]),
        after=None if m["after"] is None else orjson.loads(m["after"]),
    )
