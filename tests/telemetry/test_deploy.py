"""The files operators deploy next to daytwo: the Prometheus alerting rules (checked and unit
tested with the real ``promtool``), the Grafana dashboard (validated against the dashboard JSON
model), and both checked against the metric names a real gateway exposes at ``/metrics`` --
plus ``docs/observability.md`` listing every one of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.gateway.harness import http, running_gateway, sim_config

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "daytwo-rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "tests" / "daytwo-rules-test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "daytwo.json"
DOC = ROOT / "docs" / "observability.md"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

#: The parts of Grafana's dashboard JSON model a provisioned or imported dashboard needs
#: (https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/).
DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${DS_PROMETHEUS}"}},
}
GRID_POS = {
    "type": "object",
    "required": ["x", "y", "w", "h"],
    "properties": {
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "h": {"type": "integer", "minimum": 1},
    },
}
TARGET = {
    "type": "object",
    "required": ["refId", "expr"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "legendFormat": {"type": "string"},
        "datasource": DATASOURCE,
    },
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {
            "enum": ["row", "timeseries", "stat", "gauge", "bargauge", "state-timeline", "table"]
        },
        "title": {"type": "string", "minLength": 1},
        "gridPos": GRID_POS,
        "datasource": DATASOURCE,
        "targets": {"type": "array", "items": TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {"defaults": {"type": "object"}, "overrides": {"type": "array"}},
        },
        "options": {"type": "object"},
    },
    "if": {"properties": {"type": {"const": "row"}}},
    "then": {"required": ["collapsed", "panels"]},
    "else": {
        "required": ["datasource", "targets", "fieldConfig"],
        "properties": {"targets": {"minItems": 1}},
    },
}
VARIABLE = {
    "type": "object",
    "required": ["name", "type", "datasource", "query", "multi", "includeAll"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z_]+$"},
        "type": {"const": "query"},
        "datasource": DATASOURCE,
        "query": {
            "type": "object",
            "required": ["query"],
            "properties": {"query": {"type": "string", "pattern": r"^label_values\(.+\)$"}},
        },
    },
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "__inputs",
        "title",
        "uid",
        "schemaVersion",
        "panels",
        "templating",
        "time",
        "editable",
        "annotations",
    ],
    "properties": {
        "__inputs": {
            "type": "array",
            "contains": {
                "type": "object",
                "required": ["name", "type", "pluginId"],
                "properties": {
                    "name": {"const": "DS_PROMETHEUS"},
                    "type": {"const": "datasource"},
                    "pluginId": {"const": "prometheus"},
                },
            },
        },
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "id": {"type": "null"},
        "schemaVersion": {"type": "integer", "minimum": 36, "maximum": 41},
        "panels": {"type": "array", "minItems": 1, "items": PANEL},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": VARIABLE}},
        },
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "refresh": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "editable": {"type": "boolean"},
        "annotations": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array"}},
        },
    },
}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# -- PromQL: the metric names an expression reads --------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana variables allowed): what is left
    once strings, label matchers, ranges, groupings, functions and keywords are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[m.end() :].lstrip().startswith("(") or m.group().lower() in _KEYWORDS:
            continue  # a function or an aggregation
        names.add(m.group())
    return names


def test_metric_names_finds_the_selected_metrics_only() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (model, le) (rate(x_bucket{a=~"$v",b!="c d"}'
        "[$__rate_interval]))) / ignoring(le) y_total offset 1h > 1e9 and on (z) w"
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "w"}


# -- what a real gateway exposes ------------------------------------------------------------


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every sample name a real gateway exposes after a call → the label names seen on it. A
    family with no sample yet (nothing refused so far, say) still has its names from its type."""
    with running_gateway(sim_config(tmp_path_factory.mktemp("gw"))) as gw:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        assert http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))[0] == 200
        status, _, text = http("GET", f"{gw.url}/metrics")
        assert status == 200
    names: dict[str, set[str]] = {}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    for family in text_string_to_metric_families(text.decode()):
        for suffix in suffixes.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def dashboard() -> dict[str, Any]:
    out: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return out


def dashboard_exprs(dash: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target, and the series selector of every template
    variable's ``label_values(selector, label)``."""
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for var in dash["templating"]["list"]:
        selector, _ = label_values(var["query"]["query"])
        yield f"variable {var['name']}", selector


def label_values(query: str) -> tuple[str, str]:
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert m is not None, query
    return m.group(1), m.group(2)


def rule_exprs() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]


# -- Prometheus rules -----------------------------------------------------------------------


def test_the_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 13 rules found" in done.stdout


def test_the_rules_unit_tests_fire_and_hold_back_the_alerts() -> None:
    done = promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = yaml.safe_load(RULES_TEST.read_text())["tests"][0]["alert_rule_test"]
    fired = {c["alertname"] for c in cases if c["exp_alerts"]}
    held = {c["alertname"] for c in cases if not c["exp_alerts"]} - fired
    assert len(fired) >= 3 and len(held) >= 1, (fired, held)


def test_a_broken_expectation_fails_the_rules_unit_tests(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES, tmp_path / RULES.name)
    broken = RULES_TEST.read_text().replace("LLM spend is 120.00 USD", "LLM spend is 99.00 USD")
    (tmp_path / "tests" / RULES_TEST.name).write_text(broken)
    done = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path / "tests")
    assert done.returncode != 0
    assert "DaytwoSpendPerHourHigh" in done.stdout + done.stderr


def test_every_rule_has_a_severity_and_says_what_happened() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("Daytwo"), rule
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule


def test_the_rules_read_only_metrics_the_gateway_exposes(exposed: dict[str, set[str]]) -> None:
    for alert, expr in rule_exprs():
        names = metric_names(expr)
        assert names, alert
        assert names <= exposed.keys(), (alert, names - exposed.keys())


# -- the Grafana dashboard ------------------------------------------------------------------


def test_the_dashboard_follows_the_dashboard_model() -> None:
    dash = dashboard()
    jsonschema.validate(dash, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
    assert [v["name"] for v in dash["templating"]["list"]] == ["project", "workflow", "model"]


def test_the_schema_refuses_a_broken_dashboard() -> None:
    dash = dashboard()
    panel = next(p for p in dash["panels"] if p["type"] == "timeseries")
    del panel["targets"][0]["expr"]
    with pytest.raises(jsonschema.ValidationError, match="'expr' is a required property"):
        jsonschema.validate(dash, DASHBOARD_SCHEMA)


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    exprs = " ".join(e for _, e in dashboard_exprs(dashboard()))
    for needed in (
        "daytwo_cost_usd_total",
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "daytwo_errors_total",
        "daytwo_budget_utilization_ratio",
        "daytwo_breaker_state",
        "daytwo_cache_hits_total",
        "daytwo_retries_total",
        "daytwo_fallbacks_total",
    ):
        assert needed in exprs, needed
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (model, le) (rate(gen_ai_client_op" in exprs
    for by in ("project", "workflow", "model"):
        assert f"sum by ({by}) (rate(daytwo_cost_usd_total" in exprs


def test_the_dashboard_reads_only_metrics_the_gateway_exposes(
    exposed: dict[str, set[str]],
) -> None:
    dash = dashboard()
    for where, expr in dashboard_exprs(dash):
        names = metric_names(expr)
        assert names, where
        assert names <= exposed.keys(), (where, names - exposed.keys())
    for var in dash["templating"]["list"]:
        selector, label = label_values(var["query"]["query"])
        assert label == var["name"]
        assert label in exposed[selector], (selector, label)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule), with Grafana's variables filled in."""
    fill = {"$__rate_interval": "5m", "$__range": "6h", "$project": ".*", "$workflow": ".*"}
    fill["$model"] = ".*"
    rules = []
    for n, (_, expr) in enumerate(dashboard_exprs(dashboard())):
        for var, val in fill.items():
            expr = expr.replace(var, val)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# -- the documentation ----------------------------------------------------------------------


def test_the_docs_list_every_metric_the_gateway_exposes(exposed: dict[str, set[str]]) -> None:
    doc = DOC.read_text()
    ours = {n for n in exposed if n.startswith(("daytwo_", "gen_ai_"))}
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in ours}
    missing = sorted(f for f in families if f"`{f}`" not in doc)
    assert not missing, missing
