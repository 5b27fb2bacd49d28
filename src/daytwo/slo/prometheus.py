"""Prometheus rules for SLOs: recording rules for each SLO's error ratio, event count and
burn rate per window and its error budget left, and the multiwindow burn-rate alerts of its
policy -- for the SLIs Prometheus can compute from daytwo's metrics (``daytwo slo rules``).

* ``availability``: ``daytwo_requests_total``; bad: ``status="error"`` (a call that failed:
  upstream errors, timeouts -- close to the ledger's 5xx), events: every status but
  ``cancelled``;
* ``latency`` / ``ttft``: the duration / time-to-first-token histograms; good: the bucket at
  the objective's bound (the largest bucket boundary at or below ``le_ms``: the rule is then
  as strict or stricter, and says so);
* quality SLIs: ``daytwo_quality_checks_total{evaluator, result}`` (``result="fail"`` bad),
  the evaluators' counter -- it has no project/workflow labels, so scoped quality SLOs are
  left to daytwo's own evaluation.

``prompt`` scopes have no metric label: such SLOs are skipped with a reason. Sampling
awareness becomes ``min_events`` only (each alert needs that many events in both windows);
the Wilson bound is daytwo's own evaluator's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from daytwo.config.incidents import default_runbook, runbook_link
from daytwo.config.slos import LatencySli, ScoreSli, SloConfig
from daytwo.slo.policy import policy_for
from daytwo.slo.status import label
from daytwo.telemetry.metrics import DURATION_BUCKETS, TTFT_BUCKETS

QUALITY_METRIC = "daytwo_quality_checks_total"
#: SLO scope field → metric label (``prompt`` has none).
SCOPE_LABELS = {"project": "project", "workflow": "workflow", "alias": "model"}
#: SLO alert severity → the alert's ``severity`` label (as daytwo-rules.yml uses them).
SEVERITY = {"page": "critical", "ticket": "warning"}


@dataclass
class RuleSet:
    """The generated ``groups`` and the SLOs left out (name, reason)."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"groups": self.groups}


@dataclass(frozen=True, slots=True)
class _Sli:
    """PromQL over a range ``[W]``: the bad-event rate and the event rate."""

    bad: str
    total: str


def build_rules(slos: tuple[SloConfig, ...], runbook_base_url: str | None = None) -> RuleSet:
    """Rules for every SLO Prometheus can compute. Each alert's ``runbook_url``: the SLO's
    runbook, else its SLI type's (:func:`daytwo.config.incidents.runbook_link`, with
    ``incidents.runbook_base_url``)."""
    out = RuleSet()
    for slo in slos:
        sli, why = _sli(slo, out)
        if sli is None:
            out.skipped.append((slo.name, why))
            continue
        out.groups.append(_group(slo, sli, runbook_base_url))
    return out


def _selector(metric: str, matchers: dict[str, str], extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in matchers.items()]
    if extra:
        parts.append(extra)
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def _sli(slo: SloConfig, out: RuleSet) -> tuple[_Sli | None, str]:
    scope = slo.scope.fields()
    if "prompt" in scope:
        return None, "a prompt scope has no metric label"
    labels = {SCOPE_LABELS[k]: v for k, v in scope.items()}
    sli = slo.sli
    if isinstance(sli, ScoreSli):
        if scope:
            return None, f"{QUALITY_METRIC} has no project/workflow/model labels"
        match = {"evaluator": sli.evaluator}
        bad = f"sum(rate({_selector(QUALITY_METRIC, {**match, 'result': 'fail'})}[W]))"
        return _Sli(bad, f"sum(rate({_selector(QUALITY_METRIC, match)}[W]))"), ""
    if isinstance(sli, LatencySli):
        metric, buckets = (
            ("gen_ai_client_operation_duration_seconds", DURATION_BUCKETS)
            if sli.type == "latency"
            else ("gen_ai_server_time_to_first_token_seconds", TTFT_BUCKETS)
        )
        bound = sli.le_ms / 1000
        below = [b for b in buckets if b <= bound + 1e-12]
        if not below:
            return None, f"no {metric} bucket at or below {sli.le_ms:g} ms"
        le = float(max(below))
        if abs(le - bound) > 1e-12:
            out.notes.append((slo.name, f"{sli.le_ms:g} ms is not a bucket bound: uses {le:g} s"))
        count = f"sum(rate({_selector(metric + '_count', labels)}[W]))"
        good = f"sum(rate({_selector(metric + '_bucket', {**labels, 'le': repr(le)})}[W]))"
        return _Sli(f"({count} - {good})", count), ""
    bad = f"sum(rate({_selector('daytwo_requests_total', {**labels, 'status': 'error'})}[W]))"
    total = 'status!="cancelled"'
    return _Sli(bad, f"sum(rate({_selector('daytwo_requests_total', labels, total)}[W]))"), ""


def _group(slo: SloConfig, sli: _Sli, base_url: str | None) -> dict[str, Any]:
    policy = policy_for(slo)
    windows = sorted({*policy.windows, slo.period})
    budget = 1.0 - slo.objective
    tag = {"slo": slo.name}
    sel = f'{{slo="{slo.name}"}}'
    rules: list[dict[str, Any]] = []
    for w in windows:
        span = label(w)
        rules.append(
            {
                "record": f"daytwo:slo_error_ratio:rate{span}",
                "expr": f"{_at(sli.bad, w)} / {_at(sli.total, w)}",
                "labels": tag,
            }
        )
        rules.append(
            {
                "record": f"daytwo:slo_events:increase{span}",
                "expr": _at(sli.total, w).replace("sum(rate(", "sum(increase("),
                "labels": tag,
            }
        )
        rules.append(
            {
                "record": f"daytwo:slo_burn_rate:rate{span}",
                "expr": f"daytwo:slo_error_ratio:rate{span}{sel} / {budget:.6g}",
                "labels": tag,
            }
        )
    period = label(slo.period)
    rules.append(
        {
            "record": "daytwo:slo_error_budget_remaining:ratio",
            "expr": f"1 - daytwo:slo_error_ratio:rate{period}{sel} / {budget:.6g}",
            "labels": {**tag, "objective": f"{slo.objective:g}", "window": period},
        }
    )
    for alert in policy.alerts:
        rules.append(
            _alert(slo, alert.severity, alert.burn_rate, alert.long_window, alert.short_window)
        )
    runbook = slo.runbook or default_runbook("slo_burn", slo.sli.type)
    if runbook is not None:
        for rule in rules:
            if "alert" in rule:
                rule["annotations"]["runbook_url"] = runbook_link(runbook, base_url)
    return {"name": f"daytwo-slo-{slo.name}", "rules": rules}


def _at(expr: str, window: timedelta) -> str:
    return expr.replace("[W]", f"[{label(window)}]")


def _alert(
    slo: SloConfig, severity: str, rate: float, long: timedelta, short: timedelta
) -> dict[str, Any]:
    budget = 1.0 - slo.objective
    sel = f'{{slo="{slo.name}"}}'
    conds = []
    for w in (long, short):
        cond = f"daytwo:slo_error_ratio:rate{label(w)}{sel} > ({rate:.6g} * {budget:.6g})"
        if slo.least_events > 1:
            cond = f"({cond} and daytwo:slo_events:increase{label(w)}{sel} >= {slo.least_events})"
        conds.append(cond)
    annotations = {
        "summary": (
            f"SLO {slo.name} burns its error budget faster than {rate:.3g}x "
            f"over {label(long)} and {label(short)}"
        ),
        "description": (
            f"{slo.name} ({slo.objective:g} over {slo.window}): at this rate "
            f"{rate * long / slo.period:.0%} of the budget is spent within {label(long)}."
        ),
    }
    return {
        "alert": "DaytwoSloBurnRate" + severity.capitalize(),
        "expr": f"{conds[0]}\nand\n{conds[1]}",
        "labels": {
            "slo": slo.name,
            "severity": SEVERITY[severity],
            "long_window": label(long),
            "short_window": label(short),
        },
        "annotations": annotations,
    }


def dump_rules(rules: RuleSet, source: str) -> str:
    """The rules file: a header naming its source and what was left out, then the groups."""
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    head = [
        f"# Generated by `daytwo slo rules` from {source}: SLO recording rules and",
        "# multiwindow burn-rate alerts (docs/slos.md). Load with `rule_files: [...]`.",
    ]
    head += [f"# skipped {name}: {why}" for name, why in rules.skipped]
    head += [f"# note {name}: {what}" for name, what in rules.notes]
    body = yaml.dump(rules.to_json(), Dumper=_NoAliases, sort_keys=False, width=1000)
    return "\n".join(head) + "\n" + body
