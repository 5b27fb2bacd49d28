"""SLO burn-rate alerts in the alert engine: each SLO gives one alert per severity of its
policy (``slo:<name>:page``, ``slo:<name>:ticket``), evaluated by the lease holder every
interval from one :func:`daytwo.slo.status.evaluate_slo` per SLO, and moved through the same
state machine, history and sinks as the rules. An alert of a severity holds while any of the
policy's alerts of that severity fires (long and short window above the threshold, with enough
events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daytwo.config.alerts import AlertRule, AlertScope
from daytwo.config.alerts import Severity as AlertSeverity
from daytwo.config.incidents import default_runbook
from daytwo.config.slos import SloConfig
from daytwo.slo.policy import policy_for
from daytwo.slo.status import SloStatus, label
from daytwo.stats.burn import Severity

#: SLO alert severity → the alert's severity in notifications.
SEVERITY: dict[Severity, AlertSeverity] = {"page": "critical", "ticket": "warning"}


@dataclass(frozen=True, slots=True)
class SloAlert:
    """One derived alert rule and what it watches."""

    rule: AlertRule
    slo: SloConfig
    severity: Severity


def slo_alerts(slos: tuple[SloConfig, ...]) -> dict[str, SloAlert]:
    """Rule name → the derived rule, for every SLO and severity its policy has."""
    out: dict[str, SloAlert] = {}
    for slo in slos:
        policy = policy_for(slo)
        severities: tuple[Severity, ...] = ("page", "ticket")
        for severity in severities:
            mine = [a for a in policy.alerts if a.severity == severity]
            if not mine:
                continue
            name = f"slo:{slo.name}:{severity}"
            # Built, not validated: a user cannot write kind slo_burn (the SLO was validated).
            rule = AlertRule.model_construct(
                name=name,
                kind="slo_burn",
                threshold=min(a.burn_rate for a in mine),
                window=None,
                for_=0.0,
                severity=SEVERITY[severity],
                labels={"slo": slo.name, **slo.scope.fields()},
                scope=AlertScope(),
                by=None,
                budget=None,
                min_calls=None,
                sinks=slo.sinks,
                cooldown=0.0,
                action=None,
                runbook=slo.runbook or default_runbook("slo_burn", slo.sli.type),
            )
            out[name] = SloAlert(rule, slo, severity)
    return out


def judge_slo(watch: SloAlert, status: SloStatus) -> tuple[bool, float, dict[str, Any]]:
    """Whether the alert holds, its value (the burn rate of the long window of the first
    alert of its severity that fires, else of the first of its severity) and the detail the
    notification carries."""
    checks = [c for c in status.evaluation.checks if c.alert.severity == watch.severity]
    firing = [c for c in checks if c.firing]
    shown = (firing or checks)[0]
    bad, total = status.period_counts
    detail: dict[str, Any] = {
        "slo": watch.slo.name,
        "objective": watch.slo.objective,
        "sli": status.sli,
        "events": total,
        "bad_events": bad,
        "budget_remaining": status.budget_remaining,
        "long_window": label(shown.alert.long_window),
        "short_window": label(shown.alert.short_window),
        "burn_threshold": shown.alert.burn_rate,
        "burn_rates": {label(w): status.burn_rate(w) for w in status.policy.windows},
        "runbook": watch.slo.runbook,
    }
    return bool(firing), shown.long.burn_rate, detail
