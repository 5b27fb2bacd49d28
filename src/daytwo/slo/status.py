"""What an SLO stands at: its SLI over the period, the error budget left (budgeting by
occurrences), the burn rate of every window, how long the budget lasts at the current hour's
burn, and which burn-rate alerts fire -- all from :mod:`daytwo.stats.burn`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from daytwo.config.slos import SloConfig
from daytwo.ledger.store import LedgerStore
from daytwo.slo.policy import EXHAUSTION_WINDOW, policy_for, windows_for
from daytwo.slo.sli import Counts, count_events
from daytwo.stats.burn import (
    BurnEvaluation,
    BurnPolicy,
    budget_remaining,
    burn_rate,
    evaluate_burn,
    time_to_exhaustion,
)


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo: SloConfig
    policy: BurnPolicy
    counts: Counts
    evaluation: BurnEvaluation
    at: float

    @property
    def period_counts(self) -> tuple[int, int]:
        return self.counts[self.slo.period]

    @property
    def sli(self) -> float | None:
        """Good events / events over the period (None without events)."""
        bad, total = self.period_counts
        return None if total == 0 else (total - bad) / total

    @property
    def budget_remaining(self) -> float:
        """The share of the period's budget left: 1 untouched, 0 spent, below 0 overspent."""
        bad, total = self.period_counts
        return budget_remaining(bad, total, self.slo.objective)

    def burn_rate(self, window: timedelta) -> float:
        """The window's burn rate (the point estimate)."""
        bad, total = self.counts[window]
        return burn_rate(bad, total, self.slo.objective)

    @property
    def exhaustion(self) -> timedelta | None:
        """How long the budget left lasts at the last hour's burn (None: nothing burns)."""
        rate = self.burn_rate(EXHAUSTION_WINDOW)
        return time_to_exhaustion(max(self.budget_remaining, 0.0), rate, self.slo.period)

    @property
    def severity(self) -> str | None:
        """``page`` / ``ticket`` when an alert of that severity fires, else None."""
        return self.evaluation.severity

    def to_json(self) -> dict[str, Any]:
        """What ``slo status --json`` and ``GET /admin/slos`` answer for one SLO."""
        slo = self.slo
        bad, total = self.period_counts
        left = self.exhaustion
        return {
            "name": slo.name,
            "sli": slo.sli.model_dump(),
            "objective": slo.objective,
            "window": slo.window,
            "scope": slo.scope.fields(),
            "events": total,
            "bad_events": bad,
            "sli_value": self.sli,
            "budget_remaining": self.budget_remaining,
            "burn_rates": {label(w): self.burn_rate(w) for w in self.policy.windows},
            "exhaustion_s": None if left is None else left.total_seconds(),
            "alerts": [
                {
                    "severity": c.alert.severity,
                    "burn_rate": c.alert.burn_rate,
                    "long": label(c.alert.long_window),
                    "short": label(c.alert.short_window),
                    "firing": c.firing,
                }
                for c in self.evaluation.checks
            ],
            "firing": self.severity,
            "min_events": slo.least_events,
            "sampling_aware": slo.sampled,
            "runbook": slo.runbook,
        }


def evaluate_slo(store: LedgerStore, slo: SloConfig, now: float) -> SloStatus:
    """Count ``slo``'s events (one query) and evaluate its burn-rate policy at ``now``."""
    policy = policy_for(slo)
    counts = count_events(store, slo, windows_for(slo, policy), now)
    return status_from_counts(slo, policy, counts, now)


def status_from_counts(slo: SloConfig, policy: BurnPolicy, counts: Counts, now: float) -> SloStatus:
    evaluation = evaluate_burn(
        counts, slo.objective, policy, min_events=slo.least_events, sampling_aware=slo.sampled
    )
    return SloStatus(slo, policy, counts, evaluation, now)


def label(window: timedelta) -> str:
    """5m, 1h, 3d, 28d: the way windows are written in config and rules."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
