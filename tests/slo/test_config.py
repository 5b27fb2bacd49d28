"""The ``slos`` section: shorthands, defaults, and errors that name the key path; the derived
``slo_burn`` alerts and what their notifications carry to each sink."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from daytwo.alerts.notify import Notification, email_message, pagerduty_body, slack_body
from daytwo.alerts.slo_burn import slo_alerts
from daytwo.config.load import load_config
from daytwo.config.schema import Config
from daytwo.core.errors import ConfigError
from daytwo.slo.policy import policy_for, windows_for

HOOK = {"type": "webhook", "url": "https://hooks.example.com/x"}


def problems(tmp_path: Path, section: dict[str, Any]) -> list[str]:
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(section))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return list(info.value.problems)


def test_shorthands_and_defaults() -> None:
    cfg = Config.model_validate(
        {
            "slos": [
                {"name": "a", "sli": "availability", "objective": 0.99},
                {"name": "j", "sli": "judge:helpful", "objective": 0.9, "window": "28d"},
                {"name": "f", "sli": "feedback:thumbs", "objective": 0.8, "sampling_aware": False},
            ]
        }
    )
    a, j, f = cfg.slos
    assert (a.sampled, a.least_events, a.period) == (False, 1, timedelta(days=30))
    assert (j.sampled, j.least_events, j.period) == (True, 30, timedelta(days=28))
    assert j.sli.model_dump() == {
        "type": "judge",
        "rubric": "helpful",
        "kind": None,
        "threshold": 0.5,
    }
    assert (f.sampled, f.least_events) == (False, 1)
    # the workbook policy, scaled to 28 days: 13.44, 5.6, 0.933
    rates = [round(x.burn_rate, 3) for x in policy_for(j).alerts]
    assert rates == [13.44, 5.6, 0.933]
    assert windows_for(j, policy_for(j))[-1] == timedelta(days=28)


@pytest.mark.parametrize(
    ("slo", "where", "what"),
    [
        ({"sli": "judge"}, "slos.0.sli", "is not an SLI"),
        ({"sli": {"type": "latency"}}, "slos.0.sli.latency.le_ms", "required key is missing"),
        ({"objective": 1}, "slos.0.objective", "less than 1"),
        ({"window": "7d"}, "slos.0.window", "'28d' or '30d'"),
        ({"scope": {"team": "x"}}, "slos.0.scope.team", "unknown key"),
        ({"runbook": "not a url"}, "slos.0.runbook", "pattern"),
        (
            {"alerting": [{"severity": "page", "long": "1h", "short": "5m"}]},
            "slos.0.alerting.0",
            "either budget",
        ),
        (
            {"alerting": [{"severity": "page", "long": "1x", "short": "5m", "budget": 0.1}]},
            "slos.0.alerting.0.long",
            "not a duration",
        ),
        ({"sinks": ["nope"]}, "slos.0.sinks", "unknown alert sink `nope` (known: hook)"),
        ({"scope": {"alias": "nope"}}, "slos.0.scope.alias", "unknown model alias"),
    ],
)
def test_errors_name_the_key_path(
    tmp_path: Path, slo: dict[str, Any], where: str, what: str
) -> None:
    section = {
        "alerts": {"sinks": {"hook": HOOK}},
        "slos": [{"name": "s", "sli": "availability", "objective": 0.9, **slo}],
    }
    found = problems(tmp_path, section)
    assert any(where in p and what in p for p in found), found


def test_repeated_names_and_slo_burn_rules_are_refused(tmp_path: Path) -> None:
    twice = {"name": "s", "sli": "availability", "objective": 0.9}
    assert any("`s` is used twice" in p for p in problems(tmp_path, {"slos": [twice, twice]}))
    rule = {"name": "r", "kind": "slo_burn", "sinks": ["hook"]}
    found = problems(tmp_path, {"alerts": {"sinks": {"hook": HOOK}, "rules": [rule]}})
    assert any("alerts.rules.0" in p and "declare it under `slos:`" in p for p in found), found


def test_derived_alerts_and_their_notifications_carry_the_runbook() -> None:
    cfg = Config.model_validate(
        {
            "alerts": {"sinks": {"hook": HOOK}},
            "slos": [
                {
                    "name": "shop",
                    "sli": "availability",
                    "objective": 0.99,
                    "scope": {"project": "shop"},
                    "runbook": "https://rb.example.com/shop",
                    "sinks": ["hook"],
                }
            ],
        }
    )
    derived = slo_alerts(cfg.slos)
    assert sorted(derived) == ["slo:shop:page", "slo:shop:ticket"]
    page = derived["slo:shop:page"].rule
    assert (page.severity, page.limit, page.sinks) == ("critical", 6.0, ("hook",))
    assert page.labels == {"slo": "shop", "project": "shop"}
    n = Notification(
        status="firing", rule=page.name, kind="slo_burn", severity="critical",
        labels=page.labels, value=62.5, threshold=14.4, unit="burn", started_at=1.0, at=1.0,
        fingerprint="f", runbook="https://rb.example.com/shop",
    )  # fmt: skip
    assert n.summary == (
        "slo:shop:page (project=shop, slo=shop): error budget burn rate 62.5x above 14.4x; "
        "runbook: https://rb.example.com/shop"
    )
    assert n.to_json()["runbook"] == "https://rb.example.com/shop"
    assert pagerduty_body(n, "k")["links"] == [
        {"href": "https://rb.example.com/shop", "text": "runbook"}
    ]
    assert "runbook: https://rb.example.com/shop" in slack_body(n)["text"]
    assert (
        "runbook:   https://rb.example.com/shop"
        in email_message(n, "a@b.c", ("d@e.f",)).get_content()
    )
