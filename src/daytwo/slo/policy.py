"""An SLO's burn-rate policy: the workbook's (:func:`daytwo.stats.burn.workbook_policy`,
scaled to the SLO's period) unless the SLO lists its own alerts, and every window its status
needs counts for."""

from __future__ import annotations

from datetime import timedelta

from daytwo.config.slos import BurnAlertSpec, SloConfig
from daytwo.stats.burn import BurnAlert, BurnPolicy, workbook_policy

#: The window whose burn rate says how long the budget lasts (``slo status``).
EXHAUSTION_WINDOW = timedelta(hours=1)


def policy_for(slo: SloConfig) -> BurnPolicy:
    """The alerts evaluated on ``slo``, most urgent first."""
    if slo.alerting is None:
        return workbook_policy(slo.period)
    return BurnPolicy(alerts=tuple(_alert(spec, slo.period) for spec in slo.alerting))


def _alert(spec: BurnAlertSpec, period: timedelta) -> BurnAlert:
    if spec.budget is not None:
        return BurnAlert.from_budget(spec.severity, spec.budget, spec.long, spec.short, period)
    assert spec.burn_rate is not None
    return BurnAlert(spec.severity, spec.burn_rate, spec.long, spec.short)


def windows_for(slo: SloConfig, policy: BurnPolicy) -> tuple[timedelta, ...]:
    """The policy's windows, the exhaustion window and the SLO's period, shortest first."""
    return tuple(sorted({*policy.windows, EXHAUSTION_WINDOW, slo.period}))
