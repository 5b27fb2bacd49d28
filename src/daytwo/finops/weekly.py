"""The weekly review (``daytwo report weekly``): one week of spend and its drivers against the
week before, the forecast to month-end, budgets, the top optimization opportunities,
reconciliation, quality and SLOs, incidents and alerts, prompt versions shipped, rollouts and
models nearing retirement -- gathered here as data (:class:`WeeklyReport`); rendered as HTML
and Markdown by :mod:`daytwo.finops.weekly_render`.

Spend comes from the rollups (:func:`daytwo.ledger.report.spend_report`), so the cost of a
review depends on the window and the cardinality of its dimensions, not on the number of calls;
the opportunities read the window's calls once (:mod:`daytwo.finops.optimize_read`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daytwo.config.schema import Config
from daytwo.core.money import format_usd
from daytwo.finops.optimize import Opportunity, find_opportunities, reference_entry
from daytwo.finops.optimize_read import read_aggregates
from daytwo.finops.reconcile_runs import ReconcileRun, latest_runs
from daytwo.finops.weekly_forecast import NOT_AVAILABLE, Forecaster, MonthEnd
from daytwo.finops.weekly_read import (
    PROMPT_LOADS,
    ROLLOUT_ACTIONS,
    AlertSpan,
    BudgetUse,
    alert_spans,
    budget_use,
    daily_cost,
    dim_values,
    events_between,
    incidents_overlapping,
    last_event_before,
)
from daytwo.incidents.record import Incident
from daytwo.ledger.report import SpendReport, money, pct_change, spend_report
from daytwo.ledger.store import LedgerStore
from daytwo.lifecycle.check import Finding, ModelUse, check, configured_models
from daytwo.pricing.catalog import PriceBook
from daytwo.quality.report import QualityRow, quality_report
from daytwo.slo.status import evaluate_slo

BREAKDOWNS = ("project", "workflow", "model")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(text: str) -> tuple[datetime, datetime]:
    """``2026-W49`` → [Monday 00:00 UTC, next Monday 00:00 UTC). ValueError names the problem."""
    m = _WEEK.match(text)
    if m is None:
        raise ValueError(f"expected an ISO week like 2026-W49, got {text!r}")
    try:
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a week of {m[1]}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Mover:
    dim: str
    key: str | None
    cost_nanousd: int
    previous_nanousd: int

    @property
    def change_nanousd(self) -> int:
        return self.cost_nanousd - self.previous_nanousd

    def to_json(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "key": self.key,
            "cost": money(self.cost_nanousd),
            "previous_cost": money(self.previous_nanousd),
            "change": money(self.change_nanousd),
            "change_pct": _round(pct_change(self.cost_nanousd, self.previous_nanousd)),
        }


@dataclass(frozen=True, slots=True)
class SloRow:
    name: str
    objective: float
    sli: float | None
    previous_sli: float | None
    budget_remaining: float
    firing: str | None


@dataclass(frozen=True, slots=True)
class PromptShipped:
    """A prompt version that had calls this week and none the week before."""

    version: str
    calls: int
    cost_nanousd: int

    @property
    def cost_per_call_nanousd(self) -> int:
        return self.cost_nanousd // self.calls


@dataclass(frozen=True, slots=True)
class LabelMove:
    at: float
    prompt: str
    label: str
    before: int | None
    after: int | None


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    at: float
    action: str
    rollout: str
    target: str
    candidate: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    start: datetime
    end: datetime
    previous_start: datetime
    generated_at: datetime
    ledger: str
    spend: dict[str, SpendReport]
    daily: list[int]
    previous_daily: list[int]
    movers: list[Mover]
    forecast: MonthEnd | None
    budgets: list[BudgetUse]
    opportunities: list[Opportunity]
    reconcile_providers: list[str]
    #: The newest scheduled reconciliation of each provider (finops/reconcile_runs.py).
    reconcile_runs: list[ReconcileRun]
    quality: list[QualityRow]
    slos: list[SloRow]
    incidents: list[Incident]
    alerts: list[AlertSpan]
    previous_alerts_fired: int
    prompt_loads: int
    label_moves: list[LabelMove]
    prompts_shipped: list[PromptShipped]
    rollouts: list[RolloutEvent]
    retirements: list[Finding]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> SpendReport:
        return self.spend["project"]

    @property
    def alerts_fired(self) -> list[AlertSpan]:
        lo = self.start.timestamp()
        return [a for a in self.alerts if a.fired_at >= lo]

    @property
    def alerts_resolved(self) -> list[AlertSpan]:
        return [a for a in self.alerts if a.resolved_at is not None]

    @property
    def decisions(self) -> list[str]:
        """What needs someone to decide, most urgent first: one sentence each."""
        out = []
        for i in self.incidents:
            if i.ended_at is None:
                out.append(f"incident {i.id} ({i.severity}) is still open: {i.title}")
        for b in self.budgets:
            if b.utilisation >= 1:
                out.append(f"budget {b.name} is spent ({b.utilisation:.0%} of its {b.window})")
        for s in self.slos:
            if s.firing:
                out.append(f"SLO {s.name} is burning its error budget ({s.firing})")
        for f in self.retirements:
            if f.status != "deprecated":
                out.append(f.message())
        if self.opportunities and self.opportunities[0].monthly_nanousd:
            o = self.opportunities[0]
            out.append(f"{o.title} ({format_usd(o.monthly_nanousd, 2)}/month): {o.command}")
        return out

    def to_json(self) -> dict[str, Any]:
        t = self.total
        lo = self.start.timestamp()
        return {
            "window": {"start": _iso(self.start), "end": _iso(self.end)},
            "previous_window": {"start": _iso(self.previous_start), "end": _iso(self.start)},
            "generated_at": _iso(self.generated_at),
            "ledger": self.ledger,
            "spend": {
                "total": money(t.totals.cost_nanousd),
                "previous_total": money(t.previous.cost_nanousd),
                "change": money(t.totals.cost_nanousd - t.previous.cost_nanousd),
                "change_pct": _round(t.change_pct),
                "calls": t.totals.calls,
                "previous_calls": t.previous.calls,
                "unpriced_calls": t.totals.unpriced_calls,
                "daily": [money(n) for n in self.daily],
                "previous_daily": [money(n) for n in self.previous_daily],
                **{f"by_{dim}": [g.to_json() for g in r.groups] for dim, r in self.spend.items()},
                "top_movers": [m.to_json() for m in self.movers],
            },
            "forecast": (
                {"available": False, "note": NOT_AVAILABLE}
                if self.forecast is None
                else {
                    "available": True,
                    "total": self.forecast.total.to_json(),
                    "projects": [p.to_json() for p in self.forecast.projects],
                }
            ),
            "budgets": [
                {
                    "name": b.name,
                    "scope": b.scope,
                    "window": b.window,
                    "cap": money(b.cap_nanousd),
                    "spent": money(b.spent_nanousd),
                    "utilisation": _round(b.utilisation),
                    "window_end": _iso(_dt(b.window_end)),
                    "projected_exhaustion": self._exhaustion(b.name),
                }
                for b in self.budgets
            ],
            "opportunities": [o.to_json() for o in self.opportunities],
            "reconciliation": {
                "stored": bool(self.reconcile_runs),
                "providers": self.reconcile_providers,
                "runs": [
                    {**r.evidence(), "gap": r.gap, "error": r.error, "text": r.describe()}
                    for r in self.reconcile_runs
                ],
                "hint": self.reconcile_hint,
            },
            "quality": [r.to_json() for r in self.quality],
            "slos": [
                {
                    "name": s.name,
                    "objective": s.objective,
                    "sli": s.sli,
                    "previous_sli": s.previous_sli,
                    "budget_remaining": _round(s.budget_remaining),
                    "firing": s.firing,
                }
                for s in self.slos
            ],
            "incidents": [
                {
                    "id": i.id,
                    "title": i.title,
                    "severity": i.severity,
                    "status": i.status,
                    "started_at": _iso(_dt(i.started_at)),
                    "ended_at": None if i.ended_at is None else _iso(_dt(i.ended_at)),
                    "duration_s": _duration(i.started_at, i.ended_at),
                }
                for i in self.incidents
            ],
            "alerts": {
                "fired": len(self.alerts_fired),
                "previous_fired": self.previous_alerts_fired,
                "resolved": len(self.alerts_resolved),
                "still_firing": sum(1 for a in self.alerts if a.resolved_at is None),
                "alerts": [
                    {
                        "rule": a.rule,
                        "severity": a.severity,
                        "labels": a.labels,
                        "fired_at": _iso(_dt(a.fired_at)),
                        "resolved_at": None if a.resolved_at is None else _iso(_dt(a.resolved_at)),
                        "duration_s": _duration(max(a.fired_at, lo), a.resolved_at)
                        if a.resolved_at is not None
                        else None,
                    }
                    for a in self.alerts
                ],
            },
            "prompts": {
                "loads": self.prompt_loads,
                "label_moves": [
                    {
                        "at": _iso(_dt(m.at)),
                        "prompt": m.prompt,
                        "label": m.label,
                        "from": m.before,
                        "to": m.after,
                    }
                    for m in self.label_moves
                ],
                "new_versions": [
                    {
                        "version": p.version,
                        "calls": p.calls,
                        "cost": money(p.cost_nanousd),
                        "cost_per_call": money(p.cost_per_call_nanousd),
                    }
                    for p in self.prompts_shipped
                ],
            },
            "rollouts": [
                {
                    "at": _iso(_dt(r.at)),
                    "action": r.action.removeprefix("rollout."),
                    "rollout": r.rollout,
                    "target": r.target,
                    "candidate": r.candidate,
                    "reason": r.reason,
                }
                for r in self.rollouts
            ],
            "retirements": [f.to_json() for f in self.retirements],
            "decisions": self.decisions,
            "notes": self.notes,
        }

    @property
    def reconcile_hint(self) -> str:
        span = f"--from {self.start.date().isoformat()} --to {self.end.date().isoformat()}"
        kinds = self.reconcile_providers or ["openai|anthropic"]
        return "; ".join(f"run daytwo reconcile --provider {k} {span}" for k in kinds)

    def _exhaustion(self, budget: str) -> str | None:
        if self.forecast is None:
            return None
        for e in self.forecast.exhaustion:
            if e.budget == budget and e.at is not None:
                return _iso(e.at)
        return None


def build_weekly(
    store: LedgerStore,
    *,
    start: datetime,
    end: datetime,
    config: Config,
    book: PriceBook,
    now: datetime | None = None,
    forecaster: Forecaster | None = None,
    top: int | None = None,
) -> WeeklyReport:
    """The review of [start, end) against the window of equal length before it. Budgets and
    the forecast are as of ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    top = top or config.finops.weekly.top
    spend = {
        dim: spend_report(store, start=start, end=end, by=dim, limit=top) for dim in BREAKDOWNS
    }
    total = spend["project"]
    lo, hi = int(total.start.timestamp()), int(total.end.timestamp())
    prev = int(total.previous_start.timestamp())
    notes: list[str] = []

    movers = sorted(
        (Mover(dim, g.key, g.cost_nanousd, g.previous_cost_nanousd) for dim, r in spend.items()
         for g in r.drivers),
        key=lambda m: (-abs(m.change_nanousd), m.dim, m.key or ""),
    )[:top]  # fmt: skip

    forecast = None
    if forecaster is not None:
        forecast = forecaster(
            store,
            now=now,
            budgets=config.spend_control.budgets,
            timezone=config.spend_control.timezone,
        )

    agg = read_aggregates(store, lo, hi)
    opportunities = find_opportunities(agg, book, reference_entry(book))[:top]

    slos = []
    for slo in config.slos:
        cur, before = evaluate_slo(store, slo, float(hi)), evaluate_slo(store, slo, float(lo))
        slos.append(
            SloRow(slo.name, slo.objective, cur.sli, before.sli, cur.budget_remaining, cur.severity)
        )

    alerts = alert_spans(store, lo, hi)
    previous_fired = sum(1 for a in alert_spans(store, prev, lo) if a.fired_at >= prev)

    loads = events_between(store, PROMPT_LOADS, lo, hi)
    before_load = last_event_before(store, PROMPT_LOADS, lo)
    moves = _label_moves(
        before_load.after if before_load else None, [(e.at, e.after) for e in loads]
    )
    now_versions = dim_values(store, "prompt_version", lo, hi)
    old_versions = dim_values(store, "prompt_version", prev, lo)
    shipped = sorted(
        (PromptShipped(v, n, c) for v, (n, c) in now_versions.items() if v not in old_versions),
        key=lambda p: p.version,
    )

    rollouts = [
        RolloutEvent(
            e.at,
            e.action,
            e.target,
            str((e.after or {}).get("target", "")),
            (e.after or {}).get("candidate"),
            (e.after or {}).get("reason"),
        )
        for e in events_between(store, ROLLOUT_ACTIONS, lo, hi)
    ]

    runs = latest_runs(store)
    served = dim_values(store, "model", lo, hi)
    uses = configured_models(config) + [
        ModelUse(model=m, where=f"{n:,} calls this week") for m, (n, _) in served.items()
    ]

    return WeeklyReport(
        start=total.start,
        end=total.end,
        previous_start=total.previous_start,
        generated_at=now,
        ledger=store.safe_url,
        spend=spend,
        daily=daily_cost(store, lo, hi),
        previous_daily=daily_cost(store, prev, lo),
        movers=movers,
        forecast=forecast,
        budgets=budget_use(
            store, config.spend_control.budgets, config.spend_control.timezone, now.timestamp()
        ),
        opportunities=opportunities,
        reconcile_providers=sorted({p.kind for p in config.finops.reconcile.providers}),
        reconcile_runs=[runs[k] for k in sorted(runs)],
        quality=list(quality_report(store, float(lo), float(hi)).rows),
        slos=slos,
        incidents=incidents_overlapping(store, lo, hi),
        alerts=alerts,
        previous_alerts_fired=previous_fired,
        prompt_loads=len(loads),
        label_moves=moves,
        prompts_shipped=shipped,
        rollouts=rollouts,
        retirements=check(uses, now.date()),
        notes=notes,
    )


def _label_moves(
    before: dict[str, Any] | None, loads: Sequence[tuple[float, dict[str, Any] | None]]
) -> list[LabelMove]:
    """Labels whose version changed from one prompt load to the next (``before``: the last load
    before the window, None when there was none: then every label of the first load moved)."""
    out = []
    have: dict[str, dict[str, int]] = dict((before or {}).get("labels") or {})
    for at, after in loads:
        labels: dict[str, dict[str, int]] = (after or {}).get("labels") or {}
        for prompt in sorted(set(have) | set(labels)):
            old, new = have.get(prompt) or {}, labels.get(prompt) or {}
            for label in sorted(set(old) | set(new)):
                if old.get(label) != new.get(label):
                    out.append(LabelMove(at, prompt, label, old.get(label), new.get(label)))
        have = labels
    return out


def _duration(start: float, end: float | None) -> float | None:
    return None if end is None else round(end - start, 3)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
