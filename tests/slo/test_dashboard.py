"""The SLO dashboard (deploy/grafana/daytwo-slos.json): it follows Grafana's dashboard model
(the schema the gateway dashboard is checked with), every query is valid PromQL (promtool),
and it reads only the series ``daytwo slo rules`` records and the SLO alerts it defines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import yaml
from tests.telemetry.test_deploy import (
    DASHBOARD_SCHEMA,
    ROOT,
    dashboard_exprs,
    label_values,
    metric_names,
    promtool,
)

from daytwo.config.slos import SloConfig
from daytwo.slo.prometheus import build_rules

DASHBOARD = ROOT / "deploy" / "grafana" / "daytwo-slos.json"


def dashboard() -> dict[str, Any]:
    out: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return out


def recorded() -> set[str]:
    """The series the generated rules record (for an SLO of each kind) plus ALERTS."""
    slos = tuple(
        SloConfig.model_validate({"name": n, "sli": sli, "objective": 0.99})
        for n, sli in (("a", "availability"), ("j", "judge:x"))
    )
    rules = build_rules(slos).groups
    return {r["record"] for g in rules for r in g["rules"] if "record" in r} | {"ALERTS"}


def test_the_dashboard_follows_the_dashboard_model() -> None:
    dash = dashboard()
    jsonschema.validate(dash, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["uid"] == "daytwo-slos"


def test_the_dashboard_shows_budget_and_burn_rates() -> None:
    exprs = " ".join(e for _, e in dashboard_exprs(dashboard()))
    for needed in (
        "daytwo:slo_error_budget_remaining:ratio",
        "daytwo:slo_burn_rate:rate1h",
        "daytwo:slo_burn_rate:rate5m",
        "daytwo:slo_burn_rate:rate6h",
        "daytwo:slo_burn_rate:rate3d",
        "DaytwoSloBurnRate",
    ):
        assert needed in exprs, needed


def test_the_dashboard_reads_only_what_the_rules_record() -> None:
    known = recorded()
    dash = dashboard()
    for where, expr in dashboard_exprs(dash):
        names = metric_names(expr)
        assert names and names <= known, (where, names - known)
    for var in dash["templating"]["list"]:
        selector, label = label_values(var["query"]["query"])
        assert label == var["name"] and selector in known


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    rules = []
    for i, (_, expr) in enumerate(dashboard_exprs(dashboard())):
        for var, value in {"$slo": ".*", "$__rate_interval": "5m", "$__range": "6h"}.items():
            expr = expr.replace(var, value)
        rules.append({"record": f"check:q{i}", "expr": expr})
    path = tmp_path / "q.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
